// SPDX-License-Identifier: Apache-2.0
/* Links: attaching programs (libbpf's auto-attach, cgroup ones at the cgroup v2 root) and
 * pinning, detecting, opening and unpinning their links. */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool add_link(struct obj *o, struct bpf_program *p, struct bpf_link *l)
{
	if (o->nlinks == o->caplinks) {
		size_t nc = o->caplinks ? o->caplinks * 2 : 8;
		struct link_ent *nl = realloc(o->links, nc * sizeof(*nl));
		if (!nl)
			return false;
		o->links = nl;
		o->caplinks = nc;
	}
	o->links[o->nlinks].prog = p;
	o->links[o->nlinks].link = l;
	o->nlinks++;
	return true;
}

/* The link of an attached program (one at most: attach refuses a second), or NULL. */
struct bpf_link *prog_link(struct obj *o, struct bpf_program *p)
{
	for (size_t i = 0; i < o->nlinks; i++)
		if (o->links[i].prog == p)
			return o->links[i].link;
	return NULL;
}

/* The cgroup v2 root: $KGADGET_CGROUP2_ROOT, else the first cgroup2 mount (mixed v1/v2 hosts
 * mount it at /sys/fs/cgroup/unified, pure v2 hosts at /sys/fs/cgroup). */
static bool cgroup2_root(char *out, size_t n)
{
	const char *env = getenv("KGADGET_CGROUP2_ROOT");
	if (env && *env) {
		snprintf(out, n, "%s", env);
		return true;
	}
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[2048], fstype[64];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %2047s", mnt) == 1) {
			snprintf(out, n, "%s", mnt);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* libbpf cannot auto-attach cgroup programs: link them at the cgroup v2 root, through a
 * bpf_link so they go away with their owner. */
static struct bpf_link *attach_auto(struct bpf_program *p)
{
	const char *sec = bpf_program__section_name(p);
	if (!sec || strncmp(sec, "cgroup/", 7))
		return bpf_program__attach(p);
	char root[2048];
	if (!cgroup2_root(root, sizeof(root))) {
		errno = ENOENT;
		return NULL;
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct bpf_link *l = bpf_program__attach_cgroup(p, fd);
	int err = errno;
	close(fd);
	errno = err;
	return l;
}

/* Attaches p (auto-attach from its SEC); false with an exception on error. */
static bool attach_one(napi_env env, struct obj *o, struct bpf_program *p)
{
	log_reset();
	struct bpf_link *l = attach_auto(p);
	if (!l) {
		int err = errno;
		throw_errno_prog(env, err, bpf_program__name(p), "attach %s", bpf_program__name(p));
		return false;
	}
	if (!add_link(o, p, l)) {
		bpf_link__destroy(l);
		throw_errno(env, ENOMEM, "attach %s", bpf_program__name(p));
		return false;
	}
	log_reset();
	return true;
}

/* attachAll(handle) -> number of programs attached by this call. All-or-nothing. */
static napi_value js_attach_all(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o || !need_loaded(env, o, "attach", o->name))
		return NULL;
	size_t before = o->nlinks;
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj)
	{
		if (!bpf_program__autoload(p) || prog_link(o, p))
			continue;
		if (!attach_one(env, o, p)) {
			while (o->nlinks > before)
				bpf_link__destroy(o->links[--o->nlinks].link);
			return NULL;
		}
	}
	return make_u32(env, (uint32_t)(o->nlinks - before));
}

/* attach(handle, prog) */
static napi_value js_attach(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct obj *o;
	char *name;
	struct bpf_program *p = prog_args(env, info, 2, argv, "attach", &o, &name);
	if (!p)
		return NULL;
	napi_value ret = NULL;
	if (need_loaded(env, o, "attach", name)) {
		if (prog_link(o, p))
			throw_code(env, EEXIST, "attach %s: already attached", name);
		else if (attach_one(env, o, p))
			ret = undefined(env);
	}
	free(name);
	return ret;
}

/* detach(handle, prog) -> bool (false when it was not attached) */
static napi_value js_detach(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret;
	struct obj *o;
	char *name;
	struct bpf_program *p = prog_args(env, info, 2, argv, "detach", &o, &name);
	if (!p)
		return NULL;
	free(name);
	bool found = false;
	for (size_t i = 0; i < o->nlinks;) {
		if (o->links[i].prog == p) {
			bpf_link__destroy(o->links[i].link);
			o->links[i] = o->links[--o->nlinks];
			found = true;
		} else {
			i++;
		}
	}
	napi_get_boolean(env, found, &ret);
	return ret;
}

/* detachAsync(handle, prog) -> Promise<bool>: the program's links leave the object here (it
 * reads as not attached at once) and are destroyed on a libuv worker thread: detaching from a
 * perf-event tracepoint waits for RCU grace periods (~50 ms, seconds on a loaded machine), which
 * must not hold the event loop. Resolves false when it was not attached. */
struct detach_work {
	napi_async_work work;
	napi_deferred deferred;
	struct bpf_link **links;
	size_t n;
};

static void detach_execute(napi_env env, void *data)
{
	struct detach_work *w = data;
	for (size_t i = 0; i < w->n; i++)
		bpf_link__destroy(w->links[i]);
}

static void detach_complete(napi_env env, napi_status status, void *data)
{
	struct detach_work *w = data;
	napi_value found;
	napi_get_boolean(env, w->n > 0, &found);
	napi_resolve_deferred(env, w->deferred, found);
	if (w->work)
		napi_delete_async_work(env, w->work);
	free(w->links);
	free(w);
}

static napi_value js_detach_async(napi_env env, napi_callback_info info)
{
	napi_value argv[2], promise, name;
	struct obj *o;
	char *pname;
	struct bpf_program *p = prog_args(env, info, 2, argv, "detach", &o, &pname);
	if (!p)
		return NULL;
	struct detach_work *w = calloc(1, sizeof(*w));
	if (w && o->nlinks)
		w->links = calloc(o->nlinks, sizeof(*w->links));
	if (!w || (o->nlinks && !w->links)) {
		free(w);
		napi_value r = throw_errno(env, ENOMEM, "detach %s", pname);
		free(pname);
		return r;
	}
	free(pname);
	if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
		free(w->links);
		free(w);
		return throw_type(env, "internal napi error in detachAsync");
	}
	for (size_t i = 0; i < o->nlinks;) {
		if (o->links[i].prog == p) {
			w->links[w->n++] = o->links[i].link;
			o->links[i] = o->links[--o->nlinks];
		} else {
			i++;
		}
	}
	if (napi_create_string_utf8(env, "kgadget.bpfDetach", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, detach_execute, detach_complete, w, &w->work) !=
		    napi_ok ||
	    napi_queue_async_work(env, w->work) != napi_ok) {
		/* cannot go off the loop: release here */
		if (w->work)
			napi_delete_async_work(env, w->work);
		w->work = NULL;
		detach_execute(env, w);
		detach_complete(env, napi_ok, w);
	}
	return promise;
}

/* Whether fd refers to a BPF link (its fdinfo has link_id; maps, programs and BTF have not). */
static bool fd_is_link(int fd)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return false;
	ssize_t n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return strstr(buf, "\nlink_id:") != NULL;
}

/* pinLink(handle, prog, path): pins the link of an attached program (it then outlives the
 * process: the program stays attached until the pin is removed and no fd holds the link). */
static napi_value js_pin_link(napi_env env, napi_callback_info info)
{
	napi_value argv[3], ret = NULL;
	struct obj *o;
	char *name;
	struct bpf_program *p = prog_args(env, info, 3, argv, "pin link", &o, &name);
	if (!p)
		return NULL;
	char *path = get_string(env, argv[2], "path");
	if (path) {
		struct bpf_link *l = prog_link(o, p);
		if (!l) {
			throw_code(env, ENOENT, "pin link %s: not attached", name);
		} else {
			log_reset();
			int err = bpf_link__pin(l, path);
			if (err)
				throw_errno(env, err, "pin link %s at %s", name, path);
			else
				ret = undefined(env);
		}
		free(path);
	}
	free(name);
	return ret;
}

/* openPinnedLink(path) -> fd of the link pinned there (caller closes it with closeFd).
 * ENOENT: no pin; EINVAL: the pin is another kind of object. */
static napi_value js_open_pinned_link(napi_env env, napi_callback_info info)
{
	napi_value ret = NULL;
	char *path = path_arg(env, info);
	if (!path)
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		throw_errno(env, errno, "open pinned link %s", path);
	} else if (!fd_is_link(fd)) {
		close(fd);
		throw_code(env, EINVAL, "open pinned link %s: not a link", path);
	} else {
		ret = make_u32(env, (uint32_t)fd);
	}
	free(path);
	return ret;
}

/* linkInfo(fd) -> {id, type, progId} */
static napi_value js_link_info(napi_env env, napi_callback_info info)
{
	napi_value o;
	int fd;
	if (!fd_arg(env, info, &fd))
		return NULL;
	if (!fd_is_link(fd))
		return throw_code(env, EINVAL, "link info: fd %d is not a link", fd);
	struct bpf_link_info li;
	uint32_t len = sizeof(li);
	memset(&li, 0, sizeof(li));
	if (bpf_obj_get_info_by_fd(fd, &li, &len))
		return throw_errno(env, errno, "link info");
	napi_create_object(env, &o);
	set_u32_prop(env, o, "id", li.id);
	set_u32_prop(env, o, "type", li.type);
	set_u32_prop(env, o, "progId", li.prog_id);
	return o;
}

/* unpinLink(path) -> bool (false when there was no pin). Removes a link's pin; with no other
 * fd holding the link, it ends here and its program is detached before this returns. */
static napi_value js_unpin_link(napi_env env, napi_callback_info info)
{
	napi_value ret = NULL;
	char *path = path_arg(env, info);
	if (!path)
		return NULL;
	/* hold the link while unpinning: our close is then the last reference, and the kernel
	 * releases a link synchronously on close (an unpinned inode releases it from a workqueue) */
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			napi_get_boolean(env, false, &ret);
		else
			throw_errno(env, errno, "unpin link %s", path);
	} else if (!fd_is_link(fd)) {
		close(fd);
		throw_code(env, EINVAL, "unpin link %s: not a link", path);
	} else if (unlink(path)) {
		int err = errno;
		close(fd);
		throw_errno(env, err, "unpin link %s", path);
	} else {
		close(fd);
		napi_get_boolean(env, true, &ret);
	}
	free(path);
	return ret;
}

const struct addon_fn links_fns[] = {
	{ "attachAll", js_attach_all },
	{ "attach", js_attach },
	{ "detach", js_detach },
	{ "detachAsync", js_detach_async },
	{ "pinLink", js_pin_link },
	{ "openPinnedLink", js_open_pinned_link },
	{ "linkInfo", js_link_info },
	{ "unpinLink", js_unpin_link },
	{ NULL, NULL },
};
