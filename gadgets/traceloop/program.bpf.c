// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * traceloop: a per-container syscall flight recorder in kernel memory.
 *
 * Memory (every map is sized by user space before load and pinned on bpffs, so a recording
 * outlives the daemon process; the programs' links are pinned too, so recording goes on while
 * no daemon runs, and the next daemon adopts these programs instead of loading a second copy):
 *   tl_slots  ARRAY of nsets * nslots fixed-size 128-byte slots (struct tl_slot). Set s owns
 *             the slots [s * nslots, (s + 1) * nslots): a ring, overwritten oldest first.
 *   tl_data   ARRAY parallel to tl_slots: the string/buffer data of a slot (struct tl_data), only
 *             touched by syscalls that have such arguments.
 *   tl_meta   ARRAY of nsets set headers (struct tl_meta): state, owner (mntns, generation),
 *             the atomic head (sequence number of the last claimed slot), exit information.
 *   tl_ident  ARRAY of nsets: how the kernel saw the owner (cgroup and UTS names), so user space
 *             can name a container that was gone before it was ever listed.
 *   tl_ns     HASH mntns inode -> struct tl_ns: record into set N (generation G) / ignore.
 *   tl_cfg    ARRAY[1]: generation counter and counters (kernel-written).
 *   tl_info   ARRAY of nsets: user space's notes on the owner (container metadata as JSON, an exit
 *             it saw, cleared records). User-written.
 *   tl_epoch  ARRAY[1]: bumped by user space when it changes tl_ns (invalidates tl_cpus).
 *   tl_cpus   PERCPU_ARRAY: cache of the tl_ns decision for the CPU's last syscall-making task,
 *             and that task's in-flight syscall; tl_pend (LRU hash by tid) holds the in-flight
 *             syscalls of tasks switched out mid-syscall (tp_btf/sched_switch moves them).
 *             Neither is pinned: they live as long as these programs (an adopting daemon keeps
 *             them, and tl_epoch, pinned, still invalidates the cache), and start empty when a
 *             daemon loads the program again (no usable pinned links).
 *
 * Per syscall (recorded container): sys_enter claims a slot with one atomic add on the set's
 * head and writes timestamp, ids, number and the six argument registers; sys_exit writes the
 * return value and reads the string/buffer arguments (their pages are resident by then) into
 * the same slot. A second string (rename, execve's argv, ...) goes into the next slot, claimed
 * together with the first (kind TL_KIND_CONT). exit/exit_group are written complete at entry.
 * Fatal signals (signal_deliver) and process exits (sched_process_exit) are records too.
 *
 * Slot consistency (user space copies slots with plain map lookups while the kernel writes):
 * a writer stores `back` first and `front` last; a copy reads front first and back last, so a
 * copy with front == back is not torn. Markers are (seq << 1) | done. A reader keeps a slot when
 * its seq is in (meta.base, meta.head] and it maps to that slot index.
 *
 * Claiming: the first syscall of a mount namespace without a tl_ns entry (or whose entry has a
 * different kernel namespace id: the inode was reused) claims a FREE set, or else evicts the
 * EXITED set that exited first, with a compare-and-swap on its state, and takes a new
 * generation from tl_cfg. No user space is involved, so a container is recorded from its first
 * syscall (runc's init included). User space releases namespaces that turn out to be host
 * namespaces or that the session's container filter excludes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "mntns_maps.h"
#include "ns_uid.h"

/* Keeps the slot struct in BTF so bpf/gen-layout.mjs derives its layout (see bpf/gadget.h). */
#define GADGET_EVENT(type) const volatile struct type *__gadget_event_##type __attribute__((unused))

#define TL_DATA 264
#define TL_MAX_NR 512

#define TL_KIND_SYSCALL 1
#define TL_KIND_CONT 2
#define TL_KIND_SIGNAL 3
#define TL_KIND_EXIT 4

#define TL_F_DONE 1	 /* sys_exit seen (ret valid) */
#define TL_F_NORETURN 2	 /* exit, exit_group: no sys_exit will come */
#define TL_F_HAS_CONT 4	 /* the next slot holds a second string */
#define TL_F_TRUNC0 8	 /* data (first item) was truncated */
#define TL_F_TRUNC1 16	 /* continuation data truncated */

/* sc_info bits (per syscall number, set by user space from gadgets/traceloop/syscalls.ts) */
#define SC_STR_MASK 0x3f      /* bit i: argument i is a NUL-terminated user string */
#define SC_BUF_SHIFT 6	      /* 3 bits: 1 + index of a data buffer argument, 0 = none */
#define SC_LEN_SHIFT 9	      /* 3 bits: 1 + index of its length argument, 0 = the return value */
#define SC_NORETURN (1 << 12) /* exit, exit_group */
#define SC_AT_ENTER (1 << 13) /* execve, execveat: strings read at entry (the old mm is gone at exit) */
#define SC_KEEP (1 << 14)     /* recorded when the syscall filter is on */
#define SC_ARGV_SHIFT 15      /* 3 bits: 1 + index of an argv array, 0 = none */
#define SC_ITEMS_SHIFT 18     /* 2 bits: number of data items (0..2): strings, then buffer, then argv */
#define SC_ITEMS_MASK (3 << SC_ITEMS_SHIFT)
#define SC_FIX_SHIFT 20	      /* 9 bits: the buffer is a structure of this many bytes (stat, timespec...) */
#define SC_MODE_SHIFT 29      /* 3 bits: how the buffer is copied (TL_MODE_*), 0 = as is */

/* Buffers that are not one flat copy, each within a small fixed budget of its data item. */
#define TL_MODE_IOV 1	  /* iovec array (count: the length argument): the first 2, up to 64 B of each */
#define TL_MODE_ARRAY 2	  /* count (length argument, or the result) elements of FIX bytes: the first 8 */
#define TL_MODE_WINSIZE 3 /* ioctl: struct winsize for TIOCGWINSZ/TIOCSWINSZ only */
#define TL_MODE_SIGMASK 4 /* rt_sigprocmask: the set at entry, the old set at exit */
#define TL_MODE_PRCTL 5	  /* prctl: the 16-byte task name of PR_SET_NAME and PR_GET_NAME only */
#define TL_MODE_MSG 6	  /* msghdr: the header, its iovecs as TL_MODE_IOV, up to 28 bytes of its name */
#define TL_MODE_SIGACT 7	  /* rt_sigaction: the new action, or the old one when there is none */
#define TL_MSG_HDR 56
#define TL_MSG_NAME 28
#define TL_IOV_MAX 2
#define TL_IOV_BUF 64
#define TL_IOV_HDR 36 /* base[2], len[2] (u64), then u8 count read, copied bytes of each, faults */
#define TL_ARRAY_MAX 8

#define TL_STATE_FREE 0
#define TL_STATE_CLAIMING 1
#define TL_STATE_RUNNING 2
#define TL_STATE_EXITED 3

#define TL_NS_RECORD 1
#define TL_NS_IGNORE 2
#define TL_NS_NOSPACE 3 /* no set could be claimed (cap reached, nothing exited to evict) */

struct tl_slot {
	__u64 front; /* (seq << 1) | done, written last */
	__u64 ts;    /* boot-clock ns at entry */
	__u64 args[6];
	__s64 ret;
	__u64 exit_ts; /* boot-clock ns at exit with tl_durations (a second clock read), else 0 */
	__u32 pid;     /* host tgid */
	__u32 tid;     /* host tid */
	__u16 nr;      /* syscall number; signal number; 0 for an exit */
	__u16 cpu;
	__u8 kind;
	__u8 flags;
	__u16 len; /* bytes used in the slot's tl_data entry */
	char comm[16];
	__u64 back; /* same as front, written first */
	__u64 __pad;
	/*
	 * Not in the map value (sizeof is 128, two cache lines): on the wire to the CLI a record is
	 * this header followed by its `len` data bytes from tl_data.
	 */
	char data[];
};
GADGET_EVENT(tl_slot);

/* The data of slot i (strings, buffers, argv): only touched by syscalls that have some. */
struct tl_data {
	__u8 d[TL_DATA];
};

struct tl_meta {
	__u64 head; /* seq of the last claimed slot (monotonic over the set's owners) */
	__u64 base; /* seqs <= base belong to earlier owners */
	__u64 gen;  /* generation of the owner, 0 = never owned */
	__u64 mntns;
	__u64 ns_id;
	__u64 claimed_ts; /* boot ns */
	__u64 exited_ts;  /* boot ns, 0 while running */
	__u64 state;	  /* TL_STATE_* (64 bits: compare-and-swap without -mcpu=v3) */
	__s32 exit_code;  /* wait(2) status of the container's init */
	__u32 init_tgid;  /* host tgid of the task that claimed the set */
	__u32 exits;	  /* processes that exited in this container */
	__u32 __pad;
};

struct tl_ident {
	__u64 gen;
	char cgroup[128];	 /* leaf name of the default-hierarchy cgroup */
	char cgroup_parent[128]; /* its parent's name (pod cgroup on Kubernetes) */
	char nodename[65];	 /* UTS hostname: pod name on Kubernetes, short id on podman */
	char comm[16];		 /* comm of the claiming task */
	char __pad[7];
};

struct tl_ns {
	__u64 ns_id; /* kernel namespace id (never reused); 0 = not stamped yet */
	__u64 gen;
	__u32 set;
	__u32 kind;
};

/* Written by the kernel only (user space reads it). */
struct tl_cfg {
	__u64 next_gen;
	__u64 claims;
	__u64 evictions;
	__u64 nospace; /* namespaces left unrecorded: cap reached */
	__u64 torn;    /* exits whose slot was overwritten before the syscall returned */
};

/*
 * Written by user space only: the container's metadata (JSON, for list/show after a daemon
 * restart), an exit it saw that the kernel did not (a container whose init is not a pid-ns init),
 * and the seq before which records were cleared. The kernel reads exited_ts when it evicts.
 */
struct tl_info {
	__u64 gen;
	__u64 exited_ts; /* boot ns; 0 = not exited as far as user space knows */
	__u64 base;
	__u32 json_len;
	__u32 __pad;
	char json[992];
};

/*
 * Per-CPU cache: the decision for the task that last made a syscall on this CPU, and its
 * in-flight syscall. A syscall-heavy task hits it on every syscall (one inlined array lookup);
 * another task's syscall, or a new epoch, redoes the tl_ns lookup.
 */
struct tl_cpu {
	__u64 task; /* task_struct pointer of the entry */
	__u64 mnt;  /* its mnt_namespace pointer when resolved */
	__u64 epoch;
	__u64 gen;
	__u64 pending; /* seq of its in-flight syscall's slot, 0 = none */
	__u32 set;
	__u32 kind;
	__u32 tid;
	__u16 pending_nr;
	__u16 pending_cont;
	__u32 spilled; /* the task's in-flight syscall went to tl_pend (it was switched out) */
	__u32 __pad;
};

/* An in-flight syscall whose task was switched out (sched_switch moves it here), by tid. */
struct tl_pend {
	__u64 seq;
	__u64 gen;
	__u32 set;
	__u16 nr;
	__u16 cont;
};

/* Sizes, set by user space before load (nslots is a power of two). */
const volatile __u32 tl_nsets = 1;
const volatile __u32 tl_slot_mask = 0;
const volatile __u32 tl_slot_shift = 0; /* log2(nslots) */
const volatile bool tl_filter_on = false;
/* traceloop start --durations: exit_ts is set (off: the verifier drops the clock read) */
const volatile bool tl_durations = false;
const volatile __u32 sc_info[TL_MAX_NR] = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_slot);
} tl_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_data);
} tl_data SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_meta);
} tl_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_ident);
} tl_ident SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tl_ns);
} tl_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_cfg);
} tl_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_info);
} tl_info SEC(".maps");

/* The session (JSON, user space): what a restarted daemon needs to load the program again. */
struct tl_session {
	__u32 len;
	char json[1020];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_session);
} tl_session SEC(".maps");

/* Bumped by user space whenever it changes tl_ns: every thread's cached decision is redone. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tl_epoch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tl_cpu);
} tl_cpus SEC(".maps");

/* Threads blocked in a syscall at the same time, in recorded containers (LRU: a thread that died
 * blocked is forgotten eventually). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct tl_pend);
} tl_pend SEC(".maps");

/* older kernels: kernfs_node.parent (ns_unique_id: bpf/ns_uid.h) */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002

#define WRITE_ONCE64(x, v) (*(volatile __u64 *)&(x) = (v))
#define READ_ONCE64(x) (*(volatile __u64 *)&(x))

static __always_inline struct tl_cfg *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&tl_cfg, &zero);
}

static __always_inline __u32 slot_idx(__u32 set, __u64 seq)
{
	return (set << tl_slot_shift) + ((__u32)(seq - 1) & tl_slot_mask);
}

static __always_inline struct tl_slot *slot_at(__u32 set, __u64 seq)
{
	__u32 idx = slot_idx(set, seq);
	return bpf_map_lookup_elem(&tl_slots, &idx);
}

static __always_inline __u8 *data_at(__u32 set, __u64 seq)
{
	__u32 idx = slot_idx(set, seq);
	struct tl_data *d = bpf_map_lookup_elem(&tl_data, &idx);

	return d ? d->d : NULL;
}

struct claim_ctx {
	__s64 got;
	__s64 oldest;
	__u64 oldest_ts;
	__u64 oldest_state;
};

static long claim_scan(__u32 i, void *data)
{
	struct claim_ctx *c = data;
	struct tl_meta *m = bpf_map_lookup_elem(&tl_meta, &i);

	if (!m)
		return 1;
	if (m->state == TL_STATE_FREE) {
		if (__sync_val_compare_and_swap(&m->state, TL_STATE_FREE, TL_STATE_CLAIMING) ==
		    TL_STATE_FREE) {
			c->got = i;
			return 1;
		}
	} else if (m->state == TL_STATE_EXITED && m->exited_ts < c->oldest_ts) {
		c->oldest = i;
		c->oldest_ts = m->exited_ts;
		c->oldest_state = TL_STATE_EXITED;
	} else if (m->state == TL_STATE_RUNNING) {
		struct tl_info *info = bpf_map_lookup_elem(&tl_info, &i);

		if (info && info->gen == m->gen && info->exited_ts &&
		    info->exited_ts < c->oldest_ts) {
			c->oldest = i;
			c->oldest_ts = info->exited_ts;
			c->oldest_state = TL_STATE_RUNNING;
		}
	}
	return 0;
}

static __always_inline void capture_ident(struct task_struct *task, __u32 set, __u64 gen)
{
	struct tl_ident *id = bpf_map_lookup_elem(&tl_ident, &set);
	struct kernfs_node *kn, *parent;

	if (!id)
		return;
	kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	bpf_probe_read_kernel_str(id->cgroup, sizeof(id->cgroup), BPF_CORE_READ(kn, name));
	if (bpf_core_field_exists(struct kernfs_node___old, parent))
		parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
	else
		parent = BPF_CORE_READ(kn, __parent);
	if (parent)
		bpf_probe_read_kernel_str(id->cgroup_parent, sizeof(id->cgroup_parent),
					  BPF_CORE_READ(parent, name));
	else
		id->cgroup_parent[0] = 0;
	bpf_probe_read_kernel_str(id->nodename, sizeof(id->nodename),
				  BPF_CORE_READ(task, nsproxy, uts_ns, name.nodename));
	bpf_get_current_comm(id->comm, sizeof(id->comm));
	id->gen = gen;
}

/*
 * A new recording for (mntns, ns_id). Returns the tl_ns entry now in the map, or NULL.
 * `replace`: an entry with another ns_id exists (the inode was reused).
 */
static __noinline struct tl_ns *claim(__u64 mntns, __u64 ns_id, bool replace)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct claim_ctx c = { .got = -1, .oldest = -1, .oldest_ts = ~0ULL };
	struct tl_cfg *conf = cfg();
	struct tl_ns e = { .ns_id = ns_id };
	struct tl_meta *m;
	__u32 set;
	__u64 gen;

	if (!conf)
		return NULL;
	bpf_loop(tl_nsets, claim_scan, &c, 0);
	if (c.got < 0 && c.oldest >= 0) {
		set = c.oldest;
		m = bpf_map_lookup_elem(&tl_meta, &set);
		if (m && __sync_val_compare_and_swap(&m->state, c.oldest_state,
						     TL_STATE_CLAIMING) == c.oldest_state) {
			c.got = set;
			__sync_fetch_and_add(&conf->evictions, 1);
		}
	}
	if (c.got < 0) {
		__sync_fetch_and_add(&conf->nospace, 1);
		e.kind = TL_NS_NOSPACE;
		bpf_map_update_elem(&tl_ns, &mntns, &e, replace ? BPF_ANY : BPF_NOEXIST);
		return bpf_map_lookup_elem(&tl_ns, &mntns);
	}
	set = c.got;
	m = bpf_map_lookup_elem(&tl_meta, &set);
	if (!m)
		return NULL;
	gen = __sync_fetch_and_add(&conf->next_gen, 1) + 1;
	m->base = READ_ONCE64(m->head);
	m->gen = gen;
	m->mntns = mntns;
	m->ns_id = ns_id;
	m->claimed_ts = bpf_ktime_get_boot_ns();
	m->exited_ts = 0;
	m->exit_code = 0;
	m->exits = 0;
	m->init_tgid = task->tgid;
	capture_ident(task, set, gen);
	e.gen = gen;
	e.set = set;
	e.kind = TL_NS_RECORD;
	if (bpf_map_update_elem(&tl_ns, &mntns, &e, replace ? BPF_ANY : BPF_NOEXIST)) {
		/* another CPU claimed for this namespace first: give the set back */
		m->gen = 0;
		__sync_lock_test_and_set(&m->state, TL_STATE_FREE);
		return bpf_map_lookup_elem(&tl_ns, &mntns);
	}
	__sync_fetch_and_add(&conf->claims, 1);
	__sync_lock_test_and_set(&m->state, TL_STATE_RUNNING);
	return bpf_map_lookup_elem(&tl_ns, &mntns);
}

/* The tl_ns decision for the task's mount namespace, into the CPU's cache entry. */
static __noinline void resolve(struct tl_cpu *pc, struct task_struct *task,
			       struct mnt_namespace *mnt, __u64 epoch)
{
	struct tl_ns *e;
	struct tl_meta *m;
	__u64 mntns, ns_id, *root;
	bool direct = true;

	pc->mnt = (__u64)mnt;
	pc->epoch = epoch;
	pc->kind = TL_NS_IGNORE;
	if (!mnt)
		return;
	mntns = mnt->ns.inum;
	e = bpf_map_lookup_elem(&tl_ns, &mntns);
	if (!e) {
		/* a namespace created inside a container belongs to it (container tracker) */
		root = bpf_map_lookup_elem(&gadget_mntns_alias, &mntns);
		if (root) {
			e = bpf_map_lookup_elem(&tl_ns, root);
			direct = false;
		}
	}
	if (e && direct) {
		ns_id = ns_unique_id(mnt);
		if (e->ns_id == 0)
			e->ns_id = ns_id; /* entry from user space: stamp it */
		else if (e->ns_id != ns_id)
			e = claim(mntns, ns_id, true); /* the inode was reused by a new namespace */
	}
	if (!e)
		e = claim(mntns, ns_unique_id(mnt), false);
	if (!e)
		return;
	pc->kind = e->kind;
	pc->set = e->set;
	pc->gen = e->gen;
	if (e->kind == TL_NS_RECORD) {
		__u32 set = e->set;

		m = bpf_map_lookup_elem(&tl_meta, &set);
		if (!m || m->gen != e->gen) {
			/* the recording was evicted or deleted while the container still runs */
			e->kind = TL_NS_IGNORE;
			pc->kind = TL_NS_IGNORE;
		}
	}
}

/* Moves the cached in-flight syscall of the entry's task to tl_pend. */
static __always_inline void spill(struct tl_cpu *pc)
{
	struct tl_pend p = {
		.seq = pc->pending,
		.gen = pc->gen,
		.set = pc->set,
		.nr = pc->pending_nr,
		.cont = pc->pending_cont,
	};
	__u32 tid = pc->tid;

	bpf_map_update_elem(&tl_pend, &tid, &p, BPF_ANY);
	pc->pending = 0;
	pc->spilled = 1;
}

static __always_inline struct tl_cpu *cpu_entry(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&tl_cpus, &zero);
}

/* The CPU's cache entry, made current for `task`; NULL unless its container is being recorded. */
static __always_inline struct tl_cpu *recorded_task(struct task_struct *task, struct tl_meta **mp)
{
	struct tl_cpu *pc = cpu_entry();
	struct mnt_namespace *mnt;
	struct tl_meta *m;
	__u32 set, zero = 0;
	__u64 epoch, *ep;

	ep = bpf_map_lookup_elem(&tl_epoch, &zero);
	if (!pc || !ep)
		return NULL;
	epoch = READ_ONCE64(*ep);
	mnt = task->nsproxy->mnt_ns;
	if (pc->task != (__u64)task) {
		if (pc->pending)
			spill(pc); /* normally done at sched_switch already */
		pc->task = (__u64)task;
		pc->tid = task->pid;
		pc->spilled = 0;
		resolve(pc, task, mnt, epoch);
	} else if (pc->mnt != (__u64)mnt || pc->epoch != epoch) {
		resolve(pc, task, mnt, epoch);
	}
	if (pc->kind != TL_NS_RECORD)
		return NULL;
	set = pc->set;
	m = bpf_map_lookup_elem(&tl_meta, &set);
	if (!m || m->gen != pc->gen) {
		pc->kind = TL_NS_IGNORE;
		return NULL;
	}
	*mp = m;
	return pc;
}

static __always_inline void fill_common(struct tl_slot *s, struct task_struct *task, __u64 marker,
					__u8 kind, __u16 nr)
{
	const __u64 *comm = (const __u64 *)task->comm;

	WRITE_ONCE64(s->back, marker);
	barrier();
	s->ts = bpf_ktime_get_boot_ns();
	s->pid = task->tgid;
	s->tid = task->pid;
	s->nr = nr;
	s->cpu = bpf_get_smp_processor_id();
	s->kind = kind;
	s->flags = 0;
	s->len = 0;
	s->ret = 0;
	s->exit_ts = 0;
	((__u64 *)s->comm)[0] = comm[0];
	((__u64 *)s->comm)[1] = comm[1];
}

static __always_inline void commit(struct tl_slot *s, __u64 marker)
{
	barrier();
	WRITE_ONCE64(s->front, marker);
}

/* NUL-terminated user string into data; returns bytes stored (NUL included) */
static __always_inline __u16 read_str(__u8 *dst, __u64 ptr, __u8 *flags, __u8 trunc)
{
	long n;

	if (!ptr)
		return 0;
	n = bpf_probe_read_user_str(dst, TL_DATA, (const void *)ptr);
	if (n <= 0)
		return 0;
	if (n == TL_DATA)
		*flags |= trunc;
	return n;
}

static __always_inline __u16 read_buf(__u8 *dst, __u64 ptr, __s64 len, __u8 *flags, __u8 trunc)
{
	__u32 n;

	if (!ptr || len <= 0)
		return 0;
	if (len > TL_DATA) {
		n = TL_DATA;
		*flags |= trunc;
	} else {
		n = len;
	}
	if (bpf_probe_read_user(dst, n & 511, (const void *)ptr))
		return 0;
	return n;
}

#define ARGV_CHUNK 64
#define ARGV_MAX 16

/* v, but at most TL_DATA - ARGV_CHUNK, in the very register the verifier then sees used */
static __always_inline __u64 argv_bound(__u64 v)
{
	asm volatile("if %0 <= 200 goto +1; %0 = 200;" : "+r"(v));
	return v;
}

/* argv as NUL-separated strings (each at most ARGV_CHUNK - 1 bytes) */
static __always_inline __u16 read_argv(__u8 *dst, __u64 argv, __u8 *flags, __u8 trunc)
{
	__u64 off = 0;
	__u64 p;
	long n;

	if (!argv)
		return 0;
#pragma unroll
	for (int i = 0; i < ARGV_MAX; i++) {
		if (off > TL_DATA - ARGV_CHUNK) {
			*flags |= trunc;
			break;
		}
		if (bpf_probe_read_user(&p, sizeof(p), (const void *)(argv + i * 8)) || !p)
			break;
		n = bpf_probe_read_user_str(dst + argv_bound(off), ARGV_CHUNK, (const void *)p);
		if (n <= 0)
			break;
		off += n;
	}
	return off;
}

/* n, but at most TL_IOV_BUF, in the very register the verifier then sees used */
static __always_inline __u64 iov_bound(__u64 n)
{
	asm volatile("if %0 <= 64 goto +1; %0 = 64;" : "+r"(n));
	return n;
}

/*
 * The first TL_IOV_MAX iovecs of an array and up to TL_IOV_BUF bytes of each, `budget` bytes in
 * all (readv: the result; writev: unbounded). Item layout: TL_IOV_HDR header (the iovecs as the
 * program passed them, how many were read, how many bytes of each were copied, a bit per buffer
 * whose copy faulted), buffer 0, a NUL (no redacted secret spans it), buffer 1.
 */
static __always_inline __u16 read_iov(__u8 *dst, __u64 vec, __u64 cnt, __s64 budget, __u8 *flags,
				      __u8 trunc)
{
	__u64 iv[4] = {};
	__u64 n = cnt > TL_IOV_MAX ? TL_IOV_MAX : cnt;
	__u64 c0, c1, off;
	__u8 faults = 0;

	if (!vec || !n)
		return 0;
	if (cnt > TL_IOV_MAX)
		*flags |= trunc;
	if (bpf_probe_read_user(iv, n == 2 ? 32 : 16, (const void *)vec))
		return 0;
	if (budget < 0)
		budget = 0;
	c0 = iv[1] < (__u64)budget ? iv[1] : budget;
	budget -= c0;
	c1 = n == 2 ? (iv[3] < (__u64)budget ? iv[3] : budget) : 0;
	c0 = iov_bound(c0);
	c1 = iov_bound(c1);
	if (c0 && bpf_probe_read_user(dst + TL_IOV_HDR, c0, (const void *)iv[0])) {
		faults |= 1;
		c0 = 0;
	}
	off = iov_bound(c0) + TL_IOV_HDR;
	dst[off] = 0;
	if (c1 && bpf_probe_read_user(dst + off + 1, c1, (const void *)iv[2])) {
		faults |= 2;
		c1 = 0;
	}
	((__u64 *)dst)[0] = iv[0];
	((__u64 *)dst)[1] = iv[2];
	((__u64 *)dst)[2] = iv[1];
	((__u64 *)dst)[3] = iv[3];
	dst[32] = n;
	dst[33] = c0;
	dst[34] = c1;
	dst[35] = faults;
	return off + 1 + c1;
}

/* n, but at most an iovec copy's size, in the very register the verifier then sees used */
static __always_inline __u64 iov_copy_bound(__u64 n)
{
	asm volatile("if %0 <= 165 goto +1; %0 = 165;" : "+r"(n));
	return n;
}

/*
 * A struct user_msghdr: its 56 bytes, then its iovecs as read_iov lays them out, then up to
 * TL_MSG_NAME bytes of its name, then one byte: how many name bytes came.
 */
static __always_inline __u16 read_msg(__u8 *dst, __u64 ptr, __s64 budget, __u8 *flags, __u8 trunc)
{
	__u64 h[7];
	__u64 n, k;

	if (!ptr || bpf_probe_read_user(h, sizeof(h), (const void *)ptr))
		return 0;
#pragma unroll
	for (int i = 0; i < 7; i++)
		((__u64 *)dst)[i] = h[i];
	n = iov_copy_bound(read_iov(dst + TL_MSG_HDR, h[2], h[3], budget, flags, trunc));
	k = (__u32)h[1];
	if (k > TL_MSG_NAME)
		k = TL_MSG_NAME;
	if (!h[0] || bpf_probe_read_user(dst + TL_MSG_HDR + n, k, (const void *)h[0]))
		k = 0;
	dst[TL_MSG_HDR + n + k] = k;
	return TL_MSG_HDR + n + k + 1;
}

/*
 * Two copies by syscall number (the 3 mode bits are all taken), x86-64 numbers:
 * getdents64's entry count (strace's "N entries" comment): its result's records walked by their
 * d_reclen at exit, at most TL_DIRENTS_MAX of them (32 KB of the shortest records); the count
 * (u32) is the record's data, none when the walk did not end exactly at the result.
 * rt_sigreturn's signal mask: the one the frame restores (strace's `{mask=[...]}`), read at entry
 * at sp + offsetof(struct ucontext, uc_sigmask) (the frame starts at sp - 8, after pretcode).
 */
#define TL_NR_RT_SIGRETURN 15
#define TL_NR_GETDENTS64 217
#define TL_DIRENTS_MAX 1400
#define TL_UC_SIGMASK 296 /* 8 uc_flags + 8 uc_link + 24 uc_stack + 256 uc_mcontext */

struct dirent_walk {
	__u64 ptr;
	__u64 off;
	__u64 len;
	__u32 n;
};

static long dirent_step(__u64 i, void *ctx)
{
	struct dirent_walk *w = ctx;
	__u16 reclen = 0;

	if (w->off >= w->len)
		return 1;
	/* struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen */
	if (bpf_probe_read_user(&reclen, sizeof(reclen), (const void *)(w->ptr + w->off + 16)) ||
	    !reclen) {
		w->off = ~0ULL;
		return 1;
	}
	w->off += reclen;
	w->n++;
	return 0;
}

static __always_inline __u16 count_dirents(__u8 *dst, __u64 ptr, __s64 ret)
{
	struct dirent_walk w = { .ptr = ptr, .len = ret };

	if (ret < 0 || !ptr)
		return 0;
	bpf_loop(TL_DIRENTS_MAX, dirent_step, &w, 0);
	if (w.off != w.len)
		return 0;
	*(__u32 *)dst = w.n;
	return 4;
}

/* The buffer argument by its mode (TL_MODE_*); `len`: the count (or the flat length). */
static __always_inline __u16 read_mode(struct tl_slot *s, __u8 *dst, __u32 info, __u32 mode,
				       __u64 ptr, __s64 len, __u8 *flags, __u8 trunc)
{
	__u32 fix = (info >> SC_FIX_SHIFT) & 511;

	if (mode == TL_MODE_IOV)
		/* at entry the data are inputs, all of them sent; at exit only the result's bytes came */
		return read_iov(dst, ptr, len, info & SC_AT_ENTER ? 1 << 30 : s->ret, flags, trunc);
	if (mode == TL_MODE_ARRAY) {
		if (len > TL_ARRAY_MAX) {
			len = TL_ARRAY_MAX;
			*flags |= trunc;
		}
		return read_buf(dst, ptr, len * fix, flags, trunc);
	}
	if (mode == TL_MODE_WINSIZE) {
		__u32 req = s->args[1];

		if (req != 0x5413 && req != 0x5414) /* TIOCGWINSZ, TIOCSWINSZ */
			return 0;
		return read_buf(dst, ptr, 8, flags, trunc);
	}
	if (mode == TL_MODE_SIGACT)
		return read_buf(dst, s->args[1] ? s->args[1] : s->args[2], 32, flags, trunc);
	if (mode == TL_MODE_MSG)
		return read_msg(dst, ptr, info & SC_AT_ENTER ? 1 << 30 : s->ret, flags, trunc);
	if (mode == TL_MODE_PRCTL) {
		__u32 option = s->args[0];

		if (option != 15 && option != 16) /* PR_SET_NAME, PR_GET_NAME */
			return 0;
		return read_buf(dst, ptr, 16, flags, trunc);
	}
	if (mode == TL_MODE_SIGMASK) {
		/* the set was read at entry (tl_sys_enter) into bytes 0-7 */
		if (s->args[2] && !bpf_probe_read_user(dst + 8, 8, (const void *)s->args[2]))
			dst[16] |= 2;
		return 17;
	}
	return 0;
}

/*
 * The data items of a syscall, in order: string arguments, the buffer argument, the argv
 * array. Item 0 goes into the slot, item 1 into the continuation slot.
 */
static __always_inline void read_items(struct tl_slot *s, struct tl_slot *cont, __u8 *d0,
				       __u8 *d1, __u32 info)
{
	__u32 strs = info & SC_STR_MASK;
	__u32 buf = (info >> SC_BUF_SHIFT) & 7;
	__u32 lenarg = (info >> SC_LEN_SHIFT) & 7;
	__u32 argv = (info >> SC_ARGV_SHIFT) & 7;
	int item = 0;

	if (!cont)
		d1 = NULL;
#pragma unroll
	for (int i = 0; i < 6; i++) {
		if (!(strs & (1 << i)))
			continue;
		if (item == 0 && d0)
			s->len = read_str(d0, s->args[i], &s->flags, TL_F_TRUNC0);
		else if (item == 1 && d1)
			cont->len = read_str(d1, s->args[i], &s->flags, TL_F_TRUNC1);
		item++;
	}
	if (buf && buf <= 6) {
		__u32 mode = info >> SC_MODE_SHIFT;
		__s64 len = s->ret;

		if (lenarg && lenarg <= 6)
			len = s->args[lenarg - 1];
		if (mode) {
			if (item == 0 && d0)
				s->len = read_mode(s, d0, info, mode, s->args[buf - 1], len, &s->flags,
						   TL_F_TRUNC0);
			return;
		}
		if ((info >> SC_FIX_SHIFT) & 511)
			len = (info >> SC_FIX_SHIFT) & 511;
		if (item == 0 && d0)
			s->len = read_buf(d0, s->args[buf - 1], len, &s->flags, TL_F_TRUNC0);
		else if (item == 1 && d1)
			cont->len = read_buf(d1, s->args[buf - 1], len, &s->flags, TL_F_TRUNC1);
		item++;
	}
	if (argv && argv <= 6) {
		if (item == 0 && d0)
			s->len = read_argv(d0, s->args[argv - 1], &s->flags, TL_F_TRUNC0);
		else if (item == 1 && d1)
			cont->len = read_argv(d1, s->args[argv - 1], &s->flags, TL_F_TRUNC1);
	}
}

static __always_inline struct tl_slot *start_cont(struct tl_slot *s, struct task_struct *task,
						  __u32 set, __u64 seq)
{
	struct tl_slot *c = slot_at(set, seq);

	if (!c)
		return NULL;
	WRITE_ONCE64(c->back, seq << 1);
	barrier();
	c->ts = s->ts;
	c->pid = s->pid;
	c->tid = s->tid;
	c->nr = s->nr;
	c->cpu = s->cpu;
	c->kind = TL_KIND_CONT;
	c->flags = 0;
	c->len = 0;
	c->ret = 0;
	c->exit_ts = 0;
	c->args[0] = seq - 1; /* the seq of the syscall it continues */
	return c;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tl_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tl_meta *m = NULL;
	struct tl_slot *s, *c = NULL;
	struct tl_cpu *t;
	__u32 info, n;
	__u64 seq;

	if ((__u64)id >= TL_MAX_NR)
		return 0;
	info = sc_info[id];
	if (tl_filter_on && !(info & SC_KEEP))
		return 0;
	if (task->thread_info.status & TS_COMPAT)
		return 0;
	t = recorded_task(task, &m);
	if (!t || !m)
		return 0;
	n = ((info >> SC_ITEMS_SHIFT) & 3) >= 2 ? 2 : 1;
	seq = __sync_fetch_and_add(&m->head, n) + 1;
	s = slot_at(t->set, seq);
	if (!s)
		return 0;
	fill_common(s, task, info & SC_NORETURN ? seq << 1 | 1 : seq << 1, TL_KIND_SYSCALL, id);
	s->args[0] = regs->di;
	s->args[1] = regs->si;
	s->args[2] = regs->dx;
	s->args[3] = regs->r10;
	s->args[4] = regs->r8;
	s->args[5] = regs->r9;
	if (n == 2) {
		s->flags |= TL_F_HAS_CONT;
		c = start_cont(s, task, t->set, seq + 1);
	}
	if (info & SC_NORETURN) {
		s->flags |= TL_F_NORETURN;
		commit(s, seq << 1 | 1);
		t->pending = 0;
		return 0;
	}
	if (info & SC_AT_ENTER) {
		read_items(s, c, data_at(t->set, seq), data_at(t->set, seq + 1), info);
	} else if ((info >> SC_MODE_SHIFT) == TL_MODE_SIGMASK) {
		/* the new set is an input: read now (it may be the old set's buffer too) */
		__u8 *d = data_at(t->set, seq);

		if (d) {
			d[16] = s->args[1] && !bpf_probe_read_user(d, 8, (const void *)s->args[1]);
		}
	} else if (id == TL_NR_RT_SIGRETURN) {
		__u8 *d = data_at(t->set, seq);

		if (d && !bpf_probe_read_user(d, 8, (const void *)(regs->sp + TL_UC_SIGMASK)))
			s->len = 8;
	}
	if (c)
		commit(c, (seq + 1) << 1);
	commit(s, seq << 1);
	t->pending = seq;
	t->pending_nr = id;
	t->pending_cont = n == 2;
	t->spilled = 0;
	return 0;
}

/* A task switched out in the middle of a syscall: its in-flight state leaves the CPU cache. */
SEC("tp_btf/sched_switch")
int BPF_PROG(tl_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct tl_cpu *pc = cpu_entry();

	if (pc && pc->pending && pc->task == (__u64)prev)
		spill(pc);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tl_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tl_cpu *pc = cpu_entry();
	struct tl_slot *s, *c = NULL;
	__u32 info, nr, set, cont, tid;
	__u64 seq, marker;

	if (!pc)
		return 0;
	if (pc->task == (__u64)task && pc->pending) {
		seq = pc->pending;
		set = pc->set;
		nr = pc->pending_nr;
		cont = pc->pending_cont;
		pc->pending = 0;
	} else if (pc->task == (__u64)task && !pc->spilled) {
		return 0; /* nothing in flight: not recorded (a host task), or exit/exit_group */
	} else {
		/* switched out while in the syscall (tl_switch moved the state), or never recorded */
		struct tl_pend *p;

		if (pc->task == (__u64)task)
			pc->spilled = 0;
		tid = task->pid;
		p = bpf_map_lookup_elem(&tl_pend, &tid);
		if (!p)
			return 0;
		seq = p->seq;
		set = p->set;
		nr = p->nr;
		cont = p->cont;
		bpf_map_delete_elem(&tl_pend, &tid);
	}
	s = slot_at(set, seq);
	if (!s)
		return 0;
	marker = seq << 1;
	if (READ_ONCE64(s->front) != marker || s->tid != task->pid) {
		struct tl_cfg *conf = cfg();

		if (conf)
			__sync_fetch_and_add(&conf->torn, 1);
		return 0; /* overwritten while the syscall ran */
	}
	info = nr < TL_MAX_NR ? sc_info[nr & (TL_MAX_NR - 1)] : 0;
	WRITE_ONCE64(s->back, marker | 1);
	barrier();
	s->ret = ret;
	if (tl_durations)
		s->exit_ts = bpf_ktime_get_boot_ns();
	s->flags |= TL_F_DONE;
	if (cont) {
		c = slot_at(set, seq + 1);
		if (c && READ_ONCE64(c->front) != (seq + 1) << 1 && !(info & SC_AT_ENTER))
			c = NULL;
		if (c && !(info & SC_AT_ENTER))
			WRITE_ONCE64(c->back, (seq + 1) << 1 | 1);
	}
	if (!(info & SC_AT_ENTER) && (info & SC_ITEMS_MASK)) {
		read_items(s, c, data_at(set, seq), c ? data_at(set, seq + 1) : NULL, info);
		if (c)
			commit(c, (seq + 1) << 1 | 1);
	} else if (nr == TL_NR_GETDENTS64) {
		__u8 *d = data_at(set, seq);

		if (d)
			s->len = count_dirents(d, s->args[1], ret);
	}
	commit(s, marker | 1);
	return 0;
}

/* Every delivered signal (handled, ignored or fatal) of a recorded container. */
SEC("tp_btf/signal_deliver")
int BPF_PROG(tl_signal, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tl_meta *m = NULL;
	struct tl_cpu *t = recorded_task(task, &m);
	struct tl_slot *s;
	__u64 seq;

	if (!t || !m)
		return 0;
	seq = __sync_fetch_and_add(&m->head, 1) + 1;
	s = slot_at(t->set, seq);
	if (!s)
		return 0;
	fill_common(s, task, seq << 1 | 1, TL_KIND_SIGNAL, sig);
	if ((__u64)info > 4096) {
		s->args[0] = BPF_CORE_READ(info, si_code);
		s->args[1] = BPF_CORE_READ(info, si_errno);
		s->args[2] = (__u64)BPF_CORE_READ(info, _sifields._sigfault._addr);
		s->args[3] = BPF_CORE_READ(info, _sifields._kill._pid);
	} else {
		s->args[0] = 0x80; /* SI_KERNEL */
		s->args[1] = 0;
		s->args[2] = 0;
		s->args[3] = 0;
	}
	s->args[4] = (__u64)BPF_CORE_READ(ka, sa.sa_handler);
	s->args[5] = 0;
	s->flags = TL_F_DONE;
	commit(s, seq << 1 | 1);
	return 0;
}

/* A process (thread group) of a recorded container ends; the container ends with its pid-ns init. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tl_exit, struct task_struct *p, bool group_dead)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tl_meta *m = NULL;
	struct tl_cpu *t;
	struct tl_slot *s;
	struct pid *pid;
	struct upid up;
	unsigned int level;
	__u64 seq, now;
	int code;

	if (!group_dead)
		return 0;
	t = recorded_task(task, &m);
	if (!t || !m)
		return 0;
	code = task->exit_code;
	if (task->signal->group_exit_code)
		code = task->signal->group_exit_code;
	seq = __sync_fetch_and_add(&m->head, 1) + 1;
	s = slot_at(t->set, seq);
	if (s) {
		fill_common(s, task, seq << 1 | 1, TL_KIND_EXIT, 0);
		s->ret = code;
		s->args[0] = code;
		s->flags = TL_F_DONE;
		commit(s, seq << 1 | 1);
	}
	__sync_fetch_and_add(&m->exits, 1);
	/* the init of a pid namespace: the container is over. The thread group's pid, not this
	 * thread's: the last thread of a group may be another than the leader (runc init, a Go
	 * program, failing to exec a missing entrypoint). */
	pid = BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]);
	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (level == 0)
		return 0;
	if (bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level & 31]))
		return 0;
	if (up.nr != 1)
		return 0;
	now = bpf_ktime_get_boot_ns();
	m->exit_code = code;
	m->exited_ts = now;
	__sync_val_compare_and_swap(&m->state, TL_STATE_RUNNING, TL_STATE_EXITED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
