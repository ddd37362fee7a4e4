// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test object for daemon/src/bpf: emits one record per openat(2) whose path starts with
 * `marker`, from process `target_tgid` (0 = any). Globals exercise every setGlobal encoding. */
#include "gadget.h"

#define FNAME_LEN 64

struct wrapper_test_event {
	__u64 ts;
	__u32 pid;
	__u32 tag;
	__u32 copy;
	__s32 flags;
	__u64 mntns;
	char fname[FNAME_LEN];
};
GADGET_EVENT(wrapper_test_event);

const volatile __u32 target_tgid = 0;
const volatile __u32 tag = 0;
/* Records per matching openat (amplification for throughput/loss tests), at most 64. */
const volatile __u32 copies = 1;
/* Emit only offsetof(fname) + strlen(fname) + 1 bytes (exercises framing padding). */
const volatile bool variable_len = false;
const volatile __s64 tag_offset = 0;
const volatile char marker[16] = {};

/* Syscalls (raw_tp/sys_enter) made by target_tgid, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} wt_syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wrapper_test_event);
} wt_scratch SEC(".maps");

static __always_inline bool marker_matches(const char *fname)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (marker[i] == 0)
			return true;
		if (fname[i] != marker[i])
			return false;
	}
	return true;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int wt_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0;

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (gadget_is_self())
		return 0;
	__u64 mntns = gadget_current_mntns();
	if (gadget_filtered_out(mntns))
		return 0;

	struct wrapper_test_event *e = bpf_map_lookup_elem(&wt_scratch, &zero);
	if (!e)
		return 0;
	long n = bpf_probe_read_user_str(e->fname, sizeof(e->fname), (const char *)ctx->args[1]);
	if (n <= 0)
		return 0;
	if (!marker_matches(e->fname))
		return 0;
	e->ts = bpf_ktime_get_boot_ns();
	e->pid = tgid;
	e->tag = tag + (__u32)tag_offset;
	e->flags = (__s32)ctx->args[2];
	e->mntns = mntns;

	__u32 count = copies > 64 ? 64 : copies;
	for (__u32 i = 0; i < 64; i++) {
		if (i >= count)
			break;
		e->copy = i;
		if (variable_len) {
			__u64 len = n;
			if (len > FNAME_LEN)
				len = FNAME_LEN;
			__u64 size = offsetof(struct wrapper_test_event, fname) + len;
			if (bpf_ringbuf_output(&events, e, size, 0))
				gadget_count_lost();
		} else {
			struct wrapper_test_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
			if (!r) {
				gadget_count_lost();
				continue;
			}
			__builtin_memcpy(r, e, sizeof(*r));
			bpf_ringbuf_submit(r, 0);
		}
	}
	return 0;
}

SEC("raw_tp/sys_enter")
int wt_sys_enter(void *ctx)
{
	__u32 zero = 0;
	if (!target_tgid || (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__u64 *n = bpf_map_lookup_elem(&wt_syscalls, &zero);
	if (n)
		*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
