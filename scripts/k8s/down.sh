#!/usr/bin/env bash
# Stop the local control plane started by scripts/k8s/up.sh and remove its
# state dir (${KGADGET_CLUSTER_DIR:-/tmp/kgadget-cluster}). Idempotent.
#   KGADGET_KEEP_STATE=1  keep the state dir (logs, certs) for debugging
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

t0=$(now_ms)
# The node first (kubelet, containers, containerd, iptables rules); its address goes only after
# the apiserver listening on it has stopped (it waits for its open connections otherwise).
node=0
netpol_failed=0
if [[ -d "$CLUSTER_DIR/node" || "$(cat "$NODE_OWNER_FILE" 2>/dev/null)" == "$CLUSTER_DIR" ]]; then
  node=1
  # the NetworkPolicy enforcer of up.sh --netpol first: it would re-add what node-down removes.
  # Should some of it remain, the rest still goes down, and down.sh fails at the end.
  "$SCRIPT_DIR/netpol-down.sh" || netpol_failed=1
  "$SCRIPT_DIR/node-down.sh" --keep-net
fi
stop_cluster "$CLUSTER_DIR"
[[ "$node" == 1 ]] && "$SCRIPT_DIR/node-down.sh" --net-only
route_remove
if [[ "${KGADGET_KEEP_STATE:-0}" == 1 ]]; then
  log "kept $CLUSTER_DIR"
elif [[ -e "$CLUSTER_DIR" ]]; then
  # A kubelet may leave mounts (pod volumes) under the state dir.
  if [[ -r /proc/mounts ]]; then
    awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -rf "$CLUSTER_DIR"
  log "removed $CLUSTER_DIR"
fi
log "down in $(( $(now_ms) - t0 ))ms"
[[ "$netpol_failed" == 0 ]] || die "kube-router's chains or ipsets remain (see scripts/k8s/netpol-down.sh above)"
