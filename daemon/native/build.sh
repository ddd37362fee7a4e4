#!/usr/bin/env bash
# Builds the N-API addon (daemon/native/*.c) over system libbpf (plain gcc, no node-gyp: node's
# headers are in /usr/include/node) plus the test BPF objects used by daemon/src/bpf/*.test.ts.
# Idempotent: outputs are rebuilt only when a source is newer, and replaced atomically.
#   build/native/bpf_addon.node
#   build/native/test/{wrapper_test,bad_prog,iter_test}.bpf.o, build/native/test/loadgen
# Env: NODE_INCLUDE (default /usr/include/node), CC (gcc), CLANG (clang), FORCE=1 to rebuild.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/daemon/native"
out="$root/build/native"
node_inc="${NODE_INCLUDE:-/usr/include/node}"
cc="${CC:-gcc}"
clang="${CLANG:-clang}"
mkdir -p "$out/test"

# $1 = output, rest = inputs; true when the output must be (re)built.
stale() {
	local o="$1"
	shift
	[[ "${FORCE:-0}" == 1 || ! -e "$o" ]] && return 0
	local i
	for i in "$@"; do
		[[ "$i" -nt "$o" ]] && return 0
	done
	return 1
}

if [[ ! -f "$node_inc/node_api.h" ]]; then
	echo "build.sh: $node_inc/node_api.h not found (set NODE_INCLUDE)" >&2
	exit 1
fi

# The addon's sources: every daemon/native/*.c, sharing addon.h.
addon="$out/bpf_addon.node"
addon_srcs=("$src"/*.c)
if stale "$addon" "${addon_srcs[@]}" "$src/addon.h" "$0"; then
	tmp="$addon.tmp.$$"
	"$cc" -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -shared -fPIC \
		-fvisibility=hidden -I"$node_inc" "${addon_srcs[@]}" -lbpf -lpthread -o "$tmp"
	mv -f "$tmp" "$addon"
	echo "built $addon"
fi

# vmlinux.h is shared with bpf/build.sh; generate it only when missing (atomically).
vmlinux="$root/build/vmlinux.h"
if [[ ! -s "$vmlinux" ]]; then
	tmp="$vmlinux.tmp.$$"
	bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$tmp"
	mv -f "$tmp" "$vmlinux"
	echo "generated $vmlinux"
fi

for name in wrapper_test bad_prog iter_test; do
	obj="$out/test/$name.bpf.o"
	if stale "$obj" "$src/test/$name.bpf.c" "$root/bpf/gadget.h" "$0"; then
		tmp="$obj.tmp.$$"
		"$clang" -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
			-I "$root/build" -I "$root/bpf" -c "$src/test/$name.bpf.c" -o "$tmp"
		mv -f "$tmp" "$obj"
		echo "built $obj"
	fi
done

gen="$out/test/loadgen"
if stale "$gen" "$src/test/loadgen.c" "$0"; then
	"$cc" -O2 -Wall -Werror "$src/test/loadgen.c" -o "$gen.tmp.$$"
	mv -f "$gen.tmp.$$" "$gen"
	echo "built $gen"
fi
