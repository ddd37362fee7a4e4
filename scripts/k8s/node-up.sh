#!/usr/bin/env bash
# Add a real node to the local control plane: containerd (its own root, state and socket under the
# state dir), CNI bridge networking, kubelet, kube-proxy (iptables) and CoreDNS, all as plain
# background processes of this machine. Run by `scripts/k8s/up.sh --node`; usable on its own when
# the control plane was started with --node (its apiserver must listen on the node address).
#
#   scripts/k8s/node-up.sh          # start the node (idempotent)
#   scripts/k8s/node-up.sh --net    # only the machine-wide network parts (up.sh calls this first)
#
# Network safety (nothing leaves this machine):
#   - the node's address NODE_IP (10.243.0.1/32) is on a dummy interface, kgnode0 (an ifb device
#     where the kernel has no dummy driver);
#   - 10.96.0.0/16 (services, added by up.sh) and 10.244.0.0/16 (pods) are blackholed;
#   - pods get routes to the pod subnet, the service CIDR and EXTERNAL_CIDR (10.242.0.0/24, the
#     tests' stand-in for addresses outside the cluster) only: no default route; a FORWARD rule
#     drops anything from the pod range that is not for the pod range or EXTERNAL_CIDR, which is
#     blackholed unless a test's own network namespace is routed there;
#   - kubelet, kube-proxy and CoreDNS listen on NODE_IP or 127.0.0.1, CoreDNS has no upstream,
#     containerd's image pulls go to a closed local proxy port.
# scripts/k8s/node-down.sh (run by down.sh) undoes all of it.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

PKI="$CLUSTER_DIR/pki"
RUN="$CLUSTER_DIR/run"
LOGS="$CLUSTER_DIR/logs"
NPKI="$NODE_DIR/pki"
CNI_BIN_DIR="${KGADGET_CNI_BIN_DIR:-/usr/lib/cni}"
RUNC="$(command -v runc || echo /usr/sbin/runc)"
FWD_COMMENT="kgadget-node: pods reach nothing outside the pod range"
EXT_COMMENT="kgadget-node: pods may reach the test-only external range"

[[ "$(id -u)" == 0 ]] || die "the node needs root (kubelet, containerd, network setup)"
t_start=$(now_ms)

# ---------------------------------------------------------------- machine-wide network
# Who owns the node's machine-wide parts: one node per machine.
claim_node() {
  local owner
  owner="$(cat "$NODE_OWNER_FILE" 2>/dev/null || true)"
  if [[ -n "$owner" && "$owner" != "$CLUSTER_DIR" ]]; then
    if [[ -d "$owner/node" ]] && [[ -n "$(pids_using_dir "$owner" | head -1)" ]]; then
      die "another local node is running (state dir $owner): stop it first (KGADGET_CLUSTER_DIR=$owner scripts/k8s/down.sh)"
    fi
    log "removing the leftovers of a node that is gone ($owner)"
    KGADGET_CLUSTER_DIR="$owner" "$SCRIPT_DIR/node-down.sh" || true
  fi
  echo "$CLUSTER_DIR" > "$NODE_OWNER_FILE"
}

net_up() {
  claim_node
  if ! ip link show "$NODE_IF" >/dev/null 2>&1; then
    # a dummy interface; kernels without CONFIG_DUMMY (this one) get an ifb device, which is the
    # same for this purpose: it holds addresses and drops whatever is sent through it
    ip link add "$NODE_IF" type dummy 2>/dev/null || ip link add "$NODE_IF" type ifb
  fi
  ip addr replace "$NODE_IP/32" dev "$NODE_IF"
  ip link set "$NODE_IF" up
  if [[ -z "$(ip route show exact "$POD_BLACKHOLE" 2>/dev/null)" ]]; then
    ip route add blackhole "$POD_BLACKHOLE" proto "$ROUTE_PROTO"
  fi
  # service CIDR: up.sh adds its blackhole; make sure of it in case node-up runs alone
  if [[ -z "$(ip route show exact "$SERVICE_CIDR" 2>/dev/null)" ]]; then
    ip route add blackhole "$SERVICE_CIDR" proto "$ROUTE_PROTO"
  fi
  if [[ -z "$(ip route show exact "$EXTERNAL_CIDR" 2>/dev/null)" ]]; then
    ip route add blackhole "$EXTERNAL_CIDR" proto "$ROUTE_PROTO"
  fi
  if ! iptables -w 5 -C FORWARD -s "$POD_BLACKHOLE" ! -d "$POD_BLACKHOLE" -m comment --comment "$FWD_COMMENT" -j DROP 2>/dev/null; then
    iptables -w 5 -I FORWARD 1 -s "$POD_BLACKHOLE" ! -d "$POD_BLACKHOLE" -m comment --comment "$FWD_COMMENT" -j DROP
  fi
  # before the drop: pod -> test-only external range
  if ! iptables -w 5 -C FORWARD -s "$POD_BLACKHOLE" -d "$EXTERNAL_CIDR" -m comment --comment "$EXT_COMMENT" -j ACCEPT 2>/dev/null; then
    iptables -w 5 -I FORWARD 1 -s "$POD_BLACKHOLE" -d "$EXTERNAL_CIDR" -m comment --comment "$EXT_COMMENT" -j ACCEPT
  fi
}

if [[ "${1:-}" == --net ]]; then
  mkdir -p "$NODE_DIR"
  net_up
  log "node network ready: $NODE_IF $NODE_IP/32, blackholes $SERVICE_CIDR $POD_BLACKHOLE"
  exit 0
fi

# ---------------------------------------------------------------- preconditions
[[ -f "$CLUSTER_DIR/admin.kubeconfig" ]] || die "no control plane in $CLUSTER_DIR: run scripts/k8s/up.sh --node"
grep -q "server: https://$NODE_IP:$APISERVER_PORT" "$CLUSTER_DIR/admin.kubeconfig" ||
  die "the control plane in $CLUSTER_DIR was started without --node (its apiserver is not on $NODE_IP): scripts/k8s/down.sh, then scripts/k8s/up.sh --node"
for t in containerd ctr "$RUNC" iptables ip openssl curl; do command -v "$t" >/dev/null || die "$t not found (apt-get install containerd runc iptables iproute2)"; done
for p in bridge host-local loopback; do
  [[ -x "$CNI_BIN_DIR/$p" ]] || die "no CNI plugin $CNI_BIN_DIR/$p (apt-get install containernetworking-plugins)"
done
KUBECTL_BIN="$(kubectl_bin)"
k() { "$KUBECTL_BIN" --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"; }

# Already running?
node_running() {
  local c
  for c in containerd kubelet kube-proxy coredns; do
    pid_alive "$(cat "$RUN/$c.pid" 2>/dev/null || true)" || return 1
  done
  k get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}
if node_running; then
  log "node $NODE_NAME already running"
  exit 0
fi
if [[ -d "$NODE_DIR/containerd" ]]; then
  log "removing leftovers of a previous node in $NODE_DIR"
  "$SCRIPT_DIR/node-down.sh" --keep-net
fi
mkdir -p "$NODE_DIR" "$NPKI" "$RUN" "$LOGS"
net_up

# Mount propagation: the gadget pod mounts the host's bpffs with HostToContainer, which the
# runtime allows only from a shared or slave mount. systemd makes every mount shared; this machine
# has no systemd and every mount is private, so make /sys/fs/bpf shared (mount it first if it is
# not) for as long as the node runs. node-down.sh puts it back.
bpffs_prop="$(findmnt -no PROPAGATION --mountpoint /sys/fs/bpf 2>/dev/null || true)"
if [[ -z "$bpffs_prop" ]]; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf
  echo "mounted" > "$NODE_DIR/bpffs.orig"
  bpffs_prop="$(findmnt -no PROPAGATION --mountpoint /sys/fs/bpf)"
fi
if [[ "$bpffs_prop" == private ]]; then
  mount --make-shared /sys/fs/bpf
  [[ -f "$NODE_DIR/bpffs.orig" ]] || echo "private" > "$NODE_DIR/bpffs.orig"
fi

# ---------------------------------------------------------------- binaries
t0=$(now_ms)
for b in kubelet kube-proxy; do
  [[ -x "$K8S_BIN_DIR/$b" ]] || KGADGET_QUIET=1 "$SCRIPT_DIR/build.sh" >&2
  [[ -x "$K8S_BIN_DIR/$b" ]] || die "missing $K8S_BIN_DIR/$b"
done
"$SCRIPT_DIR/node/build-coredns.sh"
COREDNS="$("$SCRIPT_DIR/node/build-coredns.sh" --print-bin)"
log "binaries ready in $(( $(now_ms) - t0 ))ms"

# ---------------------------------------------------------------- certificates, kubeconfigs
t0=$(now_ms)
ossl() { openssl "$@" 2>>"$LOGS/openssl.log"; }
# node_cert NAME SUBJECT EXTKEYUSAGE [SAN], signed by the cluster CA
node_cert() {
  sign_cert "$PKI/ca" "$NPKI/$1" "$2" "$3" "${4:-}"
  chmod 600 "$NPKI/$1.key"
}
node_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
node_cert kubelet-serving "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
node_cert kube-proxy "/CN=system:kube-proxy" clientAuth
node_cert coredns "/CN=kgadget:coredns" clientAuth

node_kubeconfig() {
  local file="$1" user="$2" cert="$3"
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kgadget
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    client-certificate: $NPKI/$cert.crt
    client-key: $NPKI/$cert.key
contexts:
- name: kgadget
  context:
    cluster: kgadget
    user: $user
current-context: kgadget
KC
  chmod 600 "$file"
}
node_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client
node_kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
node_kubeconfig "$NODE_DIR/coredns.kubeconfig" kgadget:coredns coredns
log "node certificates in $(( $(now_ms) - t0 ))ms"

# ---------------------------------------------------------------- configs
MAX_OPEN_FILES="$(ulimit -Hn)"
[[ "$MAX_OPEN_FILES" =~ ^[0-9]+$ ]] || MAX_OPEN_FILES=1000000
# render TEMPLATE OUT: replace @NAME@ with $NAME for the names below
render() {
  local v expr=()
  for v in NODE_DIR NODE_CONTAINERD_SOCK NODE_CONTAINERD_STATE PAUSE_IMAGE RUNC CNI_BIN_DIR CNI_NETWORK CNI_BRIDGE \
    POD_CIDR POD_GW SERVICE_CIDR EXTERNAL_CIDR NODE_IP NODE_NAME KUBELET_PORT KUBELET_HEALTHZ_PORT PKI \
    DNS_SERVICE_IP KUBE_PROXY_HEALTHZ_PORT KUBE_PROXY_METRICS_PORT COREDNS_HEALTH_PORT \
    COREDNS_READY_PORT MAX_OPEN_FILES; do
    expr+=(-e "s|@$v@|${!v}|g")
  done
  sed "${expr[@]}" "$1" > "$2"
  if grep -v '^ *#' "$2" | grep -q '@[A-Z_]*@'; then die "unrendered placeholder in $2: $(grep -v '^ *#' "$2" | grep -o '@[A-Z_]*@' | head -1)"; fi
}
mkdir -p "$NODE_DIR/containerd" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam" "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs"
render "$SCRIPT_DIR/node/containerd.toml" "$NODE_DIR/containerd.toml"
render "$SCRIPT_DIR/node/10-kgnode.conflist" "$NODE_DIR/cni/net.d/10-kgnode.conflist"
render "$SCRIPT_DIR/node/kubelet.yaml" "$NODE_DIR/kubelet.yaml"
render "$SCRIPT_DIR/node/kube-proxy.yaml" "$NODE_DIR/kube-proxy.yaml"
render "$SCRIPT_DIR/node/Corefile" "$NODE_DIR/Corefile"
echo "volumePluginDir: $NODE_DIR/kubelet/volume-plugins" >> "$NODE_DIR/kubelet.yaml"

# ---------------------------------------------------------------- processes
undo_start() { KGADGET_KEEP_STATE=1 "$SCRIPT_DIR/node-down.sh" --keep-net >&2 || true; }

# containerd's state dir must not be another containerd's
if [[ -S "$NODE_CONTAINERD_STATE/containerd.sock" ]] &&
  ctr -a "$NODE_CONTAINERD_STATE/containerd.sock" version >/dev/null 2>&1; then
  die "another containerd runs with state $NODE_CONTAINERD_STATE: stop it, or set KGADGET_NODE_CONTAINERD_STATE"
fi
# No containerd runs there: whatever is left (a node whose processes were killed, e.g. at the
# end of a session) is garbage: its containers, mounts and task state go.
if [[ -d "$NODE_CONTAINERD_STATE/runc" || -n "$(awk -v d="$NODE_CONTAINERD_STATE/" 'index($2, d) == 1' /proc/mounts)" ]]; then
  log "removing leftovers of a containerd that is gone in $NODE_CONTAINERD_STATE"
  for ns_root in "$NODE_CONTAINERD_STATE"/runc/*/; do
    [[ -d "$ns_root" ]] || continue
    for id in $(runc --root "$ns_root" list -q 2>/dev/null); do
      runc --root "$ns_root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  awk -v d="$NODE_CONTAINERD_STATE/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$NODE_CONTAINERD_STATE"/io.containerd.* "$NODE_CONTAINERD_STATE"/runc "$NODE_CONTAINERD_STATE"/tmpmounts
fi
[[ -e "$NODE_CONTAINERD_STATE" ]] || echo "$NODE_CONTAINERD_STATE" > "$NODE_DIR/containerd-state.created"

# containerd: image pulls (there is no registry) go to a closed port on loopback, so a pod that
# names an image that was not imported fails at once instead of reaching out
t0=$(now_ms)
start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
  http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 no_proxy= \
  containerd --config "$NODE_DIR/containerd.toml"
wait_for containerd 30 ctr -a "$NODE_CONTAINERD_SOCK" version >/dev/null 2>&1
log "containerd ready in $(( $(now_ms) - t0 ))ms"

t0=$(now_ms)
"$SCRIPT_DIR/images.sh" import
log "images imported in $(( $(now_ms) - t0 ))ms"

# the kernel settings the kubelet changes (protectKernelDefaults: false), restored by node-down.sh
if [[ ! -f "$NODE_DIR/sysctl.orig" ]]; then
  for s in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
    echo "$s=$(sysctl -n "$s" 2>/dev/null)"
  done > "$NODE_DIR/sysctl.orig"
fi

# the kubelet links container logs into /var/log/containers (not configurable): node-down.sh
# removes the links, and the directory if it made it
[[ -d /var/log/containers ]] || echo /var/log/containers >> "$NODE_DIR/created-dirs"

t0=$(now_ms)
start kubelet "$K8S_BIN_DIR/kubelet" \
  --config="$NODE_DIR/kubelet.yaml" \
  --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
  --root-dir="$NODE_DIR/kubelet" \
  --cert-dir="$NODE_DIR/kubelet/pki" \
  --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" \
  --v=1
kubelet_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" -o /dev/null; }
wait_for kubelet 60 kubelet_healthy

start kube-proxy "$K8S_BIN_DIR/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml" --v=1
proxy_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz" -o /dev/null; }

# cluster DNS: kube-dns Service without selector, its endpoint is CoreDNS on the node address
k apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kgadget:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kgadget:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kgadget:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: kgadget:coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/name: CoreDNS
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 53
  - name: dns-tcp
    port: 53
    protocol: TCP
    targetPort: 53
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: kgadget-node-up
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions:
    ready: true
  nodeName: $NODE_NAME
ports:
- name: dns
  port: 53
  protocol: UDP
- name: dns-tcp
  port: 53
  protocol: TCP
YAML
start coredns "$COREDNS" -conf "$NODE_DIR/Corefile" -pidfile ""
coredns_ready() { curl -sf --max-time 1 "http://127.0.0.1:$COREDNS_READY_PORT/ready" -o /dev/null; }

wait_for kube-proxy 30 proxy_healthy
wait_for coredns 30 coredns_ready
node_ready() {
  [[ "$(k get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
wait_for kubelet 90 node_ready
# The kubelet sets its kernel tunables once, when its container manager starts (before the node
# turns Ready): vm.overcommit_memory=1, kernel.panic_on_oops=1, ... There is no setting that skips
# this (protectKernelDefaults only turns a difference into a start failure). This machine is
# shared with other tests: put the values back; the kubelet never looks at them again.
if [[ "$(sysctl -n vm.overcommit_memory)" != 1 ]]; then
  for ((i = 0; i < 50; i++)); do [[ "$(sysctl -n vm.overcommit_memory)" == 1 ]] && break; sleep 0.1; done
fi
while IFS='=' read -r key val; do
  [[ -n "$key" && -n "$val" ]] && sysctl -qw "$key=$val" >/dev/null 2>&1 || true
done < "$NODE_DIR/sysctl.orig"
log "node $NODE_NAME Ready after $(( $(now_ms) - t0 ))ms (kubelet start to Ready)"

{
  echo "export KGADGET_NODE_NAME=$NODE_NAME"
  echo "export KGADGET_NODE_CONTAINERD_SOCK=$NODE_CONTAINERD_SOCK"
} >> "$CLUSTER_DIR/env"
log "node up in $(( $(now_ms) - t_start ))ms"
