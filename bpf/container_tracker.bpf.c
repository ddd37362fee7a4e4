// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Daemon-wide: keeps gadget_mntns_alias so that a mount namespace created inside a container
 * (unshare(CLONE_NEWNS), clone/clone3 with CLONE_NEWNS) maps to the container's own namespace.
 * Only namespaces whose parent resolves to a mntns in gadget_mntns_container (filled by user
 * space) get an alias, so a runtime creating a container from the host adds nothing.
 * Hooks: sched_process_fork (new task in another mntns) and the unshare syscall tracepoints.
 * User space attaches the unshare pair only while a run or recording uses the kernel filter
 * (daemon/src/runtime/shared.ts): any attached syscall tracepoint sends every syscall of every
 * task through the traced entry path, which costs an idle node a few percent.
 *
 * Every namespace created (forked with CLONE_NEWNS or unshared) is also noted in
 * gadget_mntns_fresh: its inode was free until now, so whatever user space had mapped to that
 * inode (an exited container whose inode is reused at once) is stale. User space reads and
 * clears the map before it decides on a batch of events: the note is written before any event of
 * the new namespace exists. The new inode also leaves gadget_mntns_known at once: a run that
 * filters (INCLUDE) would otherwise drop the new namespace's first events as the dead one's
 * until user space caught up.
 *
 * Kernel record (gadget_mntns_cgroup): on the first exec in a mount namespace (a container's
 * entrypoint), its unique id (bpf/ns_uid.h, never reused) -> the names of the task's cgroup
 * and of its parent, which hold the container id (libpod-<id>, <id> under pod<uid>,
 * cri-containerd-<id>.scope, ...). The record outlives the process: an event of a container
 * that is already gone still resolves to its id. The cgroup is the deepest of the v2 one and
 * the v1 pids and memory ones: bpf_get_current_cgroup_id() (v2) is the root on hosts that
 * mix v1 and v2, where the v1 hierarchies hold the container cgroups.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "mntns_maps.h"
#include "ns_uid.h"

#define CLONE_NEWNS 0x00020000

/* Container root mount namespaces (mntns -> 1), kept by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} gadget_mntns_container SEC(".maps");

/* Namespaces created since user space last looked: mntns -> boot ns of creation. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} gadget_mntns_fresh SEC(".maps");

/* unshare(CLONE_NEWNS) in flight: tid -> mntns before the call (LRU: a task killed in the
 * call leaves its entry behind). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} unshare_mntns SEC(".maps");

/* Read by user space (daemon/src/runtime/shared.ts, MntnsRecords): keep the layout in sync. */
struct gadget_mntns_record {
	char cgroup[128];	 /* leaf name of the task's cgroup */
	char cgroup_parent[128]; /* its parent's name ('' at the root) */
	__u64 inode;		 /* the namespace's inode then (inodes are reused later) */
	__u64 first_exec_ns;	 /* boot clock */
	__u32 pid;		 /* tgid of the first exec */
	__u32 __pad;
};

/* mount namespace unique id -> kernel record; LRU: the oldest dead namespaces go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct gadget_mntns_record);
} gadget_mntns_cgroup SEC(".maps");

/* older kernels: kernfs_node.parent (now __parent) */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline __u64 task_mntns(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* child was just created from parent's namespace. */
static __always_inline void new_mntns(__u64 parent, __u64 child)
{
	__u64 *alias = bpf_map_lookup_elem(&gadget_mntns_alias, &parent);
	__u64 root = alias ? *alias : parent; /* aliases always point at a root: no chains */
	__u64 now = bpf_ktime_get_boot_ns();

	bpf_map_update_elem(&gadget_mntns_fresh, &child, &now, BPF_ANY);
	/* whatever user space classified under this inode was another namespace */
	bpf_map_delete_elem(&gadget_mntns_known, &child);

	if (bpf_map_lookup_elem(&gadget_mntns_container, &root))
		bpf_map_update_elem(&gadget_mntns_alias, &child, &root, BPF_ANY);
	else
		/* inode numbers are reused: drop what a dead namespace may have left */
		bpf_map_delete_elem(&gadget_mntns_alias, &child);
}

/* css_set.subsys[id]->cgroup when the kernel has that controller, else NULL. */
#define SUBSYS_CGROUP(cs, id)                                                                      \
	(bpf_core_enum_value_exists(enum cgroup_subsys_id, id) ?                                   \
		 BPF_CORE_READ(cs, subsys[bpf_core_enum_value(enum cgroup_subsys_id, id)], cgroup) : \
		 NULL)

static __always_inline void deeper(struct cgroup **best, int *level, struct cgroup *c)
{
	int l;

	if (!c)
		return;
	l = BPF_CORE_READ(c, level);
	if (l > *level) {
		*best = c;
		*level = l;
	}
}

static __always_inline void fill_record(struct gadget_mntns_record *r, struct task_struct *task)
{
	struct css_set *cs = BPF_CORE_READ(task, cgroups);
	struct cgroup *best = BPF_CORE_READ(cs, dfl_cgrp);
	int level = best ? BPF_CORE_READ(best, level) : -1;
	struct kernfs_node *kn, *parent;

	deeper(&best, &level, SUBSYS_CGROUP(cs, pids_cgrp_id));
	deeper(&best, &level, SUBSYS_CGROUP(cs, memory_cgrp_id));
	kn = BPF_CORE_READ(best, kn);
	bpf_probe_read_kernel_str(r->cgroup, sizeof(r->cgroup), BPF_CORE_READ(kn, name));
	if (bpf_core_field_exists(struct kernfs_node___old, parent))
		parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
	else
		parent = BPF_CORE_READ(kn, __parent);
	if (parent)
		bpf_probe_read_kernel_str(r->cgroup_parent, sizeof(r->cgroup_parent),
					  BPF_CORE_READ(parent, name));
}

/* Per-CPU scratch: the record is too large to build on the stack comfortably. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gadget_mntns_record);
} record_scratch SEC(".maps");

/* One lookup per exec once the namespace has its record. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tracker_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct mnt_namespace *mnt = p->nsproxy->mnt_ns;
	struct gadget_mntns_record *r;
	__u64 uid = ns_unique_id_btf(mnt);
	__u32 zero = 0;

	if (bpf_map_lookup_elem(&gadget_mntns_cgroup, &uid))
		return 0;
	r = bpf_map_lookup_elem(&record_scratch, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	fill_record(r, p);
	r->inode = mnt->ns.inum;
	r->first_exec_ns = bpf_ktime_get_boot_ns();
	r->pid = p->tgid;
	bpf_map_update_elem(&gadget_mntns_cgroup, &uid, r, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tracker_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 pns = parent->nsproxy->mnt_ns->ns.inum;
	__u64 cns = child->nsproxy->mnt_ns->ns.inum;

	if (pns != cns && cns)
		new_mntns(pns, cns);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int tracker_unshare_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 ns;

	if (!(ctx->args[0] & CLONE_NEWNS))
		return 0;
	ns = task_mntns((struct task_struct *)bpf_get_current_task());
	bpf_map_update_elem(&unshare_mntns, &tid, &ns, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int tracker_unshare_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 *old, before, now;

	old = bpf_map_lookup_elem(&unshare_mntns, &tid);
	if (!old)
		return 0;
	before = *old;
	bpf_map_delete_elem(&unshare_mntns, &tid);
	now = task_mntns((struct task_struct *)bpf_get_current_task());
	if (ctx->ret == 0 && now != before && now)
		new_mntns(before, now);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
