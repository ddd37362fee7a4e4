#!/usr/bin/env bash
# A real NetworkPolicy enforcer on the local node, for tests only: kube-router's network policy
# controller (nothing else of kube-router: no routing, no service proxy), run by
# `scripts/k8s/up.sh --node --netpol`. kube-router is a test oracle for
# `advise network-policy verify`: never shipped, never part of the product; it is the pinned
# KUBE_ROUTER_VERSION of lib.sh (v2.1.0), built from the Go module proxy by build.sh.
#
#   scripts/k8s/netpol-up.sh     # start it on the running node (idempotent)
#
# It needs iptables (the nft backend here, as kube-proxy uses), ipset (Debian package `ipset`,
# installed by scripts/setup.sh) and net.bridge.bridge-nf-call-iptables=1: pods on the CNI
# bridge talk to each other through the bridge, which the filter table sees only then.
# scripts/k8s/netpol-down.sh (run by down.sh) stops it and removes its chains and ipsets.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

RUN="$CLUSTER_DIR/run"
LOGS="$CLUSTER_DIR/logs"
[[ "$(id -u)" == 0 ]] || die "kube-router needs root (iptables, ipset)"
[[ -d "$NODE_DIR" ]] || die "no node in $CLUSTER_DIR: run scripts/k8s/up.sh --node --netpol"
for t in iptables iptables-save iptables-restore; do
  command -v "$t" >/dev/null || die "$t not found (apt-get install iptables)"
done
command -v ipset >/dev/null || die "ipset not found (apt-get install ipset, or scripts/setup.sh)"
t_start=$(now_ms)

if pid_alive "$(pidfile_pid "$RUN/kube-router.pid" "$CLUSTER_DIR")"; then
  log "kube-router already running"
  exit 0
fi

KGADGET_QUIET=1 KGADGET_BUILD_KUBE_ROUTER=1 "$SCRIPT_DIR/build.sh" >&2
[[ -x "$KUBE_ROUTER_BIN" ]] || die "missing $KUBE_ROUTER_BIN"

# Bridged pod-to-pod traffic through the filter table; the value before goes back on down.
if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  modprobe br_netfilter 2>/dev/null || true
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
    die "no /proc/sys/net/bridge/bridge-nf-call-iptables (the kernel needs CONFIG_BRIDGE_NETFILTER)"
fi
if [[ ! -f "$NODE_DIR/netpol-sysctl.orig" ]]; then
  echo "net.bridge.bridge-nf-call-iptables=$(sysctl -n net.bridge.bridge-nf-call-iptables)" \
    > "$NODE_DIR/netpol-sysctl.orig"
fi
sysctl -qw net.bridge.bridge-nf-call-iptables=1

undo_start() { "$SCRIPT_DIR/netpol-down.sh" >&2 || true; }
# Only the firewall (network policy) controller; no health or metrics listener. The admin
# kubeconfig: it lists pods, namespaces and NetworkPolicies (and the informers it starts for
# Services, Endpoints, EndpointSlices and Nodes) cluster-wide.
start kube-router "$KUBE_ROUTER_BIN" \
  --run-firewall \
  --run-router=false \
  --run-service-proxy=false \
  --hostname-override="$NODE_NAME" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --health-port=0 \
  --kubeconfig="$CLUSTER_DIR/admin.kubeconfig" \
  --v=1
# Ready: its top-level chains exist and the built-in chains jump to them (done before the first
# full sync), and the default policy chain of the first sync.
netpol_ready() {
  local rules
  rules="$(iptables -w 5 -t filter -S 2>/dev/null)" || return 1
  grep -q -- '^-A FORWARD .*-j KUBE-ROUTER-FORWARD' <<<"$rules" &&
    grep -q -- '^-A INPUT .*-j KUBE-ROUTER-INPUT' <<<"$rules" &&
    grep -q -- '^-A OUTPUT .*-j KUBE-ROUTER-OUTPUT' <<<"$rules" &&
    grep -q -- '^-N KUBE-NWPLCY-DEFAULT' <<<"$rules"
}
wait_for kube-router 60 netpol_ready
log "kube-router $KUBE_ROUTER_VERSION network policy controller enforcing in $(( $(now_ms) - t_start ))ms"
