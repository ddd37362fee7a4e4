/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Path of a struct path (or an fd's file) as text, for programs where bpf_d_path is not allowed
 * (tracepoints). A bounded walk of dentry parents and mount points, like d_path(): relative to
 * the current task's root (so a container sees its own paths), names written backwards into a
 * per-CPU scratch buffer, then copied to the front of the destination.
 * Not done: " (deleted)" suffixes; names computed by d_dname (pipe:[N], socket:[N]) come out
 * empty. A pseudo file (memfd) gives "/memfd:name", a disconnected dentry its last name.
 * Reads go through BPF_CORE_READ so this works in any tracing program type.
 */
#ifndef __GADGET_PATH_H
#define __GADGET_PATH_H

#include "gadget.h"

#define GADGET_PATH_MAX 4096 /* power of two: offsets are masked with it */
#define GADGET_NAME_MAX 255
#define GADGET_PATH_DEPTH 128 /* components, mount crossings included */

/*
 * Walk state lives in the per-CPU scratch value, not on the stack: the verifier does not track
 * map contents, so the bpf_loop callback is verified once instead of once per distinct pos.
 */
struct gadget_path_scratch {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos; /* start of the text written so far in buf */
	/* The name copy at a masked offset may run up to NAME_MAX past the end. */
	char buf[GADGET_PATH_MAX + GADGET_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gadget_path_scratch);
} gadget_path_scratch SEC(".maps");

static long gadget_path_step(__u32 i, void *ctx)
{
	struct gadget_path_scratch *w;
	struct dentry *dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt;
	struct mount *mnt, *up;
	const unsigned char *name;
	__u32 zero = 0, len, pos;

	w = bpf_map_lookup_elem(&gadget_path_scratch, &zero);
	if (!w)
		return 1;
	/* Locals, not w->...: inside BPF_CORE_READ they would get CO-RE relocations too. */
	dentry = w->dentry;
	vfsmnt = w->vfsmnt;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	if (dentry == mnt_root) {
		mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
		up = BPF_CORE_READ(mnt, mnt_parent);
		/* Top of the mount tree, a detached/internal mount, or a bad read. */
		if (!up || up == mnt)
			return 1;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vfsmnt = &up->mnt;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);

	len = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	/* Too deep for the buffer: stop (the top components are lost). */
	if (len > GADGET_NAME_MAX || len + 1 > w->pos)
		return 1;
	pos = w->pos - len;
	bpf_probe_read_kernel(w->buf + (pos & (GADGET_PATH_MAX - 1)), len, name);
	pos--;
	w->buf[pos & (GADGET_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	/* Its own parent but no mount root: a pseudo file (memfd:x) or a disconnected dentry. */
	return dentry == parent || !parent;
}

static __always_inline __u32 gadget_path_resolve_parts(struct dentry *dentry, struct vfsmount *vfsmnt,
						       char *dst, __u32 dst_size)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct gadget_path_scratch *w;
	__u32 zero = 0, len, pos;

	dst[0] = '\0';
	if (!dentry || !vfsmnt)
		return 0;
	w = bpf_map_lookup_elem(&gadget_path_scratch, &zero);
	if (!w)
		return 0;
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	w->root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	w->pos = GADGET_PATH_MAX;
	bpf_loop(GADGET_PATH_DEPTH, gadget_path_step, NULL, 0);
	pos = w->pos;
	if (pos >= GADGET_PATH_MAX) {
		/* The root itself. */
		dst[0] = '/';
		if (dst_size > 1)
			dst[1] = '\0';
		return 1;
	}
	len = GADGET_PATH_MAX - pos;
	if (len > dst_size - 1)
		len = dst_size - 1;
	bpf_probe_read_kernel(dst, len, w->buf + (pos & (GADGET_PATH_MAX - 1)));
	dst[len] = '\0';
	return len;
}

static __always_inline __u32 gadget_path_resolve(const struct path *path, char *dst, __u32 dst_size)
{
	return gadget_path_resolve_parts(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), dst,
					 dst_size);
}

/* The current task's open file of fd, or NULL. */
static __always_inline struct file *gadget_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || !fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Path of the current task's fd into dst; 0 (empty string) when fd is not open. */
static __always_inline __u32 gadget_path_of_fd(int fd, char *dst, __u32 dst_size)
{
	struct file *file = gadget_fd_file(fd);

	if (!file) {
		dst[0] = '\0';
		return 0;
	}
	return gadget_path_resolve(&file->f_path, dst, dst_size);
}

/* Current working directory of the current task into dst. */
static __always_inline __u32 gadget_path_cwd(char *dst, __u32 dst_size)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return gadget_path_resolve_parts(BPF_CORE_READ(task, fs, pwd.dentry),
					 BPF_CORE_READ(task, fs, pwd.mnt), dst, dst_size);
}

#endif
