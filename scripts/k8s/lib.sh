# Shared settings and helpers for scripts/k8s/*.sh (sourced, not executed).
# shellcheck shell=bash

# Pinned versions. k8s 1.34 is the newest line that still runs on cgroup v1
# and containerd 1.6 without extra settings; v1.34.12 is the newest 1.34 patch
# the Go module proxy serves (v1.34.13 answers 403).
K8S_VERSION="${KGADGET_K8S_VERSION:-v1.34.12}"
# Only built when KGADGET_BUILD_ETCD=1 (Debian's etcd 3.4 works with 1.34).
ETCD_VERSION="${KGADGET_ETCD_VERSION:-v3.5.35}"
# The NetworkPolicy enforcer of `up.sh --node --netpol` (only its firewall controller runs):
# a test oracle for `advise network-policy verify`, never shipped. v2.1.0 is what the Go module
# proxy serves here; security flaws are reported against that version.
KUBE_ROUTER_VERSION="${KGADGET_KUBE_ROUTER_VERSION:-v2.1.0}"

KGADGET_CACHE="${KGADGET_CACHE:-${HOME:-/root}/.cache/kubectl-gadget}"
K8S_BIN_DIR="${KGADGET_K8S_BIN_DIR:-$KGADGET_CACHE/k8s/$K8S_VERSION/bin}"
KUBE_ROUTER_BIN="${KGADGET_KUBE_ROUTER_BIN:-$KGADGET_CACHE/kube-router/$KUBE_ROUTER_VERSION/bin/kube-router}"
CLUSTER_DIR="${KGADGET_CLUSTER_DIR:-/tmp/kgadget-cluster}"
CLUSTER_DIR="${CLUSTER_DIR%/}"
# down.sh deletes this dir: refuse anything that is not a dedicated absolute path.
case "$CLUSTER_DIR" in
  /*/*|/tmp/?*) ;;
  *) echo "KGADGET_CLUSTER_DIR must be an absolute path at least two levels deep (got '$CLUSTER_DIR')" >&2; exit 1 ;;
esac
if [[ "$CLUSTER_DIR" == "${HOME:-/root}" || "$CLUSTER_DIR" == /tmp ]]; then
  echo "KGADGET_CLUSTER_DIR must not be \$HOME or /tmp itself" >&2; exit 1
fi

# Network layout. Everything listens on 127.0.0.1 only.
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
CLUSTER_DOMAIN="cluster.local"
APISERVER_PORT="${KGADGET_APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT="${KGADGET_ETCD_CLIENT_PORT:-23790}"
ETCD_PEER_PORT="${KGADGET_ETCD_PEER_PORT:-23800}"
KCM_PORT="${KGADGET_KCM_PORT:-10357}"
SCHED_PORT="${KGADGET_SCHED_PORT:-10359}"
# Routing-protocol tag on the blackhole route, so only our route is removed.
ROUTE_PROTO=187

# Control-plane components in start order (down stops them in reverse).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# The local node (`up.sh --node`, scripts/k8s/node-up.sh): kubelet, containerd, CNI, kube-proxy
# and CoreDNS on this machine. One node per machine: its interfaces, addresses, iptables rules and
# kubelet port are machine-wide.
NODE_NAME="${KGADGET_NODE_NAME:-kgnode}"
NODE_IF=kgnode0                # dummy interface holding NODE_IP
NODE_IP=10.243.0.1             # the node's InternalIP; the apiserver binds it in --node mode
POD_CIDR=10.244.0.0/24         # host-local range of the CNI bridge
POD_GW=10.244.0.1
POD_BLACKHOLE=10.244.0.0/16    # blackholed: no pod address ever follows the default route
CNI_BRIDGE=kgnbr0
CNI_NETWORK=kgnode
DNS_SERVICE_IP=10.96.0.10      # kube-dns Service, answered by CoreDNS on NODE_IP:53
# "Outside the cluster" for tests: pods have a route to it, the machine blackholes it, and only a
# network namespace a test creates (with a more specific route) answers there.
EXTERNAL_CIDR=10.242.0.0/24
KUBELET_PORT="${KGADGET_KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${KGADGET_KUBELET_HEALTHZ_PORT:-10248}"
KUBE_PROXY_METRICS_PORT="${KGADGET_KUBE_PROXY_METRICS_PORT:-10249}"
KUBE_PROXY_HEALTHZ_PORT="${KGADGET_KUBE_PROXY_HEALTHZ_PORT:-10256}"
COREDNS_HEALTH_PORT="${KGADGET_COREDNS_HEALTH_PORT:-10254}"
COREDNS_READY_PORT="${KGADGET_COREDNS_READY_PORT:-10253}"
NODE_DIR="$CLUSTER_DIR/node"
NODE_CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
# containerd's --state (task bundles, runc state, sandboxes, pod netns). /run/containerd as on any
# containerd node: the gadget daemon reads the OCI bundles there (HOST_ROOT/run/containerd) for the
# pod identity of a container before its entrypoint runs. Images and snapshots (--root) and the
# socket stay under the state dir.
NODE_CONTAINERD_STATE="${KGADGET_NODE_CONTAINERD_STATE:-/run/containerd}"
# Who owns the machine-wide parts of the node (the state dir of the cluster that made them).
NODE_OWNER_FILE=/run/kgadget-node.owner
PAUSE_IMAGE=localhost/kgadget/pause:local
BUSYBOX_IMAGE=localhost/kgadget/busybox:local
GADGET_IMAGE="${KGADGET_IMAGE:-localhost/kubectl-gadget:dev}"

log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# sign_cert CA OUT SUBJECT EXTKEYUSAGE [SAN]: OUT.key (P-256) and OUT.crt (10 years, leaf)
# signed by CA.crt/CA.key (paths without the ending), with the caller's ossl (openssl + its log).
sign_cert() {
  local ca="$1" out="$2" subj="$3" eku="$4" san="${5:-}"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } > "$out.ext"
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$out.key" -out "$out.csr" -subj "$subj"
  ossl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$out.ext" -out "$out.crt"
  rm -f "$out.csr" "$out.ext"
}

# go_env, tool_cached: the Go build settings of every tool built from the module proxy
# shellcheck source=../lib-go.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib-go.sh"

# Milliseconds since the epoch, for timings.
now_ms() { date +%s%3N; }

# kubectl: the /usr/bin/kubectl dispatcher ships per-minor binaries next to
# itself; 1.33 is the newest, and within the supported skew of a 1.34 server.
# Override with KUBECTL=/path/to/kubectl.
kubectl_bin() {
  if [[ -n "${KUBECTL:-}" ]]; then echo "$KUBECTL"; return; fi
  local real d
  real="$(readlink -f "$(command -v kubectl 2>/dev/null || echo /usr/bin/kubectl)" 2>/dev/null || true)"
  d="$(dirname "${real:-/usr/bin/kubectl}")"
  if [[ -x "$d/kubectl.1.33" ]]; then echo "$d/kubectl.1.33"; return; fi
  command -v kubectl || die "kubectl not found (set KUBECTL=...)"
}

# etcd: $KGADGET_ETCD_BIN, else the system etcd (Debian's 3.4 works with
# kube-apiserver 1.34), else the etcd 3.5 that build.sh builds into the cache
# (KGADGET_BUILD_ETCD=1; up.sh does that by itself when there is no etcd).
etcd_bin() {
  if [[ -n "${KGADGET_ETCD_BIN:-}" ]]; then echo "$KGADGET_ETCD_BIN"; return; fi
  if command -v etcd >/dev/null 2>&1; then command -v etcd; return; fi
  if [[ -x "$K8S_BIN_DIR/etcd" ]]; then echo "$K8S_BIN_DIR/etcd"; return; fi
  return 1
}

# Alive = exists and is not a zombie (our processes are reparented to PID 1,
# which may reap them only later).
pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

# PIDs of processes whose command line mentions DIR (our state dir): every
# process we start gets paths under it in its arguments.
pids_using_dir() {
  local dir="$1" p cmd
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [[ "$p" == "$$" || "$p" == "$BASHPID" ]] && continue
    cmd="$(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")" || continue
    [[ -z "$cmd" ]] && continue
    # Skip shells/tools that merely mention the dir (rm, this script, ...):
    # only binaries we launch are matched.
    case "$cmd" in
      */etcd\ *|etcd\ *|*/kube-apiserver\ *|*/kube-controller-manager\ *|*/kube-scheduler\ *|\
      */kubelet\ *|*/kube-proxy\ *|*/kube-router\ *|*/containerd\ *|containerd\ *|*/containerd-shim*|*/coredns\ *) ;;
      *) continue ;;
    esac
    [[ "$cmd" == *"$dir/"* || "$cmd" == *"$dir "* ]] && echo "$p"
  done
}

# stop_pids TIMEOUT NAME=PID... : SIGTERM all at once, SIGKILL the ones still
# alive after TIMEOUT seconds.
stop_pids() {
  local timeout="$1" i e; shift
  local -a alive=()
  local -a left=()
  for e in "$@"; do
    pid_alive "${e#*=}" || continue
    kill -TERM "${e#*=}" 2>/dev/null || true
    left+=("$e")
  done
  for ((i = 0; i < timeout * 20 && ${#left[@]} > 0; i++)); do
    alive=()
    for e in "${left[@]}"; do
      if pid_alive "${e#*=}"; then alive+=("$e"); else log "stopped ${e%%=*} (pid ${e#*=})"; fi
    done
    left=("${alive[@]}")
    ((${#left[@]} == 0)) || sleep 0.05
  done
  for e in "${left[@]}"; do
    kill -KILL "${e#*=}" 2>/dev/null || true
    log "killed ${e%%=*} (pid ${e#*=})"
  done
  for e in "${left[@]}"; do
    for ((i = 0; i < 50; i++)); do pid_alive "${e#*=}" || break; sleep 0.1; done
  done
}

# The pid in pid file F if it is still alive and still the process we started
# (its command line points into DIR).
pidfile_pid() {
  local f="$1" dir="$2" pid
  pid="$(cat "$f" 2>/dev/null || true)"
  pid_alive "$pid" || return 0
  tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$dir/" && echo "$pid"
  return 0
}

# Stop every process of the cluster in DIR: clients of etcd first (all pid
# files but etcd's, in parallel), then etcd, then strays found by command line.
# ETCD_GRACE: seconds etcd gets after SIGTERM (0 when its data is thrown away:
# etcd 3.4 takes ~2s to shut down gracefully).
stop_cluster() {
  local dir="$1" etcd_grace="${2:-15}" f pid name
  local -a first=() strays=()
  if [[ -d "$dir/run" ]]; then
    for f in "$dir"/run/*.pid; do
      [[ -f "$f" ]] || continue
      name="$(basename "$f" .pid)"
      [[ "$name" == etcd ]] && continue
      pid="$(pidfile_pid "$f" "$dir")"
      [[ -n "$pid" ]] && first+=("$name=$pid")
    done
    ((${#first[@]} == 0)) || stop_pids 15 "${first[@]}"
    pid="$(pidfile_pid "$dir/run/etcd.pid" "$dir")"
    [[ -n "$pid" ]] && stop_pids "$etcd_grace" "etcd=$pid"
    rm -f "$dir"/run/*.pid
  fi
  for pid in $(pids_using_dir "$dir"); do
    strays+=("stray-$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo unknown)")=$pid")
  done
  ((${#strays[@]} == 0)) || stop_pids 5 "${strays[@]}"
}

# A kube-apiserver of another state dir than DIR that uses our service CIDR: that cluster still
# needs the blackhole route.
other_cluster_live() {
  local dir="$1" p cmd
  for p in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" || continue
    case "$cmd" in */kube-apiserver\ *|kube-apiserver\ *) ;; *) continue ;; esac
    [[ "$cmd" == *"--service-cluster-ip-range=$SERVICE_CIDR"* ]] || continue
    [[ "$cmd" == *"$dir/"* ]] && continue
    echo "${p#/proc/}"
    return 0
  done
  return 1
}

route_remove() {
  local other
  if ip route show exact "$SERVICE_CIDR" proto "$ROUTE_PROTO" 2>/dev/null | grep -q blackhole; then
    if other="$(other_cluster_live "$CLUSTER_DIR")"; then
      log "kept blackhole route $SERVICE_CIDR: another cluster still uses it (kube-apiserver pid $other)"
      return 0
    fi
    ip route del blackhole "$SERVICE_CIDR" proto "$ROUTE_PROTO" && log "removed blackhole route $SERVICE_CIDR"
  fi
  return 0
}

# start NAME BIN ARGS... : background process, own session, pid file + log ($RUN, $LOGS).
start() {
  local name="$1"; shift
  log "starting $name"
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

# wait_for NAME SECONDS CMD... : poll CMD every 0.1 s. When NAME exits or is not ready in
# time, show its log tail, run the caller's `undo_start` (what to tear down), and fail.
wait_for() {
  local name="$1" secs="$2" i pid why; shift 2
  pid="$(cat "$RUN/$name.pid")"
  why="not ready after ${secs}s"
  for ((i = 0; i < secs * 10; i++)); do
    if "$@"; then return 0; fi
    if ! pid_alive "$pid"; then why="exited"; break; fi
    sleep 0.1
  done
  tail -n 40 "$LOGS/$name.log" >&2
  undo_start
  die "$name $why; log: $LOGS/$name.log"
}
