#!/usr/bin/env bash
# Start a local Kubernetes control plane: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler. Everything listens on 127.0.0.1.
#
#   scripts/k8s/up.sh        # build (cached) + start; prints the shell lines of env_lines below
#   eval "$(scripts/k8s/up.sh)"   # same, and sets them in this shell: KUBECONFIG, KUBECTL, and
#                            # PATH with $KGADGET_CLUSTER_DIR/bin first, which holds `kubectl`
#                            # (the one within the server's version skew) and `kubectl-gadget`
#                            # (this checkout), so plain `kubectl` and `kubectl gadget` work
#   scripts/k8s/up.sh --node # also a real node on this machine (scripts/k8s/node-up.sh):
#                            # the apiserver then listens on the node address 10.243.0.1
#                            # instead of 127.0.0.1, so that pods reach it (KGADGET_NODE=1 too)
#   scripts/k8s/up.sh --node --netpol  # and a NetworkPolicy enforcer on that node, for tests only:
#                            # kube-router's network policy controller (scripts/k8s/netpol-up.sh;
#                            # --netpol implies --node; KGADGET_NETPOL=1 too)
#
# State (certs, kubeconfigs, etcd data, logs, pid files) lives in
# ${KGADGET_CLUSTER_DIR:-/tmp/kgadget-cluster}; scripts/k8s/down.sh removes it.
# Only the env lines go to stdout (also written to $KGADGET_CLUSTER_DIR/env); progress goes to
# stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

NODE_MODE="${KGADGET_NODE:-0}"
NETPOL_MODE="${KGADGET_NETPOL:-0}"
for a in "$@"; do
  case "$a" in
    --node) NODE_MODE=1 ;;
    --netpol) NETPOL_MODE=1 ;;
    *) die "unknown argument $a (usage: up.sh [--node [--netpol]])" ;;
  esac
done
[[ "$NETPOL_MODE" == 1 ]] && NODE_MODE=1
# Where the apiserver listens: loopback, or the node address (pods reach it through the
# `kubernetes` Service, whose endpoint is the advertise address; Endpoints refuse loopback).
API_HOST=127.0.0.1
[[ "$NODE_MODE" == 1 ]] && API_HOST="$NODE_IP"

[[ "$(id -u)" == 0 ]] || log "warning: not root; the blackhole route (and later a kubelet) need root"
for t in openssl curl ip; do command -v "$t" >/dev/null || die "$t not found"; done

t_start=$(now_ms)
KUBECONFIG_PATH="$CLUSTER_DIR/admin.kubeconfig"
PKI="$CLUSTER_DIR/pki"
RUN="$CLUSTER_DIR/run"
LOGS="$CLUSTER_DIR/logs"

apiserver_ready() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$API_HOST:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

# The shell lines that make this cluster the current one: `kubectl` on PATH is the kubectl within
# the skew (/usr/bin/kubectl is the Cloud SDK's 1.32 dispatcher), `kubectl gadget` this checkout.
env_lines() {
  local bin="$CLUSTER_DIR/bin" kubectl
  kubectl="$(kubectl_bin)"
  mkdir -p "$bin"
  [[ "$kubectl" == "$bin/kubectl" ]] || ln -sfn "$kubectl" "$bin/kubectl"
  "$SCRIPT_DIR/../install-plugin.sh" "$bin" >/dev/null 2>&1 ||
    log "warning: kubectl-gadget not linked into $bin (npm run build first)"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
  echo "export KUBECTL=$kubectl"
  # shellcheck disable=SC2016 # expanded by the shell that evaluates it
  printf 'case ":$PATH:" in *":%s:"*) ;; *) export PATH="%s:$PATH" ;; esac\n' "$bin" "$bin"
}

print_env() {
  log "cluster ready in $CLUSTER_DIR (kubectl: $(kubectl_bin))"
  env_lines
}

# Already running? Then this is a no-op (with --node: makes sure the node runs too).
running=1
for c in "${COMPONENTS[@]}"; do
  pid_alive "$(cat "$RUN/$c.pid" 2>/dev/null || true)" || running=0
done
# A running cluster of the other kind (with or without a node) is not replaced behind the back
# of whoever uses it.
running_host="$({ sed -n 's|^ *server: https://\(.*\):[0-9]*$|\1|p' "$KUBECONFIG_PATH" 2>/dev/null || true; } | head -1)"
if [[ "$running" == 1 && -n "$running_host" && "$running_host" != "$API_HOST" ]]; then
  if [[ "$NODE_MODE" == 1 ]]; then
    die "the cluster in $CLUSTER_DIR runs without a node: scripts/k8s/down.sh first, then up.sh --node"
  fi
  die "the cluster in $CLUSTER_DIR runs with a node: scripts/k8s/down.sh first, or up.sh --node"
fi
if [[ "$running" == 1 ]] && apiserver_ready; then
  [[ "$NODE_MODE" == 1 ]] && "$SCRIPT_DIR/node-up.sh" >&2
  [[ "$NETPOL_MODE" == 1 ]] && "$SCRIPT_DIR/netpol-up.sh" >&2
  log "cluster already running"
  print_env
  exit 0
fi

# Leftovers of a crashed or half-started run.
if [[ -d "$CLUSTER_DIR" ]]; then
  log "removing leftovers of a previous run in $CLUSTER_DIR"
  if [[ -d "$CLUSTER_DIR/node" ]]; then
    "$SCRIPT_DIR/netpol-down.sh" >&2
    "$SCRIPT_DIR/node-down.sh" >&2
  fi
  stop_cluster "$CLUSTER_DIR" 0
  if [[ -r /proc/mounts ]]; then
    awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -rf "$CLUSTER_DIR"
fi

# busy for HOST: a listener on HOST or on a wildcard address
port_busy() {
  ss -Hltn "sport = :$2" 2>/dev/null | awk '{ print $4 }' |
    grep -qE "^(\*|0\.0\.0\.0|\[::\]|\[::ffff:0\.0\.0\.0\]|${1//./\\.}):$2\$"
}
for p in "$APISERVER_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$SCHED_PORT"; do
  host=127.0.0.1
  [[ "$p" == "$APISERVER_PORT" ]] && host="$API_HOST"
  if port_busy "$host" "$p"; then
    die "port $host:$p is already in use ($(ss -Hltnp "sport = :$p" | awk '{print $NF}' | head -1)); run scripts/k8s/cleanup.sh or set KGADGET_*_PORT"
  fi
done

# Binaries (instant when cached).
build_etcd=0
etcd_bin >/dev/null || build_etcd=1
KGADGET_QUIET=1 KGADGET_BUILD_ETCD="${KGADGET_BUILD_ETCD:-$build_etcd}" "$SCRIPT_DIR/build.sh" >&2
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  [[ -x "$K8S_BIN_DIR/$b" ]] || die "missing $K8S_BIN_DIR/$b"
done
ETCD="$(etcd_bin)" || die "no etcd: apt-get install etcd-server, or KGADGET_BUILD_ETCD=1 scripts/k8s/build.sh"

mkdir -p "$PKI" "$RUN" "$LOGS" "$CLUSTER_DIR/etcd"
chmod 700 "$CLUSTER_DIR" "$PKI"

# ---------------------------------------------------------------- certificates
# ECDSA P-256 keys everywhere: as good as RSA here and generated in milliseconds.
t0=$(now_ms)
ossl() { openssl "$@" 2>>"$LOGS/openssl.log"; }

# new_ca NAME CN
new_ca() {
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign"
}

# new_cert CA NAME SUBJECT EXTKEYUSAGE [SAN]
new_cert() { sign_cert "$PKI/$1" "$PKI/$2" "$3" "$4" "${5:-}"; }

new_ca ca kgadget-ca
new_ca front-proxy-ca kgadget-front-proxy-ca
san="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
san+=",DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,DNS:$(hostname)"
san+=",IP:127.0.0.1,IP:$SERVICE_IP,IP:::1"
[[ "$API_HOST" != 127.0.0.1 ]] && san+=",IP:$API_HOST"
new_cert ca apiserver "/CN=kube-apiserver" serverAuth "$san"
new_cert ca admin "/O=system:masters/CN=kgadget-admin" clientAuth
new_cert ca apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
new_cert ca controller-manager "/CN=system:kube-controller-manager" clientAuth
new_cert ca scheduler "/CN=system:kube-scheduler" clientAuth
new_cert front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
ossl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key"
ossl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
chmod 600 "$PKI"/*.key
log "certificates generated in $(( $(now_ms) - t0 ))ms"

# ---------------------------------------------------------------- kubeconfigs
# write_kubeconfig FILE USER CERTNAME
write_kubeconfig() {
  local file="$1" user="$2" cert="$3"
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kgadget
  cluster:
    server: https://$API_HOST:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 < "$PKI/$cert.key")
contexts:
- name: kgadget
  context:
    cluster: kgadget
    user: $user
    namespace: default
current-context: kgadget
KC
  chmod 600 "$file"
}
write_kubeconfig "$KUBECONFIG_PATH" kgadget-admin admin
write_kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
write_kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" system:kube-scheduler scheduler

# ---------------------------------------------------------------- processes
# Note on --endpoint-reconciler-type=none below: the advertise address is
# 127.0.0.1, which Endpoints refuse ("may not be in the loopback range"), so
# the default/kubernetes Service has no endpoints. Clients on this machine
# use https://127.0.0.1:6443 directly. With --node the apiserver listens and
# advertises on the node address, and the lease reconciler publishes it.
undo_start() { stop_cluster "$CLUSTER_DIR"; }

# Service IPs never leave the machine: blackhole the service CIDR unless some
# route for it already exists.
if [[ -z "$(ip route show exact "$SERVICE_CIDR" 2>/dev/null)" ]]; then
  if ip route add blackhole "$SERVICE_CIDR" proto "$ROUTE_PROTO" 2>>"$LOGS/route.log"; then
    log "added blackhole route $SERVICE_CIDR"
  else
    log "warning: could not add blackhole route for $SERVICE_CIDR (see $LOGS/route.log)"
  fi
fi
# --node: the node address (dummy interface), the pod CIDR blackhole, the FORWARD rule
[[ "$NODE_MODE" == 1 ]] && "$SCRIPT_DIR/node-up.sh" --net >&2

etcd_url="http://127.0.0.1:$ETCD_CLIENT_PORT"
etcd_extra=()
if "$ETCD" --version 2>/dev/null | grep -q 'etcd Version: 3\.4'; then etcd_extra+=(--logger=zap); fi
start etcd "$ETCD" \
  --name kgadget \
  --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "$etcd_url" \
  --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "kgadget=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state new \
  --snapshot-count 10000 \
  "${etcd_extra[@]}"
wait_for etcd 30 curl -sf --max-time 1 "$etcd_url/health" -o /dev/null

start kube-apiserver "$K8S_BIN_DIR/kube-apiserver" \
  --bind-address="$API_HOST" \
  --advertise-address="$API_HOST" \
  --endpoint-reconciler-type="$([[ "$NODE_MODE" == 1 ]] && echo lease || echo none)" \
  --secure-port="$APISERVER_PORT" \
  --etcd-servers="$etcd_url" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-node-port-range=30000-32767 \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/apiserver.crt" \
  --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-username-headers=X-Remote-User \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
  --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --profiling=false
wait_for kube-apiserver 90 apiserver_ready
log "kube-apiserver ready after $(( $(now_ms) - t_start ))ms"

common=(--bind-address=127.0.0.1 --leader-elect=false --profiling=false)
start kube-controller-manager "$K8S_BIN_DIR/kube-controller-manager" \
  "${common[@]}" \
  --secure-port="$KCM_PORT" \
  --kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --client-ca-file="$PKI/ca.crt" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --root-ca-file="$PKI/ca.crt" \
  --service-account-private-key-file="$PKI/sa.key" \
  --use-service-account-credentials=true \
  --controllers='*,bootstrapsigner,tokencleaner' \
  --cluster-signing-cert-file="$PKI/ca.crt" \
  --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --kube-api-qps=100 --kube-api-burst=200
start kube-scheduler "$K8S_BIN_DIR/kube-scheduler" \
  "${common[@]}" \
  --secure-port="$SCHED_PORT" \
  --kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig"
healthz() { curl -skf --max-time 1 "https://127.0.0.1:$1/healthz" -o /dev/null; }
wait_for kube-controller-manager 60 healthz "$KCM_PORT"
wait_for kube-scheduler 60 healthz "$SCHED_PORT"

# The apiserver reaches kubelets (exec, logs, port-forward) as this user.
KUBECTL_BIN="$(kubectl_bin)"
k() { "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
k create clusterrolebinding kgadget:apiserver-kubelet-client \
  --clusterrole=system:kubelet-api-admin --user=kube-apiserver-kubelet-client >/dev/null

# Ready for workloads once the controller-manager has created the default
# ServiceAccount and published kube-root-ca.crt.
api_get() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$API_HOST:$APISERVER_PORT$1" -o /dev/null
}
ns_ready() {
  api_get /api/v1/namespaces/default/serviceaccounts/default &&
    api_get /api/v1/namespaces/default/configmaps/kube-root-ca.crt
}
wait_for kube-controller-manager 60 ns_ready

env_lines > "$CLUSTER_DIR/env"
log "control plane up in $(( $(now_ms) - t_start ))ms (etcd: $ETCD)"
if [[ "$NODE_MODE" == 1 ]]; then
  "$SCRIPT_DIR/node-up.sh" >&2 || { stop_cluster "$CLUSTER_DIR"; die "the node did not come up (logs: $LOGS)"; }
  if [[ "$NETPOL_MODE" == 1 ]]; then
    "$SCRIPT_DIR/netpol-up.sh" >&2 || { "$SCRIPT_DIR/node-down.sh" >&2 || true; stop_cluster "$CLUSTER_DIR"; die "kube-router did not start (log: $LOGS/kube-router.log)"; }
  fi
  log "cluster with node up in $(( $(now_ms) - t_start ))ms"
fi
print_env
