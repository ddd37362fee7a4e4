#!/usr/bin/env bash
# Compile the eBPF side: build/vmlinux.h, every gadgets/*/program.bpf.c into
# build/gadgets/<name>.bpf.o (+ <name>.layout.json), and build/bpf/container_tracker.bpf.o.
# Idempotent: a target is rebuilt only when it is older than one of its inputs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
cd "$ROOT"

need_tools() {
	command -v clang >/dev/null && command -v llvm-strip >/dev/null &&
		command -v bpftool >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ]
}
if ! need_tools; then
	echo "bpf/build.sh: installing clang, llvm, libbpf-dev, bpftool" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq clang llvm libbpf-dev bpftool >/dev/null
fi
# Debian puts bpftool in /usr/sbin, which is not always on PATH.
BPFTOOL="$(command -v bpftool || echo /usr/sbin/bpftool)"

mkdir -p "$BUILD/gadgets" "$BUILD/bpf"

if [ ! -s "$BUILD/vmlinux.h" ]; then
	"$BPFTOOL" btf dump file /sys/kernel/btf/vmlinux format c >"$BUILD/vmlinux.h.tmp"
	mv "$BUILD/vmlinux.h.tmp" "$BUILD/vmlinux.h"
fi

CFLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I "$BUILD" -I "$ROOT/bpf")
HEADERS=("$ROOT"/bpf/*.h "$BUILD/vmlinux.h")

# stale TARGET INPUT...: true when TARGET is missing or older than an input.
stale() {
	local target=$1
	shift
	[ -e "$target" ] || return 0
	local f
	for f in "$@"; do
		[ "$f" -nt "$target" ] && return 0
	done
	return 1
}

compile() {
	local src=$1 obj=$2
	if stale "$obj" "$src" "${HEADERS[@]}" "$ROOT/bpf/build.sh"; then
		echo "  BPF   ${obj#"$ROOT"/}"
		clang "${CFLAGS[@]}" -c "$src" -o "$obj.tmp"
		# Drop DWARF; .BTF/.BTF.ext stay (CO-RE and the layout need them).
		llvm-strip -g "$obj.tmp"
		mv "$obj.tmp" "$obj"
	fi
}

pids=()
objs=()
compile "$ROOT/bpf/container_tracker.bpf.c" "$BUILD/bpf/container_tracker.bpf.o" &
pids+=($!)
for src in "$ROOT"/gadgets/*/program.bpf.c; do
	[ -e "$src" ] || continue
	name="$(basename "$(dirname "$src")")"
	compile "$src" "$BUILD/gadgets/$name.bpf.o" &
	pids+=($!)
	objs+=("$BUILD/gadgets/$name.bpf.o")
done
fail=0
for p in "${pids[@]}"; do
	wait "$p" || fail=1
done
[ "$fail" = 0 ] || exit 1

for obj in "${objs[@]}"; do
	layout="${obj%.bpf.o}.layout.json"
	if stale "$layout" "$obj" "$ROOT/bpf/gen-layout.mjs"; then
		echo "  LAYOUT ${layout#"$ROOT"/}"
		BPFTOOL="$BPFTOOL" node "$ROOT/bpf/gen-layout.mjs" "$obj" "$layout"
	fi
done
