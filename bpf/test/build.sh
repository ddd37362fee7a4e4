#!/usr/bin/env bash
# Build the test aids into build/bpf/test: the loader, workloads and the floor program.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/build/bpf/test"
T="$ROOT/bpf/test"
mkdir -p "$OUT"
bash "$ROOT/bpf/build.sh" >/dev/null
cc -O2 -Wall -Werror -o "$OUT/gadget-run" "$T/gadget-run.c" -lbpf
for w in "$T"/work-*.c; do
	[ -e "$w" ] || continue
	n="$(basename "$w" .c)"
	cc -O2 -Wall -Werror -o "$OUT/$n" "$w" -lpthread
done
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I "$ROOT/build" -I "$ROOT/bpf" \
	-c "$T/floor.bpf.c" -o "$OUT/floor.bpf.o"
