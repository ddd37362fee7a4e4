#!/usr/bin/env bash
# Stop the local node started by scripts/k8s/node-up.sh and undo what it did to the machine.
# Run by scripts/k8s/down.sh before the control plane stops; idempotent.
#
#   scripts/k8s/node-down.sh              # everything
#   scripts/k8s/node-down.sh --keep-net   # not the machine-wide network parts (node-up retries;
#                                         # down.sh, until the apiserver on NODE_IP has stopped)
#   scripts/k8s/node-down.sh --net-only   # only the machine-wide parts
#
# Order: kubelet, kube-proxy and CoreDNS first (nothing restarts containers any more), then every
# container and sandbox through runc (containerd's shims keep containers alive on their own), then
# containerd and its shims, then mounts under the state dir (rootfs overlays, pod network
# namespaces, volumes), kube-proxy's and the kubelet's iptables chains, the CNI bridge, the kernel
# settings the kubelet changed, and last the dummy interface, the pod blackhole route and the
# FORWARD rule. KGADGET_KEEP_STATE=1 keeps $NODE_DIR (logs are in $CLUSTER_DIR/logs anyway).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

RUN="$CLUSTER_DIR/run"
FWD_COMMENT="kgadget-node: pods reach nothing outside the pod range"
EXT_COMMENT="kgadget-node: pods may reach the test-only external range"
mode="${1:-all}"
t0=$(now_ms)

# The machine-wide parts belong to us when the owner file names our state dir (or nobody).
owner="$(cat "$NODE_OWNER_FILE" 2>/dev/null || true)"
own_net=0
[[ -z "$owner" || "$owner" == "$CLUSTER_DIR" ]] && own_net=1

stop_named() {
  local -a todo=()
  local name pid
  for name in "$@"; do
    pid="$(pidfile_pid "$RUN/$name.pid" "$CLUSTER_DIR")"
    [[ -n "$pid" ]] && todo+=("$name=$pid")
    rm -f "$RUN/$name.pid"
  done
  ((${#todo[@]} == 0)) || stop_pids 10 "${todo[@]}"
}

iptables_cleanup() {
  # kube-proxy's chains (iptables, and ipvs/nftables if any) with its own --cleanup
  if [[ -x "$K8S_BIN_DIR/kube-proxy" ]] && iptables -w 5 -t nat -S 2>/dev/null | grep -q -- '-N KUBE-'; then
    "$K8S_BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  # what the kubelet adds: canary chains and the iptables-mode hint, KUBE-FIREWALL
  local ipt t c
  for ipt in iptables ip6tables; do
    for t in mangle nat filter; do
      for c in $("$ipt" -w 5 -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        # jumps to the chain first
        { "$ipt" -w 5 -t "$t" -S 2>/dev/null | grep -E -- "^-A .*-j $c( |$)" || true; } |
          while read -r rule; do
            # shellcheck disable=SC2086
            "$ipt" -w 5 -t "$t" ${rule/-A /-D } 2>/dev/null || true
          done
        "$ipt" -w 5 -t "$t" -F "$c" 2>/dev/null || true
        "$ipt" -w 5 -t "$t" -X "$c" 2>/dev/null || true
      done
    done
  done
}

net_down() {
  iptables_cleanup
  ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link del "$CNI_BRIDGE" 2>/dev/null && log "removed bridge $CNI_BRIDGE"
  rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
  while iptables -w 5 -D FORWARD -s "$POD_BLACKHOLE" ! -d "$POD_BLACKHOLE" -m comment --comment "$FWD_COMMENT" -j DROP 2>/dev/null; do :; done
  while iptables -w 5 -D FORWARD -s "$POD_BLACKHOLE" -d "$EXTERNAL_CIDR" -m comment --comment "$EXT_COMMENT" -j ACCEPT 2>/dev/null; do :; done
  if ip route show exact "$EXTERNAL_CIDR" proto "$ROUTE_PROTO" 2>/dev/null | grep -q blackhole; then
    ip route del blackhole "$EXTERNAL_CIDR" proto "$ROUTE_PROTO" && log "removed blackhole route $EXTERNAL_CIDR"
  fi
  if ip route show exact "$POD_BLACKHOLE" proto "$ROUTE_PROTO" 2>/dev/null | grep -q blackhole; then
    ip route del blackhole "$POD_BLACKHOLE" proto "$ROUTE_PROTO" && log "removed blackhole route $POD_BLACKHOLE"
  fi
  ip link show "$NODE_IF" >/dev/null 2>&1 && ip link del "$NODE_IF" && log "removed $NODE_IF ($NODE_IP)"
  rm -f "$NODE_OWNER_FILE"
  return 0
}

if [[ "$mode" == --net-only ]]; then
  if [[ "$own_net" == 1 ]]; then net_down; else log "network parts belong to $owner: left alone"; fi
  exit 0
fi

# 1. node agents
stop_named kubelet kube-proxy coredns

# 2. containers and sandboxes, through runc (works with containerd dead too)
runc_root="$NODE_CONTAINERD_STATE/runc"
# containerd's state is ours when our node ran (its config is in the node dir, or the owner
# file names our state dir: a state dir deleted by hand)
ours=0
[[ -f "$NODE_DIR/containerd.toml" || "$owner" == "$CLUSTER_DIR" ]] && ours=1
[[ "$ours" == 1 ]] || runc_root=/nonexistent
if [[ -d "$runc_root" ]]; then
  n=0
  for ns_root in "$runc_root"/*/; do
    [[ -d "$ns_root" ]] || continue
    for id in $(runc --root "$ns_root" list -q 2>/dev/null); do
      runc --root "$ns_root" kill --all "$id" KILL >/dev/null 2>&1 || true
      # containerd's CNI cache entries of sandboxes it will never tear down now
      rm -f /var/lib/cni/results/*-"$id"-* 2>/dev/null || true
      n=$((n + 1))
    done
  done
  for ns_root in "$runc_root"/*/; do
    [[ -d "$ns_root" ]] || continue
    for id in $(runc --root "$ns_root" list -q 2>/dev/null); do
      runc --root "$ns_root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  ((n == 0)) || log "killed $n containers"
fi
# containerd's CNI cache entries (/var/lib/cni/results/<network>-<sandbox id>-<if>) of every
# sandbox it knows, torn down or not
if [[ "$ours" == 1 && -d "$NODE_CONTAINERD_STATE/io.containerd.grpc.v1.cri/sandboxes" ]]; then
  for d in "$NODE_CONTAINERD_STATE"/io.containerd.grpc.v1.cri/sandboxes/*/; do
    [[ -d "$d" ]] && rm -f /var/lib/cni/results/*-"$(basename "$d")"-* 2>/dev/null || true
  done
fi

# 3. containerd, then its shims (their command line names our socket)
stop_named containerd
strays=()
for pid in $(pids_using_dir "$NODE_DIR"); do
  strays+=("$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo unknown)")=$pid")
done
((${#strays[@]} == 0)) || stop_pids 5 "${strays[@]}"

# 4. mounts under the node dir and containerd's state (rootfs overlays, pod netns, shm, volumes),
#    deepest first; then containerd's state itself
umount_under() {
  [[ -r /proc/mounts ]] || return 0
  awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
umount_under "$NODE_DIR"
if [[ "$ours" == 1 && -d "$NODE_CONTAINERD_STATE" ]]; then
  umount_under "$NODE_CONTAINERD_STATE"
  if [[ -f "$NODE_DIR/containerd-state.created" ]]; then
    rm -rf "$NODE_CONTAINERD_STATE"
  else
    rm -rf "$NODE_CONTAINERD_STATE"/io.containerd.* "$NODE_CONTAINERD_STATE"/runc "$NODE_CONTAINERD_STATE"/s \
      "$NODE_CONTAINERD_STATE"/tmpmounts "$NODE_CONTAINERD_STATE"/netns 2>/dev/null || true
  fi
fi

# 5. leftovers outside the state dir: empty container cgroups (/k8s.io/<id>: cgroupsPerQOS is
#    off) and their parent, kubelet's /var/log/containers links
if [[ "$ours" == 1 ]]; then
  for d in /sys/fs/cgroup/*/k8s.io/*/ /sys/fs/cgroup/*/k8s.io/ /sys/fs/cgroup/k8s.io/*/ /sys/fs/cgroup/k8s.io/; do
    [[ -d "$d" ]] && rmdir "$d" 2>/dev/null || true
  done
fi
if [[ -d /var/log/containers ]]; then
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_DIR/*" -delete 2>/dev/null || true
fi
while read -r d; do
  [[ -n "$d" ]] && rmdir "$d" 2>/dev/null || true
done < <(cat "$NODE_DIR/created-dirs" 2>/dev/null || true)

# 6. kernel settings the kubelet changed
if [[ -f "$NODE_DIR/sysctl.orig" ]]; then
  while IFS='=' read -r key val; do
    [[ -n "$key" && -n "$val" ]] && sysctl -qw "$key=$val" >/dev/null 2>&1 || true
  done < "$NODE_DIR/sysctl.orig"
  rm -f "$NODE_DIR/sysctl.orig"
fi

# 7. the bpffs mount as it was before node-up.sh (private, or not mounted)
case "$(cat "$NODE_DIR/bpffs.orig" 2>/dev/null || true)" in
  private) mount --make-private /sys/fs/bpf 2>/dev/null || true ;;
  mounted) umount /sys/fs/bpf 2>/dev/null || true ;;
esac
rm -f "$NODE_DIR/bpffs.orig"

# 8. machine-wide network
if [[ "$mode" != --keep-net ]]; then
  if [[ "$own_net" == 1 ]]; then net_down; else log "network parts belong to $owner: left alone"; fi
else
  iptables_cleanup
  ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link del "$CNI_BRIDGE" 2>/dev/null || true
fi

if [[ "${KGADGET_KEEP_STATE:-0}" != 1 && -d "$NODE_DIR" ]]; then
  rm -rf "$NODE_DIR"
fi
log "node down in $(( $(now_ms) - t0 ))ms"
