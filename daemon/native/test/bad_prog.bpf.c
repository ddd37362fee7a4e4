// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fails verification on purpose: dereferences a map value without a NULL check. */
#include "gadget.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* not ARRAY: newer verifiers know a const in-bounds array key cannot miss */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bad_values SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int bad_openat(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&bad_values, &zero);
	*v += 1; /* no NULL check */
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
