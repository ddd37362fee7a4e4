#!/usr/bin/env bash
# Stop the kube-router of scripts/k8s/netpol-up.sh and remove everything it added to the machine:
# the KUBE-ROUTER-*, KUBE-NWPLCY-* and KUBE-POD-FW-* chains of the filter table (IPv4 and IPv6),
# the jumps to them, its ipsets (KUBE-SRC-*, KUBE-DST-*, their inet6: twins, and TMP-* left by an
# interrupted restore), then check that none remain. kube-router's own --cleanup-config is not
# used: it also runs the router's and the service proxy's cleanups. Run by down.sh before the node
# stops; idempotent.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

RUN="$CLUSTER_DIR/run"
t0=$(now_ms)

pid="$(pidfile_pid "$RUN/kube-router.pid" "$CLUSTER_DIR")"
[[ -n "$pid" ]] && stop_pids 10 "kube-router=$pid"
rm -f "$RUN/kube-router.pid"
# a kube-router of this state dir that lost its pid file
for p in $(pids_using_dir "$CLUSTER_DIR"); do
  [[ "$(readlink "/proc/$p/exe" 2>/dev/null)" == */kube-router ]] && stop_pids 10 "stray-kube-router=$p"
done

CHAIN_RE='^(KUBE-ROUTER-|KUBE-NWPLCY-|KUBE-POD-FW-)'
SET_RE='^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-)'

chains_of() { "$1" -w 5 -t filter -S 2>/dev/null | awk -v re="$CHAIN_RE" '$1 == "-N" && $2 ~ re { print $2 }'; }

remove_chains() {
  local ipt="$1" c rule
  local -a chains
  mapfile -t chains < <(chains_of "$ipt")
  ((${#chains[@]} == 0)) && return 0
  # the jumps to them from the other chains (INPUT, FORWARD, OUTPUT); the jumps between them go
  # with the flush. Their rules as -S prints them (with the quoted comment kube-router puts on
  # them), turned into deletes.
  { "$ipt" -w 5 -t filter -S 2>/dev/null |
    awk -v re="$CHAIN_RE" '$1 == "-A" && $2 !~ re && / -j (KUBE-ROUTER-|KUBE-NWPLCY-|KUBE-POD-FW-)/' || true; } |
    while read -r rule; do
      eval "$ipt -w 5 -t filter ${rule/-A /-D }" 2>/dev/null || true
    done
  for c in "${chains[@]}"; do "$ipt" -w 5 -t filter -F "$c" 2>/dev/null || true; done
  for c in "${chains[@]}"; do "$ipt" -w 5 -t filter -X "$c" 2>/dev/null || true; done
  log "removed ${#chains[@]} kube-router chain(s) ($ipt)"
}

remove_chains iptables
command -v ip6tables >/dev/null && remove_chains ip6tables

if command -v ipset >/dev/null; then
  mapfile -t sets < <(ipset list -n 2>/dev/null | grep -E "$SET_RE" || true)
  for s in "${sets[@]}"; do ipset destroy "$s" 2>/dev/null || true; done
  ((${#sets[@]} == 0)) || log "destroyed ${#sets[@]} kube-router ipset(s)"
fi

# nothing may remain
left="$(chains_of iptables || true)"
command -v ip6tables >/dev/null && left+="$(chains_of ip6tables || true)"
jumps="$(iptables -w 5 -t filter -S 2>/dev/null | grep -E -- '-j (KUBE-ROUTER-|KUBE-NWPLCY-|KUBE-POD-FW-)' || true)"
sets_left=""
command -v ipset >/dev/null && sets_left="$(ipset list -n 2>/dev/null | grep -E "$SET_RE" || true)"
if [[ -n "$left$jumps$sets_left" ]]; then
  die "kube-router leftovers remain: chains [${left//$'\n'/ }] jumps [${jumps//$'\n'/; }] ipsets [${sets_left//$'\n'/ }]"
fi

# the bridge netfilter setting as it was before netpol-up.sh
if [[ -f "$NODE_DIR/netpol-sysctl.orig" ]]; then
  while IFS='=' read -r key val; do
    [[ -n "$key" && -n "$val" ]] && sysctl -qw "$key=$val" >/dev/null 2>&1 || true
  done < "$NODE_DIR/netpol-sysctl.orig"
  rm -f "$NODE_DIR/netpol-sysctl.orig"
fi
log "kube-router down in $(( $(now_ms) - t0 ))ms (no chain or ipset of it left)"
