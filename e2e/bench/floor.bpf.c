// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark floor: empty programs on the hooks `trace open --local` attaches. floor_sys_exit is
 * trace_open's own hook (gadgets/trace_open/program.bpf.c); the other three are the container
 * tracker's (bpf/container_tracker.bpf.c), which every local run and the daemon attach too.
 * The benchmark picks a subset with autoload.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int floor_unshare_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int floor_unshare_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
