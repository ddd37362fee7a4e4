#!/usr/bin/env bash
# Kill leftovers of a previous local cluster run (crashed tests, a killed
# up.sh, a deleted state dir) and remove its blackhole route. Idempotent;
# safe to run when nothing is left.
#
# It stops, by pid:
#   - the processes named in the state dir's pid files;
#   - etcd/kube-*/kubelet/containerd processes whose command line points into
#     the state dir (${KGADGET_CLUSTER_DIR:-/tmp/kgadget-cluster});
#   - orphans: our etcd/kube-* binaries listening on the cluster's ports whose
#     state dir is gone (a live cluster of another state dir is left alone).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

stop_cluster "$CLUSTER_DIR"

# Orphans on our ports: a listener whose binary is one of ours (the cache's
# bin dir, or an etcd/kube-* started by these scripts) and whose state dir is
# gone (a file or dir named in its flags no longer exists). A live cluster of
# another state dir still has all its files, and is reported and left alone.
orphaned() {
  local pid="$1" a v
  local -a args=()
  mapfile -d '' -t args 2>/dev/null < "/proc/$pid/cmdline" || return 1
  for a in "${args[@]:1}"; do
    v="${a#*=}"
    [[ "$v" == /* ]] || continue
    [[ -e "$v" ]] || return 0
  done
  return 1
}
for port in "$APISERVER_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$SCHED_PORT"; do
  for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    case "$exe" in
      "$KGADGET_CACHE"/*|*/etcd|*/kube-apiserver|*/kube-controller-manager|*/kube-scheduler) ;;
      *) log "port $port is held by pid $pid ($exe), not ours: left alone"; continue ;;
    esac
    if orphaned "$pid"; then
      stop_pids 5 "orphan-$(basename "$exe")-port-$port=$pid"
    else
      log "port $port is held by pid $pid ($exe) of a cluster whose state dir still exists: left alone"
    fi
  done
done

route_remove
"$SCRIPT_DIR/down.sh"
