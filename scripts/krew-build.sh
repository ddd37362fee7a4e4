#!/usr/bin/env bash
# Build krew (the kubectl plugin manager) and its manifest checker from the Go module proxy,
# cached by version, with the same cache layout as scripts/k8s/build.sh.
#
#   scripts/krew-build.sh              # build (or reuse) the pinned version
#   scripts/krew-build.sh --print-bin  # print the bin dir and exit (no build)
#
# Environment:
#   KGADGET_CACHE         cache root (default: $HOME/.cache/kubectl-gadget)
#   KGADGET_KREW_VERSION  sigs.k8s.io/krew version (default: pinned below)
#
# Layout:
#   $KGADGET_CACHE/krew/<version>/bin/{kubectl-krew,validate-krew-manifest}
#   $KGADGET_CACHE/krew/<version>/wrapper/   generated wrapper module
#   $KGADGET_CACHE/go/mod                    GOMODCACHE (shared with the k8s build)
#   $KGADGET_CACHE/go/build                  GOCACHE
set -euo pipefail

# shellcheck source=lib-go.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-go.sh"

KREW_VERSION="${KGADGET_KREW_VERSION:-v0.4.3}"
BIN_DIR="$KGADGET_CACHE/krew/$KREW_VERSION/bin"

log() { printf '[krew %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "$BIN_DIR"
  exit 0
fi
if tool_cached "$BIN_DIR" kubectl-krew validate-krew-manifest; then
  log "krew $KREW_VERSION cached in $BIN_DIR"
  exit 0
fi

go_env

wrapper="$KGADGET_CACHE/krew/$KREW_VERSION/wrapper"
mkdir -p "$wrapper"
# krew's own go.mod pins modern-go/reflect2 v1.0.1, which crashes at run time with Go >= 1.18:
# the wrapper raises it (MVS keeps the higher version).
cat >"$wrapper/go.mod" <<MOD
module kgadget.local/krew-build

go 1.17

require (
	sigs.k8s.io/krew $KREW_VERSION
	github.com/modern-go/reflect2 v1.0.2
)
MOD
[[ -f "$wrapper/go.sum" ]] || : >"$wrapper/go.sum"

t0=$(date +%s)
vpkg=sigs.k8s.io/krew/internal/version
log "go build sigs.k8s.io/krew@$KREW_VERSION (cmd/krew, cmd/validate-krew-manifest)"
(cd "$wrapper" &&
  "$GO" build -trimpath -tags netgo -ldflags="-s -w -X $vpkg.gitTag=$KREW_VERSION -X $vpkg.gitCommit=modproxy" \
    -o "$BIN_DIR/kubectl-krew.tmp" sigs.k8s.io/krew/cmd/krew &&
  "$GO" build -trimpath -ldflags="-s -w" -o "$BIN_DIR/validate-krew-manifest.tmp" \
    sigs.k8s.io/krew/cmd/validate-krew-manifest)
mv -f "$BIN_DIR/kubectl-krew.tmp" "$BIN_DIR/kubectl-krew"
mv -f "$BIN_DIR/validate-krew-manifest.tmp" "$BIN_DIR/validate-krew-manifest"
date -u +%FT%TZ >"$BIN_DIR/.complete"
log "krew $KREW_VERSION built in $(($(date +%s) - t0))s -> $BIN_DIR"
