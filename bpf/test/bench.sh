#!/usr/bin/env bash
# trace_open overhead on a tight open+close loop (best of 20 rounds, pinned to one CPU):
# untraced, floor (empty tp_btf/sys_exit program), traced (every open reported, reader draining
# every 10 ms like the daemon), filtered (this mntns known but not in an INCLUDE filter).
#   bash bpf/test/bench.sh [iterations] [cpu]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
B="$ROOT/build/bpf/test"
N=${1:-20000}
CPU=${2:-1}
PINS=/sys/fs/bpf/kg-bench
loop() { taskset -c "$CPU" "$B/work-open" loop "$N"; }
key() { python3 -c "import struct,sys;print(' '.join(str(b) for b in struct.pack('<Q',int(sys.argv[1]))))" "$1"; }

with() { # with ARGS...: run the loop while gadget-run ARGS is attached
	rm -f /tmp/kg-bench.err
	"$B/gadget-run" "$@" >/dev/null 2>/tmp/kg-bench.err &
	local pid=$!
	until grep -q ready /tmp/kg-bench.err 2>/dev/null; do sleep 0.05; done
	if [ -d "$PINS" ]; then
		bpftool map update pinned "$PINS/gadget_mntns_known" key $(key "$(stat -L -c %i /proc/self/ns/mnt)") value 1
	fi
	loop
	kill -INT "$pid"
	wait "$pid"
}

min() { python3 -c "import sys; print(min(map(float, sys.argv[1:])))" "$@"; }
# Interleaved repeats, best of each: other load on the machine only ever adds time.
u=() f=() t=() x=()
for _ in $(seq "${REPEAT:-3}"); do
	u+=("$(loop)")
	f+=("$(with "$B/floor.bpf.o")")
	t+=("$(with -c "$ROOT/build/gadgets/trace_open.bpf.o")")
	mkdir -p "$PINS"
	x+=("$(with -c -P "$PINS" -s gadget_filter_mode=1 "$ROOT/build/gadgets/trace_open.bpf.o")")
	rmdir "$PINS"
done
rm -f /tmp/kg-bench.err
python3 - "$(min "${u[@]}")" "$(min "${f[@]}")" "$(min "${t[@]}")" "$(min "${x[@]}")" <<'PY'
import sys
u, f, t, x = map(float, sys.argv[1:])
print(f"untraced {u:.0f} ns  floor {f:.0f} ns ({f/u:.2f}x)  traced {t:.0f} ns ({t/u:.2f}x untraced)  "
      f"filtered-out {x:.0f} ns ({x/f:.2f}x floor)")
PY
