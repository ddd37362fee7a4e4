#!/usr/bin/env bash
# Build CoreDNS (the cluster DNS of the local node) from the Go module proxy, cached by version:
# $KGADGET_CACHE/k8s/<k8s version>/bin/coredns. Only the plugins in coredns-main.go are linked
# (bind, cache, errors, health, kubernetes, log, ready); k8s.io/{api,apimachinery,client-go} are
# pinned to the same v0.Y.Z as the Kubernetes binaries, so most of the Go build cache is shared.
#   scripts/k8s/node/build-coredns.sh [--print-bin]
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
. "$SCRIPT_DIR/../lib.sh"

COREDNS_VERSION="${KGADGET_COREDNS_VERSION:-v1.13.2}"
out="$K8S_BIN_DIR/coredns"
stamp="$K8S_BIN_DIR/.coredns-$COREDNS_VERSION"
if [[ "${1:-}" == --print-bin ]]; then echo "$out"; exit 0; fi
if [[ -x "$out" && -f "$stamp" ]]; then exit 0; fi

go_env
staging="v0.${K8S_VERSION#v1.}"   # v1.34.12 -> v0.34.12
wrapper="$KGADGET_CACHE/k8s/coredns-$COREDNS_VERSION/wrapper"
t0=$(date +%s)
log "building CoreDNS $COREDNS_VERSION (k8s.io client libraries $staging)"
rm -rf "$wrapper"
mkdir -p "$wrapper" "$K8S_BIN_DIR"
cp "$SCRIPT_DIR/coredns-main.go" "$wrapper/main.go"
cat > "$wrapper/go.mod" <<MOD
module kgadget.local/coredns

go 1.24.0

require (
	github.com/coredns/coredns $COREDNS_VERSION
	k8s.io/api $staging
	k8s.io/apimachinery $staging
	k8s.io/client-go $staging
)
MOD
(
  cd "$wrapper"
  "$GO" mod tidy >&2
  "$GO" build -trimpath -ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    -o "$out.tmp" . >&2
)
mv "$out.tmp" "$out"
touch "$stamp"
log "CoreDNS built in $(( $(date +%s) - t0 ))s: $out"
