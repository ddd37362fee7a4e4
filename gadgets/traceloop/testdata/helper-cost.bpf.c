// SPDX-License-Identifier: GPL-2.0
/*
 * What traceloop's program pays per helper call, on this kernel and CPU (e2e/bench/helper-cost.ts):
 * each program calls one helper LOOPS times through bpf_loop; `empty` is the loop alone. Run with
 * BPF_PROG_TEST_RUN on the caller's thread, so `uptr` (set by the caller) is its own memory.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define LOOPS 1000000

__u64 uptr = 0;	 /* 256 bytes of the caller's memory */
__u64 sink = 0;
__u32 faults = 0; /* failed reads: the program's return value */
__u8 buf[256];

static long empty(__u64 i, void *c)
{
	sink += i;
	return 0;
}

static long clock_boot(__u64 i, void *c)
{
	sink += bpf_ktime_get_boot_ns();
	return 0;
}

static long clock_mono(__u64 i, void *c)
{
	sink += bpf_ktime_get_ns();
	return 0;
}

static long current_task(__u64 i, void *c)
{
	sink += bpf_get_current_task();
	return 0;
}

static long read_kernel_16(__u64 i, void *c)
{
	if (bpf_probe_read_kernel(buf, 16, &sink) < 0)
		faults++;
	return 0;
}

#define USER_READ(name, n, ptr)                                            \
	static long name(__u64 i, void *c)                                 \
	{                                                                  \
		if (bpf_probe_read_user(buf, n, (const void *)(ptr)) < 0) \
			faults++;                                          \
		return 0;                                                  \
	}

USER_READ(read_user_8, 8, uptr)
USER_READ(read_user_64, 64, uptr)
USER_READ(read_user_256, 256, uptr)
/* a kernel address: refused by the access check before any copy */
USER_READ(read_user_refused, 8, &sink)

static long read_user_str_64(__u64 i, void *c)
{
	if (bpf_probe_read_user_str(buf, 64, (const void *)uptr) < 0)
		faults++;
	return 0;
}

#define PROG(fn)                                 \
	SEC("raw_tp")                            \
	int hc_##fn(void *ctx)                   \
	{                                        \
		faults = 0;                      \
		bpf_loop(LOOPS, fn, NULL, 0);    \
		return faults;                   \
	}

PROG(empty)
PROG(clock_boot)
PROG(clock_mono)
PROG(current_task)
PROG(read_kernel_16)
PROG(read_user_8)
PROG(read_user_64)
PROG(read_user_256)
PROG(read_user_str_64)
PROG(read_user_refused)

char LICENSE[] SEC("license") = "GPL";
