// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Daemon-wide: keeps gadget_mntns_alias so that a mount namespace created inside a container
 * (unshare(CLONE_NEWNS), clone/clone3 with CLONE_NEWNS) maps to the container's own namespace.
 * Only namespaces whose parent resolves to a mntns in gadget_mntns_container (filled by user
 * space) get an alias, so a runtime creating a container from the host adds nothing.
 * Hooks: sched_process_fork (new task in another mntns) and the unshare syscall tracepoints
 * (per-syscall tracepoints: other syscalls only pay a bitmap test).
 *
 * Every namespace created (forked with CLONE_NEWNS or unshared) is also noted in
 * gadget_mntns_fresh: its inode was free until now, so whatever user space had mapped to that
 * inode (an exited container whose inode is reused at once) is stale. User space reads and
 * clears the map before it decides on a batch of events: the note is written before any event of
 * the new namespace exists.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "mntns_maps.h"

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

	if (bpf_map_lookup_elem(&gadget_mntns_container, &root))
		bpf_map_update_elem(&gadget_mntns_alias, &child, &root, BPF_ANY);
	else
		/* inode numbers are reused: drop what a dead namespace may have left */
		bpf_map_delete_elem(&gadget_mntns_alias, &child);
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
