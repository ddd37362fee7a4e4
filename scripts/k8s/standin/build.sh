#!/usr/bin/env bash
# Build (or reuse) kgadget-standin-kubelet, the SIMULATED kubelet port-forward server of the scale
# harness (e2e/scale; see main.go). Pinned module versions are in go.mod/go.sum here; the binary
# is cached by the hash of those files and main.go, like scripts/k8s/build.sh caches by version.
#
#   scripts/k8s/standin/build.sh   # prints the binary's path on stdout
#
# Layout: $KGADGET_CACHE/standin/<hash>/kgadget-standin-kubelet; GOMODCACHE and GOCACHE are the
# ones of scripts/k8s/build.sh ($KGADGET_CACHE/go/{mod,build}).
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
. "$DIR/../lib.sh"

hash="$(cat "$DIR/go.mod" "$DIR/go.sum" "$DIR/main.go" | sha256sum | cut -c1-16)"
out="$KGADGET_CACHE/standin/$hash/kgadget-standin-kubelet"
if [[ -x "$out" ]]; then
  echo "$out"
  exit 0
fi
# -mod=readonly: the pinned go.mod/go.sum are used as they are
go_env readonly
mkdir -p "$(dirname "$out")"
t0=$(date +%s)
(cd "$DIR" && "$GO" build -trimpath -ldflags="-s -w" -o "$out.tmp" .)
mv "$out.tmp" "$out"
log "kgadget-standin-kubelet built in $(( $(date +%s) - t0 ))s: $out"
echo "$out"
