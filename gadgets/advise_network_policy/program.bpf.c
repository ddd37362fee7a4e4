// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * advise_network_policy: distinct network flows per network namespace, counted in the kernel.
 *
 * TCP  tp_btf/inet_sock_set_state
 *        CLOSE -> SYN_SENT         egress, task context (the connecting process)
 *        SYN_RECV -> ESTABLISHED   ingress (passive open), softirq: the current task is
 *                                  arbitrary, so the flow belongs to the socket's netns
 * UDP  cgroup sock_addr hooks at the cgroup v2 root (attached through bpf_link by user space)
 *        connect4/6                egress of a connected socket (sees a ClusterIP before DNAT)
 *        sendmsg4/6                egress of an unconnected send, unless it answers an ingress
 *        recvmsg4/6                ingress of an unconnected receive, unless it answers an egress
 * DNS  tp_btf/sock_recv_length     a DNS answer read from a socket talking to port 53 (connected
 *                                  UDP or TCP; unconnected UDP marked by recvmsg4/6): the raw
 *                                  message goes to user space, which parses names and addresses
 *
 * A flow is (netns, direction, protocol, remote address, destination port); the destination
 * port is the remote one for egress and the local one for ingress. Flows live in an LRU hash:
 * the first packet/connection of a flow is reported at once, later ones are counted and reported
 * as a delta at most every report_interval_ns per flow. Addresses are IPv4 or IPv6, IPv4-mapped
 * IPv6 normalised to IPv4.
 *
 * Accepted connections are attributed through netns_owner: the mount namespace, pid and comm
 * of the last process seen doing network work in that netns (seeded by user space at start).
 */
#include "gadget.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_DGRAM 2

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3

#define DIR_EGRESS 0
#define DIR_INGRESS 1

#define SRC_TCP_CONNECT 1
#define SRC_TCP_ACCEPT 2
#define SRC_UDP_CONNECT 3
#define SRC_UDP_SEND 4
#define SRC_UDP_RECV 5
#define SRC_DNS 6

#define DNS_PORT 53
#define DNS_MAX 512

/* x86-64 syscall numbers (vmlinux.h has no __NR_ macros) */
#define NR_read 0
#define NR_readv 19
#define NR_recvfrom 45
#define NR_recvmsg 47

struct event {
	__u64 timestamp; /* last seen, boot ns */
	__u64 mntns_id;  /* inode (alias-resolved): the user-visible column */
	__u64 mntns_uid; /* unique id of the owner's own mount namespace: the container join key */
	__u32 pid;
	__u32 netns_id;
	char comm[16];
	__u64 first_seen; /* boot ns */
	__u64 count;      /* new occurrences since the previous report of this flow */
	__u8 direction;
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u8 source; /* SRC_* */
	__u16 port;  /* destination port: remote for egress, local for ingress */
	__u16 lport; /* local port (0 when not bound yet) */
	__u16 rport; /* remote port */
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 dns_size; /* SRC_DNS: bytes in dns[] */
	__u8 dns[];
};
GADGET_EVENT(event);

/* Report a flow again (with the new count) at most this often. */
const volatile __u64 report_interval_ns = 1000000000ULL;
/* Capture DNS answers (tp_btf/sock_recv_length). */
const volatile bool capture_dns = true;

struct flow_key {
	__u32 netns;
	__u8 direction;
	__u8 proto;
	__u8 family;
	__u8 pad;
	__u16 port;
	__u16 pad2;
	__u8 raddr[16];
};

struct flow_val {
	__u64 first_ns;
	__u64 last_ns;
	__u64 last_report_ns;
	__u64 count;
	__u64 reported;
	__u64 mntns;
	__u64 mntns_uid;
	__u64 netns_uid; /* the netns's unique id: an entry of a dead netns whose inode is reused */
	__u32 pid;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	char comm[16];
	__u8 source;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

/* netns inode -> the last process seen doing network work in it */
struct netns_owner_val {
	__u64 mntns;
	__u64 mntns_uid; /* 0: unknown (seeded by user space): records joined by inode */
	__u64 netns_uid; /* 0: unknown (seeded); else an owner of a dead netns is not used */
	__u32 pid;
	char comm[16];
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct netns_owner_val);
} netns_owner SEC(".maps");

/* tid -> DNS server of the datagram being received on an unconnected UDP socket */
struct dns_src {
	__u8 family;
	__u8 pad[3];
	__u16 port;
	__u16 pad2;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct dns_src);
} dns_pending SEC(".maps");

struct dns_scratch {
	__u8 raw[sizeof(struct event) + DNS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratch SEC(".maps");

/* What a hook knows about one occurrence of a flow. */
struct obs {
	struct flow_key key;
	__u8 laddr[16];
	__u16 lport;
	__u16 rport;
	__u8 source;
	bool task_ctx; /* the current task owns the socket */
	__u64 netns_uid; /* unique id of key.netns (0: kernel without one) */
};

static __always_inline __u16 bswap16(__u16 x)
{
	return __builtin_bswap16(x);
}

/* 16 address bytes -> key form; IPv4-mapped IPv6 becomes family 4. */
static __always_inline void set_v6(__u8 *family, __u8 *dst, const __u32 *a)
{
	if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff)) {
		*family = 4;
		__builtin_memcpy(dst, &a[3], 4);
		return;
	}
	*family = 6;
	__builtin_memcpy(dst, a, 16);
}

static __always_inline bool addr_zero(const __u8 *a)
{
	const __u32 *q = (const __u32 *)a;
	return (q[0] | q[1] | q[2] | q[3]) == 0;
}

/*
 * Learns (or reads) the owner of a netns; fills mntns/uid/pid/comm of the occurrence. An owner
 * learnt in a dead netns whose inode is now another's is not used (netns_uid differs).
 */
static __always_inline bool owner_of(__u32 netns, __u64 netns_uid, bool task_ctx, __u64 *mntns,
				     __u64 *uid, __u32 *pid, char *comm)
{
	if (task_ctx) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct netns_owner_val *o, nv = {};

		*mntns = gadget_task_mntns(task);
		*uid = gadget_task_mntns_uid(bpf_get_current_task_btf());
		*pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(comm, 16);
		o = bpf_map_lookup_elem(&netns_owner, &netns);
		if (!o || o->mntns != *mntns || o->mntns_uid != *uid || o->pid != *pid ||
		    o->netns_uid != netns_uid) {
			nv.mntns = *mntns;
			nv.mntns_uid = *uid;
			nv.netns_uid = netns_uid;
			nv.pid = *pid;
			__builtin_memcpy(nv.comm, comm, 16);
			bpf_map_update_elem(&netns_owner, &netns, &nv, BPF_ANY);
		}
		return true;
	}
	struct netns_owner_val *o = bpf_map_lookup_elem(&netns_owner, &netns);
	if (!o || (o->netns_uid && netns_uid && o->netns_uid != netns_uid)) {
		*mntns = 0;
		*uid = 0;
		*pid = 0;
		return false;
	}
	*mntns = o->mntns;
	*uid = o->mntns_uid;
	*pid = o->pid;
	__builtin_memcpy(comm, o->comm, 16);
	return true;
}

static __always_inline void report(const struct flow_key *k, struct flow_val *v, __u64 delta)
{
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		gadget_count_lost();
		return;
	}
	ev->timestamp = v->last_ns;
	ev->mntns_id = v->mntns;
	ev->mntns_uid = v->mntns_uid;
	ev->pid = v->pid;
	ev->netns_id = k->netns;
	__builtin_memcpy(ev->comm, v->comm, 16);
	ev->first_seen = v->first_ns;
	ev->count = delta;
	ev->direction = k->direction;
	ev->proto = k->proto;
	ev->family = k->family;
	ev->source = v->source;
	ev->port = k->port;
	ev->lport = v->lport;
	ev->rport = v->rport;
	ev->pad = 0;
	__builtin_memcpy(ev->laddr, v->laddr, 16);
	__builtin_memcpy(ev->raddr, k->raddr, 16);
	ev->dns_size = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* A repeat of a known flow: count it, report the new count once the interval has passed. */
static __always_inline void observe_hit(struct obs *o, struct flow_val *v, __u64 now)
{
	__sync_fetch_and_add(&v->count, 1);
	v->last_ns = now;
	if (o->task_ctx) {
		/* the latest process using the flow (same netns: same pod) */
		v->pid = bpf_get_current_pid_tgid() >> 32;
	}
	if (now - v->last_report_ns >= report_interval_ns) {
		__u64 delta = v->count - v->reported;

		v->last_report_ns = now;
		if (delta > 0 && delta < (1ULL << 40)) {
			v->reported += delta;
			report(&o->key, v, delta);
		}
	}
}

/* A flow not in the map (v: NULL) or a repeat. */
static __always_inline void observe_lookedup(struct obs *o, struct flow_val *v)
{
	struct flow_val nv = {};
	__u64 now, mntns, uid;
	__u32 pid;
	bool replace = false;

	if (o->task_ctx && gadget_is_self())
		return;
	now = bpf_ktime_get_boot_ns();
	if (v && v->netns_uid == o->netns_uid) {
		observe_hit(o, v, now);
		return;
	}
	if (v) {
		/* the entry of a dead netns whose inode this one reuses: report what it still holds,
		 * then the flow starts over with this netns's owner */
		__u64 delta = v->count - v->reported;

		if (delta > 0 && delta < (1ULL << 40)) {
			v->reported += delta;
			report(&o->key, v, delta);
		}
		replace = true;
	}
	owner_of(o->key.netns, o->netns_uid, o->task_ctx, &mntns, &uid, &pid, nv.comm);
	if (gadget_filter_raw_mntns(&mntns)) {
		if (replace) /* not the stale path again for each packet of this netns */
			bpf_map_delete_elem(&flows, &o->key);
		return;
	}
	nv.first_ns = now;
	nv.last_ns = now;
	nv.last_report_ns = now;
	nv.count = 1;
	nv.reported = 1;
	nv.mntns = mntns;
	nv.mntns_uid = uid;
	nv.netns_uid = o->netns_uid;
	nv.pid = pid;
	nv.lport = o->lport;
	nv.rport = o->rport;
	nv.source = o->source;
	__builtin_memcpy(nv.laddr, o->laddr, 16);
	if (bpf_map_update_elem(&flows, &o->key, &nv, replace ? BPF_ANY : BPF_NOEXIST) == 0) {
		report(&o->key, &nv, 1);
		return;
	}
	/* another CPU inserted it meanwhile: count there */
	v = bpf_map_lookup_elem(&flows, &o->key);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		v->last_ns = now;
	}
}

static __always_inline void observe(struct obs *o)
{
	observe_lookedup(o, bpf_map_lookup_elem(&flows, &o->key));
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The unique id of the socket's netns (ns_common.ns_id; 0 on kernels without one). */
static __always_inline __u64 sk_netns_uid(const struct sock *sk)
{
	if (bpf_core_field_exists(struct ns_common___id, ns_id)) {
		struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);

		return BPF_CORE_READ((struct ns_common___id *)&net->ns, ns_id);
	}
	return 0;
}

/* The current task's netns: inode into key.netns, unique id into netns_uid. */
static __always_inline void current_netns(struct obs *o)
{
	/* direct loads through BTF pointers: cheaper than probe-read helper calls per datagram */
	struct task_struct *task = bpf_get_current_task_btf();
	struct net *net = task->nsproxy->net_ns;

	o->key.netns = net->ns.inum;
	o->netns_uid = bpf_core_field_exists(struct ns_common___id, ns_id)
			       ? ((struct ns_common___id *)&net->ns)->ns_id
			       : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* TCP */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(netpol_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct obs o = {};
	__u16 family;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT) {
		o.key.direction = DIR_EGRESS;
		o.source = SRC_TCP_CONNECT;
		o.task_ctx = true;
	} else if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		o.key.direction = DIR_INGRESS;
		o.source = SRC_TCP_ACCEPT;
		o.task_ctx = false;
	} else {
		return 0;
	}
	family = sk->__sk_common.skc_family;
	if (family == AF_INET) {
		o.key.family = 4;
		__builtin_memcpy(o.key.raddr, &sk->__sk_common.skc_daddr, 4);
		__builtin_memcpy(o.laddr, &sk->__sk_common.skc_rcv_saddr, 4);
	} else if (family == AF_INET6) {
		__u32 d[4], s[4];
		__u8 lf;

		__builtin_memcpy(d, &sk->__sk_common.skc_v6_daddr, 16);
		__builtin_memcpy(s, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		set_v6(&o.key.family, o.key.raddr, d);
		set_v6(&lf, o.laddr, s);
	} else {
		return 0;
	}
	o.key.proto = IPPROTO_TCP;
	o.key.netns = sk_netns(sk);
	o.netns_uid = sk_netns_uid(sk);
	o.lport = sk->__sk_common.skc_num;
	o.rport = bswap16(sk->__sk_common.skc_dport);
	o.key.port = o.key.direction == DIR_EGRESS ? o.rport : o.lport;
	observe(&o);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* UDP */

static __always_inline bool udp_ctx(struct bpf_sock_addr *ctx)
{
	return ctx->type == SOCK_DGRAM && ctx->protocol == IPPROTO_UDP;
}

static __always_inline void sa_remote(struct bpf_sock_addr *ctx, struct obs *o, bool v6)
{
	if (v6) {
		__u32 a[4];

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		set_v6(&o->key.family, o->key.raddr, a);
	} else {
		__u32 a = ctx->user_ip4;

		o->key.family = 4;
		__builtin_memcpy(o->key.raddr, &a, 4);
	}
	o->rport = bswap16(ctx->user_port);
}

static __always_inline void sa_local(struct bpf_sock_addr *ctx, struct obs *o)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	o->lport = sk->src_port;
	if (sk->family == AF_INET) {
		__u32 a = sk->src_ip4;

		__builtin_memcpy(o->laddr, &a, 4);
	} else {
		__u32 a[4];
		__u8 f;

		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		set_v6(&f, o->laddr, a);
	}
}

/* Is there a flow of the other direction this datagram answers? */
static __always_inline bool answers(struct obs *o, __u8 other_dir, __u16 port)
{
	struct flow_key k = o->key;
	struct flow_val *v;

	if (!port)
		return false;
	k.direction = other_dir;
	k.port = port;
	v = bpf_map_lookup_elem(&flows, &k);
	/* not a flow of a dead netns whose inode this one reuses */
	return v && v->netns_uid == o->netns_uid;
}

static __always_inline int udp_hook(struct bpf_sock_addr *ctx, bool v6, __u8 source)
{
	struct flow_val *v;
	struct obs o = {};

	if (!udp_ctx(ctx))
		return 1;
	sa_remote(ctx, &o, v6);
	if (addr_zero(o.key.raddr) || !o.rport)
		return 1;
	sa_local(ctx, &o);
	o.key.proto = IPPROTO_UDP;
	current_netns(&o);
	o.source = source;
	o.task_ctx = true;
	if (source == SRC_UDP_RECV) {
		if (capture_dns && o.rport == DNS_PORT) {
			struct dns_src src = {};
			__u32 tid = (__u32)bpf_get_current_pid_tgid();

			src.family = o.key.family;
			src.port = o.rport;
			__builtin_memcpy(src.addr, o.key.raddr, 16);
			bpf_map_update_elem(&dns_pending, &tid, &src, BPF_ANY);
		}
		o.key.direction = DIR_INGRESS;
		o.key.port = o.lport;
		if (!o.key.port)
			return 1;
		v = bpf_map_lookup_elem(&flows, &o.key);
		/* a reply to something we sent is part of that egress flow */
		if (!v && answers(&o, DIR_EGRESS, o.rport))
			return 1;
	} else {
		o.key.direction = DIR_EGRESS;
		o.key.port = o.rport;
		v = bpf_map_lookup_elem(&flows, &o.key);
		/* a reply to something we received is part of that ingress flow */
		if (!v && source == SRC_UDP_SEND && answers(&o, DIR_INGRESS, o.lport))
			return 1;
	}
	observe_lookedup(&o, v);
	return 1;
}

SEC("cgroup/connect4")
int netpol_connect4(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, false, SRC_UDP_CONNECT);
}

SEC("cgroup/connect6")
int netpol_connect6(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, true, SRC_UDP_CONNECT);
}

SEC("cgroup/sendmsg4")
int netpol_sendmsg4(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, false, SRC_UDP_SEND);
}

SEC("cgroup/sendmsg6")
int netpol_sendmsg6(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, true, SRC_UDP_SEND);
}

SEC("cgroup/recvmsg4")
int netpol_recvmsg4(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, false, SRC_UDP_RECV);
}

SEC("cgroup/recvmsg6")
int netpol_recvmsg6(struct bpf_sock_addr *ctx)
{
	return udp_hook(ctx, true, SRC_UDP_RECV);
}

/* ------------------------------------------------------------------------------------------ */
/* DNS answers */

/* The user buffer the current receive syscall copies into (first iovec for vectors). */
static __always_inline void *recv_buffer(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr = BPF_CORE_READ(regs, orig_ax);
	void *arg = (void *)BPF_CORE_READ(regs, si);
	struct iovec iov = {};

	switch (nr) {
	case NR_read:
	case NR_recvfrom:
		return arg;
	case NR_readv:
		bpf_probe_read_user(&iov, sizeof(iov), arg);
		return iov.iov_base;
	case NR_recvmsg: {
		struct user_msghdr mh = {};

		bpf_probe_read_user(&mh, sizeof(mh), arg);
		bpf_probe_read_user(&iov, sizeof(iov), mh.msg_iov);
		return iov.iov_base;
	}
	default:
		return NULL;
	}
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(netpol_dns, struct sock *sk, int ret, int flags)
{
	struct dns_scratch *s;
	struct event *ev;
	struct dns_src *pending = NULL;
	struct task_struct *task;
	__u32 zero = 0, tid, n;
	__u16 proto, family;
	__u64 mntns;
	void *buf;

	if (!capture_dns || ret < 12)
		return 0;
	proto = sk->sk_protocol;
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_ntohs(sk->__sk_common.skc_dport) != DNS_PORT) {
		if (proto != IPPROTO_UDP)
			return 0;
		pending = bpf_map_lookup_elem(&dns_pending, &tid);
		if (!pending)
			return 0;
	}
	if (gadget_is_self())
		goto out;
	task = bpf_get_current_task_btf();
	mntns = gadget_task_mntns_raw(task);
	if (gadget_filter_raw_mntns(&mntns))
		goto out;
	buf = recv_buffer(task);
	if (!buf)
		goto out;
	s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s)
		goto out;
	ev = (struct event *)s->raw;
	n = (__u32)ret;
	if (n > DNS_MAX)
		n = DNS_MAX;
	barrier_var(n);
	n &= 2 * DNS_MAX - 1;
	if (n > DNS_MAX || bpf_probe_read_user(ev->dns, n, buf))
		goto out;

	__builtin_memset(ev, 0, sizeof(*ev));
	ev->timestamp = bpf_ktime_get_boot_ns();
	ev->first_seen = ev->timestamp;
	ev->mntns_id = mntns;
	ev->mntns_uid = gadget_task_mntns_uid(task);
	ev->pid = task->tgid;
	ev->netns_id = sk_netns(sk);
	gadget_task_comm(task, ev->comm);
	ev->count = 1;
	ev->direction = DIR_EGRESS;
	ev->proto = proto;
	ev->source = SRC_DNS;
	ev->port = DNS_PORT;
	ev->rport = DNS_PORT;
	ev->lport = sk->__sk_common.skc_num;
	if (pending) {
		ev->family = pending->family;
		__builtin_memcpy(ev->raddr, pending->addr, 16);
	} else {
		family = sk->__sk_common.skc_family;
		if (family == AF_INET) {
			ev->family = 4;
			__builtin_memcpy(ev->raddr, &sk->__sk_common.skc_daddr, 4);
		} else {
			__u32 d[4];

			__builtin_memcpy(d, &sk->__sk_common.skc_v6_daddr, 16);
			set_v6(&ev->family, ev->raddr, d);
		}
	}
	ev->dns_size = n;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev) + n, 0))
		gadget_count_lost();
out:
	if (pending)
		bpf_map_delete_elem(&dns_pending, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
