/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Daemon-wide maps owned by bpf/container_tracker.bpf.c; every gadget declares them identically so
 * the loader can reuse the tracker's fds (bpf_map__reuse_fd checks type, key, value, max_entries). */
#ifndef __GADGET_MNTNS_MAPS_H
#define __GADGET_MNTNS_MAPS_H

/* Every mount namespace user space has classified (container or host). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} gadget_mntns_known SEC(".maps");

/* A mount namespace created inside a container -> the container's own mntns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} gadget_mntns_alias SEC(".maps");

#endif
