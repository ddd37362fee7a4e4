// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test object for Collection.iterRead and attach errors: an iter/task program printing "<tgid> <comm>" for the
 * main thread of every process whose tgid is target_tgid (0 = every process). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

SEC("iter/task")
int it_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task || task->pid != task->tgid)
		return 0;
	if (target_tgid && task->tgid != target_tgid)
		return 0;
	BPF_SEQ_PRINTF(seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}

/* Attaching fails on purpose (no such function; kernels without kprobes fail too): tests that
 * attach errors name the program and that attach() is all-or-nothing. Autoload it explicitly. */
SEC("?kprobe/wt_no_such_function_xyz")
int it_bad_attach(void *ctx)
{
	return 0;
}

/* Collection.testRun: BPF_PROG_TEST_RUN runs it on the caller's thread; it returns that thread's
 * tgid when it is target_tgid, else 1. Autoload it explicitly. */
SEC("?raw_tp")
int it_test_run(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return tgid == target_tgid ? tgid : 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
