// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trace_open: open, openat, openat2 and creat, reported at syscall exit.
 *
 * One tp_btf/sys_exit program: the syscall number and the original arguments are still in
 * pt_regs at exit (x86-64 leaves di/si/dx/r10 alone), so no enter hook or per-call map write is
 * needed, and the user path is read after the kernel has faulted it in. Every other syscall
 * costs one load and a few compares.
 */
#define GADGET_FIELD_FILTER /* -F on pid, tid, uid, gid, comm in the kernel */
#include "gadget.h"
#include "path.h"

/* x86-64 syscall numbers (vmlinux.h has no __NR_ macros). */
#define NR_open 2
#define NR_creat 85
#define NR_openat 257
#define NR_openat2 437

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_TMPFILE 020200000
#define S_IALLUGO 07777

#define MAX_PREFIXES 8
#define PREFIX_LEN 64 /* 63 chars + NUL; gadgets/trace_open/gadget.ts packs rows of this size */

struct event {
	__u64 timestamp;
	__u64 mntns_id; /* inode (alias-resolved): the user-visible column */
	__u64 mntns_uid; /* unique id of the task's own namespace: the container join key */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	char comm[16];
	__s32 ret; /* fd or -errno */
	__u32 flags;
	__u32 mode;
	__s32 dirfd; /* AT_FDCWD (-100) for open and creat */
	/* Bytes in path[]: the path as passed, NUL, then (full_path) the resolved path, NUL. */
	__u32 path_size;
	/* strlen of the resolved path at the end of path[]; 0 when not requested or unknown */
	__u32 full_path_len;
	char path[];
};
GADGET_EVENT(event);

/*
 * Mutable (.bss): one loaded trace_open serves every run on the node and the daemon rewrites
 * these as runs come and go, so they pass what any run wants (gadget.ts, shared.globals): failed_only
 * when every run asked --failed, full_path when one asked --full-path, the union of the runs'
 * prefixes when it fits (else none). Each run applies its own filter to what passes.
 */
bool failed_only = false;
/* Also resolve the full path (see README.md in this folder); costs a dentry walk per event. */
bool full_path = false;
/* An event passes when path (or, with full_path, the resolved path) starts with one of the
 * first prefix_count NUL-terminated prefixes. 0: no path filter. */
__u32 prefix_count = 0;
char prefixes[MAX_PREFIXES][PREFIX_LEN] = {};

/* path as passed (<= PATH_MAX) + full path (<= PATH_MAX) + room the verifier needs because it
 * cannot relate a variable offset to the matching variable read size. */
#define PATHS_SPACE (3 * GADGET_PATH_MAX)

struct scratch {
	__u8 buf[sizeof(struct event) + PATHS_SPACE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} open_scratch SEC(".maps");

static __always_inline bool has_prefix(const char *s)
{
	for (__u32 i = 0; i < MAX_PREFIXES; i++) {
		if (i >= prefix_count)
			return false;
		for (__u32 j = 0; j < PREFIX_LEN; j++) {
			char c = prefixes[i][j];

			if (!c)
				return true;
			if (s[j] != c)
				break;
		}
	}
	return false;
}

/* Resolved path into fp (n: size of the path as passed in ev->path, NUL included). */
static __always_inline __u32 resolve_full_path(struct event *ev, char *fp, __u32 n)
{
	__u32 dl, rem;
	long m;

	if (ev->ret >= 0)
		return gadget_path_of_fd(ev->ret, fp, GADGET_PATH_MAX);
	if (ev->path[0] == '/') {
		bpf_probe_read_kernel(fp, n, ev->path);
		return n - 1;
	}
	/* Failed relative open: the directory it was relative to, joined with the path. */
	if (ev->dirfd == AT_FDCWD)
		dl = gadget_path_cwd(fp, GADGET_PATH_MAX);
	else
		dl = gadget_path_of_fd(ev->dirfd, fp, GADGET_PATH_MAX);
	if (dl == 0)
		return 0;
	if (dl == 1 && fp[0] == '/')
		dl = 0; /* the root: avoid "//" */
	dl &= GADGET_PATH_MAX - 1;
	fp[dl] = '/';
	rem = GADGET_PATH_MAX - 1 - dl;
	barrier_var(rem); /* keep clang from folding the mask below into an xor */
	rem &= GADGET_PATH_MAX - 1;
	m = bpf_probe_read_kernel_str(fp + dl + 1, rem, ev->path);
	if (m <= 0) {
		fp[dl] = '\0';
		return dl;
	}
	return dl + m;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(trace_open_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	struct task_struct *task;
	const char *upath;
	struct event *ev;
	__u64 mntns;
	__u32 zero = 0, tgid, flags, mode, size;
	__s32 dirfd;
	long n;

	if (nr != NR_openat && nr != NR_open && nr != NR_openat2 && nr != NR_creat)
		return 0;
	if (failed_only && ret >= 0)
		return 0;
	task = bpf_get_current_task_btf();
	if (gadget_in_compat_syscall(task))
		return 0;
	mntns = gadget_task_mntns_raw(task);
	if (gadget_filter_raw_mntns(&mntns))
		return 0;
	tgid = task->tgid;
	if (gadget_self_tgid && tgid == gadget_self_tgid)
		return 0;
	if (gadget_fields_filtered_out(task, task->pid))
		return 0;

	switch (nr) {
	case NR_openat:
		dirfd = regs->di;
		upath = (const char *)regs->si;
		flags = regs->dx;
		mode = regs->r10;
		break;
	case NR_open:
		dirfd = AT_FDCWD;
		upath = (const char *)regs->di;
		flags = regs->si;
		mode = regs->dx;
		break;
	case NR_creat:
		dirfd = AT_FDCWD;
		upath = (const char *)regs->di;
		flags = O_CREAT | O_WRONLY | O_TRUNC;
		mode = regs->si;
		break;
	default: { /* openat2(dirfd, path, struct open_how *, size) */
		struct open_how how = {};

		dirfd = regs->di;
		upath = (const char *)regs->si;
		bpf_probe_read_user(&how, sizeof(how.flags) + sizeof(how.mode), (void *)regs->dx);
		flags = how.flags;
		mode = how.mode;
		break;
	}
	}

	/* Like the kernel (build_open_how): mode only counts when a file may be created. */
	if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE)
		mode = 0;
	mode &= S_IALLUGO;

	ev = bpf_map_lookup_elem(&open_scratch, &zero);
	if (!ev)
		return 0;
	n = bpf_probe_read_user_str(ev->path, GADGET_PATH_MAX, upath);
	if (n <= 0) {
		ev->path[0] = '\0';
		n = 1;
	}
	ev->ret = ret;
	ev->dirfd = dirfd;
	ev->full_path_len = 0;
	size = n;
	if (full_path) {
		char *fp = ev->path + (n & (2 * GADGET_PATH_MAX - 1));
		__u32 fl = resolve_full_path(ev, fp, n);

		if (prefix_count && !has_prefix(ev->path) && !(fl && has_prefix(fp)))
			return 0;
		ev->full_path_len = fl;
		size += fl + 1;
	} else if (prefix_count && !has_prefix(ev->path)) {
		return 0;
	}

	ev->timestamp = bpf_ktime_get_boot_ns();
	ev->mntns_id = mntns;
	ev->mntns_uid = gadget_task_mntns_uid(task);
	ev->pid = tgid;
	ev->tid = task->pid;
	gadget_task_uid_gid(task, &ev->uid, &ev->gid);
	gadget_task_comm(task, ev->comm);
	ev->flags = flags;
	ev->mode = mode;
	ev->path_size = size;
	if (size > 2 * GADGET_PATH_MAX)
		size = 2 * GADGET_PATH_MAX;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev) + size, 0))
		gadget_count_lost();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
