// SPDX-License-Identifier: Apache-2.0
/* Globals: .rodata / .data / .bss variables, located through the object's BTF. */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct global_loc {
	struct bpf_map *map;
	const char *sec;
	uint32_t offset, size;
	const struct btf_type *type; /* resolved (no modifiers/typedefs) */
	const struct btf *btf;
};

static const char *const global_secs[] = { ".rodata", ".data", ".bss" };

/* The internal map of section sec (libbpf names it "<truncated obj name><sec>"). */
static struct bpf_map *internal_map(struct bpf_object *bo, const char *sec)
{
	struct bpf_map *m;
	size_t sl = strlen(sec);
	bpf_object__for_each_map(m, bo)
	{
		if (!bpf_map__is_internal(m))
			continue;
		const char *n = bpf_map__name(m);
		size_t l = strlen(n);
		if (l >= sl && strcmp(n + l - sl, sec) == 0)
			return m;
	}
	return NULL;
}

/* 0 on success, -ENOENT when no such variable. */
static int find_global(struct bpf_object *bo, const char *name, struct global_loc *loc)
{
	const struct btf *btf = bpf_object__btf(bo);
	if (!btf)
		return -ENOENT;
	for (size_t s = 0; s < sizeof(global_secs) / sizeof(*global_secs); s++) {
		int id = btf__find_by_name_kind(btf, global_secs[s], BTF_KIND_DATASEC);
		if (id < 0)
			continue;
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vsi = btf_var_secinfos(t);
		for (int i = 0; i < btf_vlen(t); i++, vsi++) {
			const struct btf_type *var = btf__type_by_id(btf, vsi->type);
			if (!var || strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
				continue;
			loc->map = internal_map(bo, global_secs[s]);
			if (!loc->map)
				return -ENOENT;
			loc->sec = global_secs[s];
			loc->offset = vsi->offset;
			loc->size = vsi->size;
			int rid = btf__resolve_type(btf, var->type);
			loc->type = rid >= 0 ? btf__type_by_id(btf, rid) : NULL;
			loc->btf = btf;
			return 0;
		}
	}
	return -ENOENT;
}

static void describe_type(napi_env env, napi_value o, const struct btf *btf, const struct btf_type *t)
{
	const char *kind = "other";
	bool is_signed = false;
	if (t) {
		switch (btf_kind(t)) {
		case BTF_KIND_INT: {
			uint32_t enc = btf_int_encoding(t);
			kind = (enc & BTF_INT_BOOL) ? "bool" : (enc & BTF_INT_CHAR) ? "char" : "int";
			is_signed = enc & BTF_INT_SIGNED;
			break;
		}
		case BTF_KIND_ENUM:
		case BTF_KIND_ENUM64:
			kind = "enum";
			is_signed = btf_kflag(t);
			break;
		case BTF_KIND_PTR:
			kind = "pointer";
			break;
		case BTF_KIND_ARRAY: {
			kind = "array";
			const struct btf_array *a = btf_array(t);
			int eid = btf__resolve_type(btf, a->type);
			const struct btf_type *et = eid >= 0 ? btf__type_by_id(btf, eid) : NULL;
			if (et && btf_is_int(et) && et->size == 1)
				kind = "chars";
			break;
		}
		case BTF_KIND_STRUCT:
		case BTF_KIND_UNION:
			kind = "struct";
			break;
		default:
			break;
		}
	}
	set_str_prop(env, o, "kind", kind);
	set_bool_prop(env, o, "signed", is_signed);
}

/* globals(handle) -> [{name, section, offset, size, kind, signed}] */
static napi_value js_globals(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr;
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o)
		return NULL;
	NAPI_OK(env, napi_create_array(env, &arr));
	const struct btf *btf = bpf_object__btf(o->obj);
	uint32_t n = 0;
	for (size_t s = 0; btf && s < sizeof(global_secs) / sizeof(*global_secs); s++) {
		int id = btf__find_by_name_kind(btf, global_secs[s], BTF_KIND_DATASEC);
		if (id < 0 || !internal_map(o->obj, global_secs[s]))
			continue;
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vsi = btf_var_secinfos(t);
		for (int i = 0; i < btf_vlen(t); i++, vsi++) {
			const struct btf_type *var = btf__type_by_id(btf, vsi->type);
			if (!var || !btf_is_var(var))
				continue;
			napi_value e;
			napi_create_object(env, &e);
			set_str_prop(env, e, "name", btf__name_by_offset(btf, var->name_off));
			set_str_prop(env, e, "section", global_secs[s]);
			set_u32_prop(env, e, "offset", vsi->offset);
			set_u32_prop(env, e, "size", vsi->size);
			int rid = btf__resolve_type(btf, var->type);
			describe_type(env, e, btf, rid >= 0 ? btf__type_by_id(btf, rid) : NULL);
			napi_set_element(env, arr, n++, e);
		}
	}
	return arr;
}

/* setGlobal(handle, name, bytes): .rodata before load; .data/.bss before or after load (then the
 * kernel's copy is written too). */
static napi_value js_set_global(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct obj *o = obj_args(env, info, 3, argv);
	if (!o)
		return NULL;
	void *data;
	size_t len;
	if (!get_bytes(env, argv[2], "value", &data, &len))
		return NULL;
	char *name = get_string(env, argv[1], "name");
	if (!name)
		return NULL;
	struct global_loc loc;
	napi_value ret = NULL;
	if (find_global(o->obj, name, &loc) < 0) {
		throw_code(env, ENOENT, "set global %s: no such variable in %s", name, o->name);
		goto out;
	}
	if (len != loc.size) {
		char m[256];
		snprintf(m, sizeof(m), "set global %s: value has %zu bytes, variable has %u", name, len, loc.size);
		throw_type(env, m);
		goto out;
	}
	if ((o->loaded || o->load_failed) && strcmp(loc.sec, ".rodata") == 0) {
		throw_code(env, EBUSY, "set global %s: object %s is already loaded (.rodata is frozen)", name, o->name);
		goto out;
	}
	size_t sz = 0;
	uint8_t *base = (uint8_t *)bpf_map__initial_value(loc.map, &sz); /* writable: mmaped before load */
	if (!base || (size_t)loc.offset + loc.size > sz) {
		throw_code(env, ENOENT, "set global %s: %s has no data", name, loc.sec);
		goto out;
	}
	memcpy(base + loc.offset, data, len);
	if (o->loaded) {
		/* libbpf 1.1 maps .data/.bss into this process only for skeletons: write the kernel's
		 * copy (read, patch the variable, write back, so values programs wrote are kept) */
		int fd = bpf_map__fd(loc.map), zero = 0;
		uint8_t *cur = malloc(sz);
		if (!cur) {
			throw_errno(env, ENOMEM, "set global %s", name);
			goto out;
		}
		int err = bpf_map_lookup_elem(fd, &zero, cur) ? -errno : 0;
		if (!err) {
			memcpy(cur + loc.offset, data, len);
			err = bpf_map_update_elem(fd, &zero, cur, BPF_ANY) ? -errno : 0;
		}
		free(cur);
		if (err) {
			throw_errno(env, -err, "set global %s", name);
			goto out;
		}
	}
	ret = undefined(env);
out:
	free(name);
	return ret;
}

/* getGlobal(handle, name) -> Buffer (a copy of the current value) */
static napi_value js_get_global(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	struct obj *o = obj_args(env, info, 2, argv);
	if (!o)
		return NULL;
	char *name = get_string(env, argv[1], "name");
	if (!name)
		return NULL;
	struct global_loc loc;
	size_t sz = 0;
	uint8_t *base;
	if (find_global(o->obj, name, &loc) < 0) {
		throw_code(env, ENOENT, "get global %s: no such variable in %s", name, o->name);
	} else if (!(base = (uint8_t *)bpf_map__initial_value(loc.map, &sz)) || (size_t)loc.offset + loc.size > sz) {
		throw_code(env, ENOENT, "get global %s: %s has no data", name, loc.sec);
	} else {
		napi_create_buffer_copy(env, loc.size, base + loc.offset, NULL, &ret);
	}
	free(name);
	return ret;
}

const struct addon_fn globals_fns[] = {
	{ "globals", js_globals },
	{ "setGlobal", js_set_global },
	{ "getGlobal", js_get_global },
	{ NULL, NULL },
};
