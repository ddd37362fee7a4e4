// SPDX-License-Identifier: Apache-2.0
/* Maps: their specs before load; fds, kernel info, operations by fd and pins after. */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* setMapMaxEntries(handle, map, n) */
static napi_value js_set_map_max_entries(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct obj *o = obj_args(env, info, 3, argv);
	if (!o)
		return NULL;
	uint32_t n;
	if (!get_u32(env, argv[2], "max entries", &n))
		return NULL;
	char *name;
	struct bpf_map *m = find_map(env, o, argv[1], "set max entries", &name);
	if (!m)
		return NULL;
	napi_value ret = NULL;
	if (need_unloaded(env, o, "set max entries", name)) {
		int err = bpf_map__set_max_entries(m, n);
		if (err)
			throw_errno(env, err, "set max entries %s", name);
		else
			ret = undefined(env);
	}
	free(name);
	return ret;
}

/* reuseMapFd(handle, map, fd) */
static napi_value js_reuse_map_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct obj *o = obj_args(env, info, 3, argv);
	if (!o)
		return NULL;
	int fd;
	if (!get_fd(env, argv[2], &fd))
		return NULL;
	char *name;
	struct bpf_map *m = find_map(env, o, argv[1], "reuse map", &name);
	if (!m)
		return NULL;
	napi_value ret = NULL;
	if (need_unloaded(env, o, "reuse map", name)) {
		log_reset();
		int err = bpf_map__reuse_fd(m, fd);
		if (err)
			throw_errno(env, err, "reuse map %s", name);
		else
			ret = undefined(env);
	}
	free(name);
	return ret;
}

/* maps(handle) -> [{name, type, keySize, valueSize, maxEntries, internal}] */
static napi_value js_maps(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr;
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o)
		return NULL;
	NAPI_OK(env, napi_create_array(env, &arr));
	struct bpf_map *m;
	uint32_t n = 0;
	bpf_object__for_each_map(m, o->obj)
	{
		napi_value e;
		napi_create_object(env, &e);
		set_str_prop(env, e, "name", bpf_map__name(m));
		set_u32_prop(env, e, "type", bpf_map__type(m));
		set_u32_prop(env, e, "keySize", bpf_map__key_size(m));
		set_u32_prop(env, e, "valueSize", bpf_map__value_size(m));
		set_u32_prop(env, e, "maxEntries", bpf_map__max_entries(m));
		set_bool_prop(env, e, "internal", bpf_map__is_internal(m));
		napi_set_element(env, arr, n++, e);
	}
	return arr;
}

/* mapFd(handle, name) -> fd owned by the object */
static napi_value js_map_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	struct obj *o;
	char *name;
	struct bpf_map *m = map_args(env, info, 2, argv, "map", &o, &name);
	if (!m)
		return NULL;
	if (need_loaded(env, o, "map", name)) {
		int fd = bpf_map__fd(m);
		if (fd < 0)
			throw_errno(env, -fd, "map %s", name);
		else
			ret = make_u32(env, (uint32_t)fd);
	}
	free(name);
	return ret;
}

/* mapInfo(fd) -> {id, type, keySize, valueSize, maxEntries, flags, name} */
static napi_value js_map_info(napi_env env, napi_callback_info info)
{
	napi_value o;
	int fd;
	if (!fd_arg(env, info, &fd))
		return NULL;
	struct bpf_map_info mi;
	uint32_t len = sizeof(mi);
	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(fd, &mi, &len))
		return throw_errno(env, errno, "map info");
	napi_create_object(env, &o);
	set_u32_prop(env, o, "id", mi.id);
	set_u32_prop(env, o, "type", mi.type);
	set_u32_prop(env, o, "keySize", mi.key_size);
	set_u32_prop(env, o, "valueSize", mi.value_size);
	set_u32_prop(env, o, "maxEntries", mi.max_entries);
	set_u32_prop(env, o, "flags", mi.map_flags);
	set_str_prop(env, o, "name", mi.name);
	return o;
}

/* mapUpdate(fd, key, value, flags=0) */
static napi_value js_map_update(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	int fd;
	void *k, *v;
	size_t kl, vl;
	uint32_t flags = 0;
	napi_valuetype t;
	if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &k, &kl) ||
	    !get_bytes(env, argv[2], "value", &v, &vl))
		return NULL;
	napi_typeof(env, argv[3], &t);
	if (t != napi_undefined && !get_u32(env, argv[3], "flags", &flags))
		return NULL;
	if (bpf_map_update_elem(fd, k, v, flags))
		return throw_errno(env, errno, "update");
	return undefined(env);
}

/* mapDelete(fd, key) -> bool (false if absent) */
static napi_value js_map_delete(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret;
	int fd;
	void *k;
	size_t kl;
	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &k, &kl))
		return NULL;
	if (bpf_map_delete_elem(fd, k)) {
		if (errno != ENOENT)
			return throw_errno(env, errno, "delete");
		napi_get_boolean(env, false, &ret);
		return ret;
	}
	napi_get_boolean(env, true, &ret);
	return ret;
}

static napi_value lookup_common(napi_env env, napi_callback_info info, bool percpu)
{
	napi_value argv[3], ret;
	int fd;
	void *k;
	size_t kl;
	uint32_t vs;
	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "key", &k, &kl) ||
	    !get_u32(env, argv[2], "value size", &vs))
		return NULL;
	size_t total = vs;
	if (percpu) {
		int ncpu = libbpf_num_possible_cpus();
		if (ncpu < 0)
			return throw_errno(env, -ncpu, "possible cpus");
		total = (size_t)ncpu * (((size_t)vs + 7) & ~(size_t)7);
	}
	void *buf;
	NAPI_OK(env, napi_create_buffer(env, total ? total : 1, &buf, &ret));
	memset(buf, 0, total ? total : 1);
	if (bpf_map_lookup_elem(fd, k, buf)) {
		if (errno != ENOENT)
			return throw_errno(env, errno, "lookup");
		napi_get_null(env, &ret);
	}
	return ret;
}

/* mapLookup(fd, key, valueSize) -> Buffer | null */
static napi_value js_map_lookup(napi_env env, napi_callback_info info)
{
	return lookup_common(env, info, false);
}

/* mapLookupPerCpu(fd, key, valueSize) -> Buffer(ncpu * roundup(valueSize, 8)) | null */
static napi_value js_map_lookup_percpu(napi_env env, napi_callback_info info)
{
	return lookup_common(env, info, true);
}

/* mapKeys(fd, keySize, max) -> Buffer[] (bpf_map_get_next_key walk, at most max keys) */
static napi_value js_map_keys(napi_env env, napi_callback_info info)
{
	napi_value argv[3], arr;
	int fd;
	uint32_t ks, max;
	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) || !get_u32(env, argv[1], "key size", &ks) ||
	    !get_u32(env, argv[2], "max", &max))
		return NULL;
	if (ks == 0)
		return throw_type(env, "key size must be > 0");
	uint8_t *prev = calloc(2, ks);
	if (!prev)
		return throw_errno(env, ENOMEM, "keys");
	uint8_t *next = prev + ks;
	NAPI_OK(env, napi_create_array(env, &arr));
	uint32_t n = 0;
	bool first = true;
	while (n < max) {
		if (bpf_map_get_next_key(fd, first ? NULL : prev, next)) {
			if (errno == ENOENT)
				break;
			free(prev);
			return throw_errno(env, errno, "keys");
		}
		napi_value b;
		napi_create_buffer_copy(env, ks, next, NULL, &b);
		napi_set_element(env, arr, n++, b);
		memcpy(prev, next, ks);
		first = false;
	}
	free(prev);
	return arr;
}

/* pinMap(handle, map, path) */
static napi_value js_pin_map(napi_env env, napi_callback_info info)
{
	napi_value argv[3], ret = NULL;
	struct obj *o;
	char *name;
	struct bpf_map *m = map_args(env, info, 3, argv, "pin map", &o, &name);
	if (!m)
		return NULL;
	char *path = get_string(env, argv[2], "path");
	if (path) {
		log_reset();
		int err = bpf_map__pin(m, path);
		if (err)
			throw_errno(env, err, "pin map %s at %s", name, path);
		else
			ret = undefined(env);
		free(path);
	}
	free(name);
	return ret;
}

/* openPinned(path) -> fd (caller closes it with closeFd) */
static napi_value js_open_pinned(napi_env env, napi_callback_info info)
{
	char *path = path_arg(env, info);
	if (!path)
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		throw_errno(env, errno, "open pinned %s", path);
		free(path);
		return NULL;
	}
	free(path);
	return make_u32(env, (uint32_t)fd);
}

/* closeFd(fd) */
static napi_value js_close_fd(napi_env env, napi_callback_info info)
{
	int fd;
	if (!fd_arg(env, info, &fd))
		return NULL;
	if (close(fd))
		return throw_errno(env, errno, "close fd %d", fd);
	return undefined(env);
}

const struct addon_fn maps_fns[] = {
	{ "setMapMaxEntries", js_set_map_max_entries },
	{ "reuseMapFd", js_reuse_map_fd },
	{ "maps", js_maps },
	{ "mapFd", js_map_fd },
	{ "mapInfo", js_map_info },
	{ "mapUpdate", js_map_update },
	{ "mapDelete", js_map_delete },
	{ "mapLookup", js_map_lookup },
	{ "mapLookupPerCpu", js_map_lookup_percpu },
	{ "mapKeys", js_map_keys },
	{ "pinMap", js_pin_map },
	{ "openPinned", js_open_pinned },
	{ "closeFd", js_close_fd },
	{ NULL, NULL },
};
