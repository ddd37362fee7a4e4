# Go build settings shared by the scripts that build pinned tools from the Go module proxy
# (scripts/k8s/build.sh, k8s/node/build-coredns.sh, k8s/standin/build.sh, helm-build.sh,
# krew-build.sh). Sourced, not executed; the sourcing script defines log and die.
# shellcheck shell=bash

KGADGET_CACHE="${KGADGET_CACHE:-${HOME:-/root}/.cache/kubectl-gadget}"

# go_env [MOD]: find the Go toolchain ($GO, else go on PATH, else /usr/local/go) and export one
# build environment for every tool: the module and build caches shared under $KGADGET_CACHE/go,
# the local toolchain unless GOTOOLCHAIN says otherwise, -mod=MOD (default mod: wrapper modules
# resolve their requirements; readonly for a pinned go.sum), no VCS stamp, no cgo, no workspace.
go_env() {
  if [[ -z "${GO:-}" ]]; then
    if command -v go >/dev/null 2>&1; then GO="$(command -v go)"
    else GO=/usr/local/go/bin/go; fi
  fi
  [[ -x "$GO" ]] || die "Go toolchain not found (set GO=/path/to/go)"
  export GOMODCACHE="$KGADGET_CACHE/go/mod"
  export GOCACHE="$KGADGET_CACHE/go/build"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
  export GOFLAGS="-mod=${1:-mod} -buildvcs=false"
  export CGO_ENABLED=0
  export GOWORK=off
  mkdir -p "$GOMODCACHE" "$GOCACHE"
}

# tool_cached BIN_DIR BIN...: take BIN_DIR's build lock on fd 9, held until the script exits (one
# build at a time: CI starts one in the background and a test that asks meanwhile waits), then
# succeed when every BIN is built and BIN_DIR/.complete says the build finished.
tool_cached() {
  local dir="$1" b
  shift
  mkdir -p "$dir"
  exec 9>"$dir/../.build.lock"
  flock 9
  [[ -f "$dir/.complete" ]] || return 1
  for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
}
