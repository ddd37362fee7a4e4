/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared kernel-side contract of every gadget: ring buffer, lost counter, container filter.
 * The daemon's runtime (daemon/src/bpf) relies on these exact map and variable names. */
#ifndef __GADGET_H
#define __GADGET_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Keeps the record struct in BTF so bpf/gen-layout.mjs can derive the decoder from it. */
#define GADGET_EVENT(type) const volatile struct type *__gadget_event_##type __attribute__((unused))

/* Sized by the loader (bpf_map__set_max_entries) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

/* Records that could not be reserved; read and summed per CPU by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gadget_lost SEC(".maps");

/* The set of mount namespaces the container filter passes (the union of what the runs sharing this
 * loaded gadget want), kept current by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} gadget_mntns_filter SEC(".maps");

/* Daemon-wide gadget_mntns_known and gadget_mntns_alias, shared with the container tracker. */
#include "mntns_maps.h"
#include "ns_uid.h"

#define GADGET_FILTER_NONE 0
#define GADGET_FILTER_INCLUDE 1 /* only mntns in gadget_mntns_filter (+ not-yet-known ones) */
#define GADGET_FILTER_EXCLUDE 2 /* everything but mntns in gadget_mntns_filter (--host) */

/* Mutable (.bss): one loaded gadget serves every run of it on the node, and the daemon rewrites
 * the mode while loaded as runs come and go (daemon/src/runtime/gadget-instance.ts). */
__u8 gadget_filter_mode = GADGET_FILTER_NONE;
/* The tracer's own process, never traced. */
const volatile __u32 gadget_self_tgid = 0;

static __always_inline __u64 gadget_task_mntns(struct task_struct *task)
{
	__u64 mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	__u64 *root = bpf_map_lookup_elem(&gadget_mntns_alias, &mntns);
	return root ? *root : mntns;
}

static __always_inline __u64 gadget_current_mntns(void)
{
	return gadget_task_mntns((struct task_struct *)bpf_get_current_task());
}

/* True when an event of this mntns must not reach user space. */
static __always_inline bool gadget_filtered_out(__u64 mntns)
{
	if (gadget_filter_mode == GADGET_FILTER_NONE)
		return false;
	bool in_set = bpf_map_lookup_elem(&gadget_mntns_filter, &mntns) != NULL;
	if (gadget_filter_mode == GADGET_FILTER_EXCLUDE)
		return in_set;
	if (in_set)
		return false;
	/* Not yet classified (e.g. a container's entrypoint): let user space decide. */
	return bpf_map_lookup_elem(&gadget_mntns_known, &mntns) != NULL;
}

/*
 * Fast variants: direct BTF loads instead of probe-read helper calls, which are measurable on a
 * per-syscall hot path. task must be a BTF pointer (bpf_get_current_task_btf() or a tp_btf
 * argument), not bpf_get_current_task(). Raw mount namespace, before alias resolution.
 */
static __always_inline __u64 gadget_task_mntns_raw(struct task_struct *task)
{
	return task->nsproxy->mnt_ns->ns.inum;
}

/*
 * Same decision as gadget_filtered_out(gadget_task_mntns(task)) with fewer lookups on the hot
 * path: a filtered-out container costs two (filter miss, known hit), not three. The alias is
 * only consulted for a namespace user space has not classified, or to report a passing event's
 * container namespace. On return *mntns is alias-resolved.
 * Hence user space never marks a namespace known while it has an alias (runtime/shared.ts):
 * a known hit here would drop the events of a namespace unshared inside a container.
 */
static __always_inline bool gadget_filter_raw_mntns(__u64 *mntns)
{
	__u64 *root;

	if (gadget_filter_mode == GADGET_FILTER_INCLUDE &&
	    !bpf_map_lookup_elem(&gadget_mntns_filter, mntns)) {
		if (bpf_map_lookup_elem(&gadget_mntns_known, mntns))
			return true;
		root = bpf_map_lookup_elem(&gadget_mntns_alias, mntns);
		if (!root)
			return false; /* not yet classified: user space decides */
		*mntns = *root;
		return gadget_filtered_out(*mntns);
	}
	if (gadget_filter_mode == GADGET_FILTER_EXCLUDE &&
	    bpf_map_lookup_elem(&gadget_mntns_filter, mntns))
		return true;
	root = bpf_map_lookup_elem(&gadget_mntns_alias, mntns);
	if (!root)
		return false;
	*mntns = *root;
	return gadget_filter_mode == GADGET_FILTER_EXCLUDE && gadget_filtered_out(*mntns);
}

/*
 * The unique id of the task's own mount namespace (bpf/ns_uid.h; never reused, unlike the inode):
 * what user space joins events to containers by (the record's mntns_uid), and the key of the
 * container tracker's kernel record. Not alias-resolved: a namespace created inside a container
 * has its own id, which the kernel record and the registry place in the container. BTF task.
 */
static __always_inline __u64 gadget_task_mntns_uid(struct task_struct *task)
{
	return ns_unique_id_btf(task->nsproxy->mnt_ns);
}

/* bpf_get_current_comm() for a BTF task; dst: 16 bytes, 8-byte aligned. */
static __always_inline void gadget_task_comm(struct task_struct *task, char *dst)
{
	const __u64 *src = (const __u64 *)task->comm;

	((__u64 *)dst)[0] = src[0];
	((__u64 *)dst)[1] = src[1];
}

/* bpf_get_current_uid_gid() for a BTF task: real ids, host view. */
static __always_inline void gadget_task_uid_gid(struct task_struct *task, __u32 *uid, __u32 *gid)
{
	const struct cred *cred = task->cred;

	*uid = cred->uid.val;
	*gid = cred->gid.val;
}

/* sys_enter/sys_exit hooks see ia32 syscalls too, whose numbers and registers differ: skip them. */
#define GADGET_TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

static __always_inline bool gadget_in_compat_syscall(struct task_struct *task)
{
	return task->thread_info.status & GADGET_TS_COMPAT;
}

static __always_inline bool gadget_is_self(void)
{
	return gadget_self_tgid && (bpf_get_current_pid_tgid() >> 32) == gadget_self_tgid;
}

static __always_inline void gadget_count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&gadget_lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

#ifdef GADGET_FIELD_FILTER
/*
 * -F in the kernel (gadgets/framework/pushdown.ts writes these): each slot is one run's -F
 * expressions on pid, tid, uid, gid and comm, ANDed; an event passes when one slot passes it.
 * The union of the runs sharing the loaded gadget: a run with no such expression sets
 * gadget_ff_count to 0 (no filter). Every run applies all its -F again in user space.
 */
#define GADGET_FF_SLOTS 8
#define GADGET_FF_NUM 4 /* pid, tid, uid, gid */
#define GADGET_FF_COMM_ANY 0
#define GADGET_FF_COMM_EQ 1
#define GADGET_FF_COMM_NE 2

struct gadget_field_filter {
	__u32 lo[GADGET_FF_NUM]; /* inclusive range; lo > hi: nothing passes */
	__u32 hi[GADGET_FF_NUM];
	__u32 ne[GADGET_FF_NUM]; /* value != ne[i] when bit i of ne_mask is set */
	__u32 ne_mask;
	__u32 comm_op;
	__u64 comm[2]; /* the value, its NUL, zeros */
	__u64 comm_mask[2]; /* 0xff over the value and its NUL */
};
_Static_assert(sizeof(struct gadget_field_filter) == 88, "pushdown.ts KERNEL_FILTER_SLOT_SIZE");

/* Mutable (.bss): rewritten while loaded as runs come and go. */
__u32 gadget_ff_count = 0;
struct gadget_field_filter gadget_ff[GADGET_FF_SLOTS] = {};

static __always_inline bool gadget_ff_slot_passes(const struct gadget_field_filter *f,
						  const __u32 *v, __u64 c0, __u64 c1)
{
	bool eq;

	for (int k = 0; k < GADGET_FF_NUM; k++) {
		if (v[k] < f->lo[k] || v[k] > f->hi[k])
			return false;
		if ((f->ne_mask & (1U << k)) && v[k] == f->ne[k])
			return false;
	}
	if (f->comm_op == GADGET_FF_COMM_ANY)
		return true;
	eq = (c0 & f->comm_mask[0]) == f->comm[0] && (c1 & f->comm_mask[1]) == f->comm[1];
	return eq == (f->comm_op == GADGET_FF_COMM_EQ);
}

/* True when no run's -F can match this task's event (tid: the thread the event is about). BTF task. */
static __always_inline bool gadget_fields_filtered_out(struct task_struct *task, __u32 tid)
{
	__u32 n = gadget_ff_count;
	__u32 v[GADGET_FF_NUM];
	const __u64 *comm;

	if (!n)
		return false;
	v[0] = task->tgid;
	v[1] = tid;
	gadget_task_uid_gid(task, &v[2], &v[3]);
	comm = (const __u64 *)task->comm;
	for (__u32 i = 0; i < GADGET_FF_SLOTS; i++) {
		if (i >= n)
			break;
		if (gadget_ff_slot_passes(&gadget_ff[i], v, comm[0], comm[1]))
			return false;
	}
	return true;
}
#endif /* GADGET_FIELD_FILTER */

#endif
