// SPDX-License-Identifier: Apache-2.0
/* Programs: their specs before load, their fds and kernel info after. */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* setAutoload(handle, prog, bool) */
static napi_value js_set_autoload(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct obj *o = obj_args(env, info, 3, argv);
	if (!o)
		return NULL;
	bool on;
	if (napi_get_value_bool(env, argv[2], &on) != napi_ok)
		return throw_type(env, "autoload must be a boolean");
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "set autoload", &name);
	if (!p)
		return NULL;
	napi_value ret = NULL;
	if (need_unloaded(env, o, "set autoload", name)) {
		int err = bpf_program__set_autoload(p, on);
		if (err)
			throw_errno(env, err, "set autoload %s", name);
		else
			ret = undefined(env);
	}
	free(name);
	return ret;
}

/* programs(handle) -> [{name, section, type, autoload, attached}] */
static napi_value js_programs(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr;
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o)
		return NULL;
	NAPI_OK(env, napi_create_array(env, &arr));
	struct bpf_program *p;
	uint32_t n = 0;
	bpf_object__for_each_program(p, o->obj)
	{
		napi_value e;
		napi_create_object(env, &e);
		set_str_prop(env, e, "name", bpf_program__name(p));
		set_str_prop(env, e, "section", bpf_program__section_name(p));
		set_u32_prop(env, e, "type", bpf_program__type(p));
		set_bool_prop(env, e, "autoload", bpf_program__autoload(p));
		set_bool_prop(env, e, "attached", prog_link(o, p) != NULL);
		napi_set_element(env, arr, n++, e);
	}
	return arr;
}

/* progFd(handle, name) -> fd owned by the object */
static napi_value js_prog_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	struct obj *o;
	char *name;
	struct bpf_program *p = prog_args(env, info, 2, argv, "program", &o, &name);
	if (!p)
		return NULL;
	if (need_loaded(env, o, "program", name)) {
		int fd = bpf_program__fd(p);
		if (fd < 0)
			throw_errno(env, fd == -1 ? ENOENT : -fd, "program %s: not loaded", name);
		else
			ret = make_u32(env, (uint32_t)fd);
	}
	free(name);
	return ret;
}

/* progInfo(fd) -> {id, type, name, tag, mapIds} */
static napi_value js_prog_info(napi_env env, napi_callback_info info)
{
	napi_value o;
	int fd;
	if (!fd_arg(env, info, &fd))
		return NULL;
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi);
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(fd, &pi, &len))
		return throw_errno(env, errno, "program info");
	/* a second call for the ids of the maps it uses */
	uint32_t nmaps = pi.nr_map_ids;
	uint32_t *ids = calloc(nmaps ? nmaps : 1, sizeof(*ids));
	if (!ids)
		return throw_errno(env, ENOMEM, "program info");
	if (nmaps) {
		struct bpf_prog_info p2;
		memset(&p2, 0, sizeof(p2));
		p2.nr_map_ids = nmaps;
		p2.map_ids = (uint64_t)(uintptr_t)ids;
		len = sizeof(p2);
		if (bpf_obj_get_info_by_fd(fd, &p2, &len)) {
			int err = errno;
			free(ids);
			return throw_errno(env, err, "program info");
		}
		if (p2.nr_map_ids < nmaps)
			nmaps = p2.nr_map_ids;
	}
	napi_create_object(env, &o);
	set_u32_prop(env, o, "id", pi.id);
	set_u32_prop(env, o, "type", pi.type);
	set_str_prop(env, o, "name", pi.name);
	char tag[2 * BPF_TAG_SIZE + 1];
	for (int i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
	set_str_prop(env, o, "tag", tag);
	napi_value arr;
	napi_create_array_with_length(env, nmaps, &arr);
	for (uint32_t i = 0; i < nmaps; i++)
		napi_set_element(env, arr, i, make_u32(env, ids[i]));
	napi_set_named_property(env, o, "mapIds", arr);
	free(ids);
	return o;
}

/* progFdById(id) -> a new fd (caller closes it with closeFd). The kernel asks for CAP_SYS_ADMIN. */
static napi_value js_prog_fd_by_id(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	uint32_t id;
	if (!get_args(env, info, 1, argv) || !get_u32(env, argv[0], "id", &id))
		return NULL;
	int fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return throw_errno(env, errno, "program %u", id);
	return make_u32(env, (uint32_t)fd);
}

/*
 * progTestRun(fd) -> retval: BPF_PROG_TEST_RUN once, no input (a raw_tp program runs on this
 * thread: user pointers of this process are valid in it). For benchmarks of helpers' cost.
 */
static napi_value js_prog_test_run(napi_env env, napi_callback_info info)
{
	int fd;
	if (!fd_arg(env, info, &fd))
		return NULL;
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	if (bpf_prog_test_run_opts(fd, &opts))
		return throw_errno(env, errno, "test run");
	return make_u32(env, opts.retval);
}

const struct addon_fn programs_fns[] = {
	{ "setAutoload", js_set_autoload },
	{ "programs", js_programs },
	{ "progFd", js_prog_fd },
	{ "progInfo", js_prog_info },
	{ "progFdById", js_prog_fd_by_id },
	{ "progTestRun", js_prog_test_run },
	{ NULL, NULL },
};
