#!/usr/bin/env bash
# Build the Kubernetes control-plane and node binaries (and, when needed, etcd)
# from the Go module proxy, cached by version.
#
#   scripts/k8s/build.sh            # build (or reuse) the pinned version
#   scripts/k8s/build.sh --print-bin  # print the bin dir and exit (no build)
#
# Environment:
#   KGADGET_CACHE        cache root (default: $HOME/.cache/kubectl-gadget)
#   KGADGET_K8S_VERSION  k8s.io/kubernetes version (default: pinned below)
#   KGADGET_ETCD_VERSION etcd v3.5 version to build (default: pinned below)
#   KGADGET_BUILD_ETCD   1 = also build etcd 3.5 into the same bin dir (default: 0)
#   KGADGET_BUILD_KUBE_ROUTER 1 = also build kube-router (the NetworkPolicy enforcer of
#                        `up.sh --node --netpol`, a test oracle: never shipped) (default: 0)
#   KGADGET_KUBE_ROUTER_VERSION kube-router version (default: pinned in lib.sh)
#   KGADGET_BUILD_JOBS   go build -p (default: number of CPUs, max 2)
#
# Layout:
#   $KGADGET_CACHE/k8s/<version>/bin/{kube-apiserver,kube-controller-manager,
#                                     kube-scheduler,kubelet,kube-proxy,etcd}
#   $KGADGET_CACHE/kube-router/<version>/bin/kube-router
#   $KGADGET_CACHE/k8s/<version>/wrapper/   generated wrapper module
#   $KGADGET_CACHE/go/mod                   GOMODCACHE
#   $KGADGET_CACHE/go/build                 GOCACHE
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "$K8S_BIN_DIR"
  exit 0
fi

# The Go toolchain is only needed when something must be built: go_env (lib-go.sh) finds it and
# sets the build environment. Go >= 1.25 is required (k8s 1.34's go.mod); set GOTOOLCHAIN=auto to
# let an older go fetch a newer toolchain from the module proxy.
jobs="${KGADGET_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
# Each compile is itself parallel and a k8s link takes GBs of RAM: -p 2 is
# as fast as more on small machines and keeps memory bounded.
if (( jobs > 2 )) && [[ -z "${KGADGET_BUILD_JOBS:-}" ]]; then jobs=2; fi
mkdir -p "$K8S_BIN_DIR"

t_all=$(date +%s)

have_all=1
for b in "${BINS[@]}"; do [[ -x "$K8S_BIN_DIR/$b" ]] || have_all=0; done
if [[ "$have_all" == 1 && -f "$K8S_BIN_DIR/.k8s-complete" ]]; then
  log "kubernetes $K8S_VERSION binaries cached in $K8S_BIN_DIR"
else
  go_env
  wrapper="$KGADGET_CACHE/k8s/$K8S_VERSION/wrapper"
  mkdir -p "$wrapper"
  staging_ver="v0.${K8S_VERSION#v1.}"
  log "resolving k8s.io/kubernetes@$K8S_VERSION (staging modules at $staging_ver)"
  t0=$(date +%s)
  gomod="$(cd "$wrapper" && GOFLAGS= "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION go.mod"
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._/-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod" | sort -u)
  [[ -n "$staging" ]] || die "no staging replace lines found in $gomod"
  {
    echo "module kgadget.local/k8s-build"
    echo
    echo "go 1.25.0"
    echo
    # k8s.io/kubernetes builds with this godebug default; a dependency's
    # godebug line is ignored, so repeat it in the main module.
    grep -E '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_ver"; done
    echo ")"
  } > "$wrapper/go.mod"
  [[ -f "$wrapper/go.sum" ]] || : > "$wrapper/go.sum"
  log "wrapper module: $wrapper/go.mod ($(echo "$staging" | wc -l) staging replaces)"

  # Version stamping, like hack/lib/version.sh does.
  major="${K8S_VERSION#v}"; major="${major%%.*}"
  minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
  bdate="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  xflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    xflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    xflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$bdate"
  done

  pkgs=()
  for b in "${BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  log "go build -p $jobs ${BINS[*]} (cold: 5-10 min on 2 cores)"
  (cd "$wrapper" && "$GO" build -p "$jobs" -trimpath -ldflags="-s -w$xflags" -o "$K8S_BIN_DIR/" "${pkgs[@]}")
  for b in "${BINS[@]}"; do [[ -x "$K8S_BIN_DIR/$b" ]] || die "missing $K8S_BIN_DIR/$b after build"; done
  date -u +%FT%TZ > "$K8S_BIN_DIR/.k8s-complete"
  log "kubernetes binaries built in $(( $(date +%s) - t0 ))s"
fi

if [[ "${KGADGET_BUILD_ETCD:-0}" == 1 ]]; then
  if [[ -x "$K8S_BIN_DIR/etcd" && -f "$K8S_BIN_DIR/.etcd-$ETCD_VERSION" ]]; then
    log "etcd $ETCD_VERSION cached in $K8S_BIN_DIR"
  else
    go_env
    t0=$(date +%s)
    ewrap="$KGADGET_CACHE/etcd/$ETCD_VERSION/wrapper"
    mkdir -p "$ewrap"
    # server/v3 is the etcd main package in 3.5; its go.mod replaces the sibling
    # modules with ../ paths (ignored in a dependency), so build it from a
    # wrapper module that requires it: MVS then picks the sibling versions.
    cat > "$ewrap/go.mod" <<MOD
module kgadget.local/etcd-build

go 1.23

require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	// reflect2 < 1.0.2 crashes at run time with Go >= 1.18.
	github.com/modern-go/reflect2 v1.0.2
)
MOD
    [[ -f "$ewrap/go.sum" ]] || : > "$ewrap/go.sum"
    log "go build etcd $ETCD_VERSION"
    (cd "$ewrap" && "$GO" build -p "$jobs" -trimpath -ldflags="-s -w" -o "$K8S_BIN_DIR/etcd" go.etcd.io/etcd/server/v3)
    touch "$K8S_BIN_DIR/.etcd-$ETCD_VERSION"
    log "etcd built in $(( $(date +%s) - t0 ))s"
  fi
fi

if [[ "${KGADGET_BUILD_KUBE_ROUTER:-0}" == 1 ]]; then
  if [[ -x "$KUBE_ROUTER_BIN" && -f "$KUBE_ROUTER_BIN.complete" ]]; then
    log "kube-router $KUBE_ROUTER_VERSION cached in $KUBE_ROUTER_BIN"
  else
    go_env
    t0=$(date +%s)
    kwrap="$KGADGET_CACHE/kube-router/$KUBE_ROUTER_VERSION/wrapper"
    mkdir -p "$kwrap" "$(dirname "$KUBE_ROUTER_BIN")"
    # A wrapper module that requires kube-router, as for etcd: the versions of its
    # dependencies are the ones its go.mod pins (it has no replace lines).
    cat > "$kwrap/go.mod" <<MOD
module kgadget.local/kube-router-build

go 1.21

require github.com/cloudnativelabs/kube-router/v2 $KUBE_ROUTER_VERSION
MOD
    [[ -f "$kwrap/go.sum" ]] || : > "$kwrap/go.sum"
    kpkg=github.com/cloudnativelabs/kube-router/v2
    log "go build kube-router $KUBE_ROUTER_VERSION (cold: 3-6 min on 2 cores)"
    (cd "$kwrap" && "$GO" build -p "$jobs" -trimpath \
      -ldflags="-s -w -X $kpkg/pkg/version.Version=$KUBE_ROUTER_VERSION -X $kpkg/pkg/version.BuildDate=$(date -u +%FT%TZ)" \
      -o "$KUBE_ROUTER_BIN.tmp" "$kpkg/cmd/kube-router")
    mv "$KUBE_ROUTER_BIN.tmp" "$KUBE_ROUTER_BIN"
    date -u +%FT%TZ > "$KUBE_ROUTER_BIN.complete"
    log "kube-router built in $(( $(date +%s) - t0 ))s"
  fi
fi

log "binaries in $K8S_BIN_DIR (total $(( $(date +%s) - t_all ))s)"
[[ "${KGADGET_QUIET:-0}" == 1 ]] || ls -l "$K8S_BIN_DIR" >&2
