/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A mount namespace's unique id: ns_common.ns_id (kernel 6.x), else mnt_namespace.seq (older).
 * Unlike the inode (ns.inum), the kernel never reuses it while it runs, so it names one
 * namespace, and so one container, for good. user space reads the same value with
 * ioctl(NS_GET_MNTNS_ID) on /proc/<pid>/ns/mnt. */
#ifndef __GADGET_NS_UID_H
#define __GADGET_NS_UID_H

struct mnt_namespace___seq {
	__u64 seq;
} __attribute__((preserve_access_index));
struct ns_common___id {
	__u64 ns_id;
} __attribute__((preserve_access_index));

/* Probe-read variant: any mnt_namespace pointer. */
static __always_inline __u64 ns_unique_id(struct mnt_namespace *mnt)
{
	if (bpf_core_field_exists(struct ns_common___id, ns_id)) {
		struct ns_common___id *ns = (void *)&mnt->ns;
		return BPF_CORE_READ(ns, ns_id);
	}
	return BPF_CORE_READ((struct mnt_namespace___seq *)mnt, seq);
}

/* Direct-load variant for hot paths: mnt must be a BTF pointer (from a BTF task). */
static __always_inline __u64 ns_unique_id_btf(struct mnt_namespace *mnt)
{
	if (bpf_core_field_exists(struct ns_common___id, ns_id))
		return ((struct ns_common___id *)&mnt->ns)->ns_id;
	return ((struct mnt_namespace___seq *)mnt)->seq;
}

#endif
