#!/usr/bin/env bash
# Writes build/build-info.json: what tells two builds apart in `kubectl gadget version`
# (gadgets/framework/version.ts reads it): the git commit, whether the tree had uncommitted
# changes, and the build time. Run by scripts/build.sh (npm run build) and image/build-local.sh;
# `npx tsc` alone does not restamp it.
#
#   scripts/build-info.sh [OUT]     # default build/build-info.json; prints the build id
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/build/build-info.json}"

commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
dirty=false
# tracked files only: build outputs and scratch files do not make a tree dirty
if [[ "$commit" != unknown && -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  dirty=true
fi
# UTC, seconds; the build id's form of it has no separators (semver build metadata: [0-9A-Za-z-.])
time="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
id="$commit$([[ "$dirty" == true ]] && echo .dirty).$(date -u -d "$time" +%Y%m%dT%H%M%SZ)"

mkdir -p "$(dirname "$OUT")"
printf '{"commit":"%s","dirty":%s,"time":"%s","id":"%s"}\n' "$commit" "$dirty" "$time" "$id" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$id"
