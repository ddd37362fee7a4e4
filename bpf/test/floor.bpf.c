// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark floor: an empty program on trace_open's hook. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit, struct pt_regs *regs, long ret)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
