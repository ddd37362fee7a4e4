#!/usr/bin/env bash
# Build helm from the Go module proxy, cached by version, with the same cache layout as
# scripts/k8s/build.sh (for the chart's tests: e2e/k8s/helm.test.ts).
#
#   scripts/helm-build.sh              # build (or reuse) the pinned version
#   scripts/helm-build.sh --print-bin  # print the bin dir and exit (no build)
#
# Environment:
#   KGADGET_CACHE         cache root (default: $HOME/.cache/kubectl-gadget)
#   KGADGET_HELM_VERSION  helm.sh/helm/v4 version (default: pinned below)
#
# Layout:
#   $KGADGET_CACHE/helm/<version>/bin/helm
#   $KGADGET_CACHE/helm/<version>/wrapper/   generated wrapper module
#   $KGADGET_CACHE/go/mod                    GOMODCACHE (shared with the k8s build)
#   $KGADGET_CACHE/go/build                  GOCACHE
set -euo pipefail

# shellcheck source=lib-go.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-go.sh"

HELM_VERSION="${KGADGET_HELM_VERSION:-v4.3.2}"
BIN_DIR="$KGADGET_CACHE/helm/$HELM_VERSION/bin"

log() { printf '[helm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "$BIN_DIR"
  exit 0
fi
if tool_cached "$BIN_DIR" helm; then
  log "helm $HELM_VERSION cached in $BIN_DIR"
  exit 0
fi

go_env

wrapper="$KGADGET_CACHE/helm/$HELM_VERSION/wrapper"
mkdir -p "$wrapper"
# A wrapper module that requires helm: its dependencies at the versions its go.mod pins.
cat >"$wrapper/go.mod" <<MOD
module kgadget.local/helm-build

go 1.25.0

require helm.sh/helm/v4 $HELM_VERSION
MOD
[[ -f "$wrapper/go.sum" ]] || : >"$wrapper/go.sum"

jobs="${KGADGET_BUILD_JOBS:-2}"
t0=$(date +%s)
vpkg=helm.sh/helm/v4/internal/version
log "go build helm.sh/helm/v4@$HELM_VERSION (cmd/helm; cold: a few minutes on 2 cores)"
(cd "$wrapper" &&
  "$GO" build -p "$jobs" -trimpath \
    -ldflags="-s -w -X $vpkg.version=$HELM_VERSION -X $vpkg.gitTreeState=clean" \
    -o "$BIN_DIR/helm.tmp" helm.sh/helm/v4/cmd/helm)
mv -f "$BIN_DIR/helm.tmp" "$BIN_DIR/helm"
date -u +%FT%TZ >"$BIN_DIR/.complete"
log "helm $HELM_VERSION built in $(($(date +%s) - t0))s -> $BIN_DIR"
