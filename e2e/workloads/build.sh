#!/usr/bin/env bash
# Builds the e2e test workload: build/bin/kg-workload, static so it also runs in a busybox
# container. Rebuilt only when older than its source or this script.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/e2e/workloads/kg-workload.c"
OUT="$ROOT/build/bin/kg-workload"
mkdir -p "$(dirname "$OUT")"
if [ -x "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ]; then
	exit 0
fi
gcc -O2 -Wall -Werror -static -pthread -o "$OUT.tmp" "$SRC"
mv "$OUT.tmp" "$OUT"
