// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trace_exec: successful and failed execve/execveat.
 *
 * Success: tp_btf/sched_process_exec, after the new image is in place: argv is read in one copy
 * from the new mm (arg_start..arg_end), comm is the new program's, exepath is bprm->file.
 * Failure: the execve/execveat syscall-exit tracepoints with ret < 0. The original arguments are
 * still in pt_regs (x86-64 leaves di/si/dx/r10/r8 alone when exec fails), so no enter hook or
 * per-call map is needed; per-syscall tracepoints cost other syscalls a bitmap test instead of
 * a BPF program run.
 */
#define GADGET_FIELD_FILTER /* -F on pid, tid, uid, gid, comm in the kernel */
#include "gadget.h"
#include "path.h"

#define AT_EMPTY_PATH 0x1000

#define PATH_LEN 512
/* argv bytes kept (NULs included); a power of two, offsets are masked with it */
#define ARGS_MAX 16384
/* failed exec: longest single argument read (the verifier needs room for it past any offset) */
#define ARG_CHUNK 12288
/* failed exec: argv pointers looked at */
#define MAX_ARGS 1024

struct event {
	__u64 timestamp;
	__u64 mntns_id; /* inode (alias-resolved): the user-visible column */
	__u64 mntns_uid; /* unique id of the task's own namespace: the container join key */
	__u32 pid;
	__u32 tid; /* the thread that called exec (differs from pid for a non-leader thread) */
	__u32 uid;
	__u32 gid;
	char comm[16];
	__u32 ppid;
	char pcomm[16];
	__s32 ret; /* 0 or -errno */
	__u32 args_count; /* argc of the exec */
	__u32 args_size; /* bytes in args[] */
	bool args_truncated; /* args[] holds less than all of argv */
	__u8 __pad[7];
	char cwd[PATH_LEN];
	/* success: path of the executed file (the interpreter for #! scripts); failure: the filename
	 * as passed, or for execveat(fd, "", AT_EMPTY_PATH) the path of fd */
	char exepath[PATH_LEN];
	char args[]; /* argv, NUL-separated */
};
GADGET_EVENT(event);

/* Mutable (.bss): the runs sharing this loaded gadget change it while loaded; true only when
 * every run asked --ignore-failed (each run drops failed execs it did not ask for itself). */
bool ignore_failed = false;

struct scratch {
	const char *const *argv; /* failed exec: user argv */
	__u32 off; /* failed exec: bytes of args[] filled */
	__u32 count; /* failed exec: argv entries seen */
	__u8 buf[sizeof(struct event) + ARGS_MAX + ARG_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} exec_scratch SEC(".maps");

static __always_inline void fill_common(struct event *ev, struct task_struct *task, __u64 mntns)
{
	struct task_struct *parent = task->real_parent;

	ev->timestamp = bpf_ktime_get_boot_ns();
	ev->mntns_id = mntns;
	ev->mntns_uid = gadget_task_mntns_uid(task);
	ev->pid = task->tgid;
	gadget_task_uid_gid(task, &ev->uid, &ev->gid);
	gadget_task_comm(task, ev->comm);
	ev->ppid = parent->tgid;
	gadget_task_comm(parent, ev->pcomm);
	gadget_path_cwd(ev->cwd, sizeof(ev->cwd));
}

static __always_inline void submit(struct event *ev, __u32 args_size)
{
	if (args_size > ARGS_MAX)
		args_size = ARGS_MAX;
	ev->args_size = args_size;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev) + args_size, 0))
		gadget_count_lost();
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(trace_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct mm_struct *mm;
	struct scratch *s;
	struct event *ev;
	__u32 zero = 0;
	__u64 mntns, len;

	mntns = gadget_task_mntns_raw(p);
	if (gadget_filter_raw_mntns(&mntns))
		return 0;
	if (gadget_self_tgid && p->tgid == gadget_self_tgid)
		return 0;
	if (gadget_fields_filtered_out(p, old_pid))
		return 0;
	s = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!s)
		return 0;
	ev = (struct event *)s->buf;

	fill_common(ev, p, mntns);
	ev->tid = old_pid;
	ev->ret = 0;
	ev->args_count = bprm->argc;
	gadget_path_resolve(&bprm->file->f_path, ev->exepath, sizeof(ev->exepath));

	/* argv as the kernel copied it to the new stack: one read, already NUL-separated. */
	mm = p->mm;
	len = mm->arg_end - mm->arg_start;
	ev->args_truncated = len > ARGS_MAX;
	if (len > ARGS_MAX)
		len = ARGS_MAX;
	if (bpf_probe_read_user(ev->args, len, (void *)mm->arg_start))
		len = 0;
	if (ev->args_truncated)
		ev->args[ARGS_MAX - 1] = '\0';
	submit(ev, len);
	return 0;
}

/* One argv entry per call; state in the scratch value so the callback verifies once. */
static long read_arg(__u32 i, void *ctx)
{
	struct scratch *s;
	struct event *ev;
	const char *arg;
	__u64 off, room; /* 64-bit: no zero-extended copy that would lose the clamp */
	__u32 zero = 0;
	long n;

	s = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!s)
		return 1;
	ev = (struct event *)s->buf;
	if (bpf_probe_read_user(&arg, sizeof(arg), &s->argv[i]) || !arg)
		return 1;
	s->count++;
	off = s->off;
	if (off >= ARGS_MAX) {
		ev->args_truncated = true;
		return 0; /* keep counting */
	}
	room = ARGS_MAX - off;
	if (room > ARG_CHUNK)
		room = ARG_CHUNK;
	n = bpf_probe_read_user_str(ev->args + (off & (ARGS_MAX - 1)), room, arg);
	if (n <= 0)
		return 1;
	if (n == room) {
		/* cut: this argument, or the buffer, ended first */
		ev->args_truncated = true;
		s->off = ARGS_MAX;
		return 0;
	}
	s->off = off + n;
	return 0;
}

static __always_inline int failed_exec(void *ctx, bool at)
{
	struct trace_event_raw_sys_exit *args = ctx;
	struct task_struct *task;
	struct pt_regs *regs;
	const char *filename;
	struct scratch *s;
	struct event *ev;
	__u32 zero = 0;
	__u64 mntns;
	long ret = args->ret;

	if (ignore_failed || ret >= 0)
		return 0;
	task = bpf_get_current_task_btf();
	mntns = gadget_task_mntns_raw(task);
	if (gadget_filter_raw_mntns(&mntns))
		return 0;
	if (gadget_self_tgid && task->tgid == gadget_self_tgid)
		return 0;
	if (gadget_fields_filtered_out(task, task->pid))
		return 0;
	s = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!s)
		return 0;
	ev = (struct event *)s->buf;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);

	fill_common(ev, task, mntns);
	ev->tid = task->pid;
	ev->ret = ret;
	/* execve(filename, argv, envp); execveat(dirfd, filename, argv, envp, flags) */
	filename = (const char *)(at ? regs->si : regs->di);
	s->argv = (const char *const *)(at ? regs->dx : regs->si);
	if (bpf_probe_read_user_str(ev->exepath, sizeof(ev->exepath), filename) <= 1) {
		ev->exepath[0] = '\0';
		/* fexecve-style: the file is the fd itself (e.g. a memfd) */
		if (at && (regs->r8 & AT_EMPTY_PATH))
			gadget_path_of_fd(regs->di, ev->exepath, sizeof(ev->exepath));
	}

	s->off = 0;
	s->count = 0;
	ev->args_truncated = false;
	bpf_loop(MAX_ARGS, read_arg, NULL, 0);
	ev->args_count = s->count;
	if (s->count == MAX_ARGS)
		ev->args_truncated = true; /* there may be more */
	submit(ev, s->off);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int trace_execve_exit(void *ctx)
{
	return failed_exec(ctx, false);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int trace_execveat_exit(void *ctx)
{
	return failed_exec(ctx, true);
}

char LICENSE[] SEC("license") = "GPL";
