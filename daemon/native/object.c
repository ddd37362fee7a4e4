// SPDX-License-Identifier: Apache-2.0
/* BPF object handles (ObjectSpec, then Collection once loaded): open, load, close; and the
 * lookups by name that the other files share. */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void obj_release(struct obj *o)
{
	while (o->readers)
		reader_stop(o->readers); /* unlinks itself */
	for (size_t i = 0; i < o->nlinks; i++)
		bpf_link__destroy(o->links[i].link);
	free(o->links);
	o->links = NULL;
	o->nlinks = o->caplinks = 0;
	if (o->obj)
		bpf_object__close(o->obj);
	o->obj = NULL;
	o->closed = true;
}

static void obj_finalize(napi_env env, void *data, void *hint)
{
	struct obj *o = data;
	obj_release(o);
	free(o->name);
	o->magic = 0;
	free(o);
}

struct obj *get_obj(napi_env env, napi_value v, bool need_open)
{
	void *p = NULL;
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t == napi_external)
		napi_get_value_external(env, v, &p);
	struct obj *o = p;
	if (!o || o->magic != OBJ_MAGIC) {
		throw_type(env, "expected a BPF object handle");
		return NULL;
	}
	if (need_open && o->closed) {
		throw_code(env, EBADF, "object %s is closed", o->name);
		return NULL;
	}
	return o;
}

bool need_loaded(napi_env env, struct obj *o, const char *what, const char *name)
{
	if (!o->loaded) {
		throw_code(env, o->load_failed ? EBADFD : EAGAIN, "%s %s: object %s is not loaded", what, name, o->name);
		return false;
	}
	return true;
}

bool need_unloaded(napi_env env, struct obj *o, const char *what, const char *name)
{
	if (o->loaded || o->load_failed) {
		throw_code(env, EBUSY, "%s %s: object %s is already loaded", what, name, o->name);
		return false;
	}
	return true;
}

/* open(path) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	char *path = path_arg(env, info);
	if (!path)
		return NULL;
	log_reset();
	struct bpf_object *bo = bpf_object__open_file(path, NULL);
	if (!bo) {
		int err = errno;
		throw_errno(env, err, "open %s", path);
		free(path);
		return NULL;
	}
	log_reset();
	free(path);
	struct obj *o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(bpf_object__name(bo)))) {
		free(o);
		bpf_object__close(bo);
		return throw_errno(env, ENOMEM, "open");
	}
	o->magic = OBJ_MAGIC;
	o->obj = bo;
	napi_value ext;
	if (napi_create_external(env, o, obj_finalize, NULL, &ext) != napi_ok) {
		obj_finalize(env, o, NULL);
		return throw_type(env, "napi_create_external failed");
	}
	return ext;
}

/* objectName(handle) -> string */
static napi_value js_object_name(napi_env env, napi_callback_info info)
{
	napi_value argv[1], v;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], false);
	if (!o)
		return NULL;
	napi_create_string_utf8(env, o->name, NAPI_AUTO_LENGTH, &v);
	return v;
}

struct bpf_map *find_map(napi_env env, struct obj *o, napi_value v, const char *what, char **namep)
{
	char *name = get_string(env, v, "map name");
	if (!name)
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
	if (!m) {
		throw_code(env, ENOENT, "%s %s: no such map in %s", what, name, o->name);
		free(name);
		return NULL;
	}
	*namep = name;
	return m;
}

struct bpf_program *find_prog(napi_env env, struct obj *o, napi_value v, const char *what, char **namep)
{
	char *name = get_string(env, v, "program name");
	if (!name)
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name);
	if (!p) {
		throw_code(env, ENOENT, "%s %s: no such program in %s", what, name, o->name);
		free(name);
		return NULL;
	}
	*namep = name;
	return p;
}


/* Reads argc arguments, the first an open object handle. */
struct obj *obj_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv)
{
	if (!get_args(env, info, argc, argv))
		return NULL;
	return get_obj(env, argv[0], true);
}

/* (handle, map name, ...) -> the map; *op is the object. */
struct bpf_map *map_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, const char *what,
			 struct obj **op, char **namep)
{
	struct obj *o = obj_args(env, info, argc, argv);
	if (!o)
		return NULL;
	*op = o;
	return find_map(env, o, argv[1], what, namep);
}

/* (handle, program name, ...) -> the program; *op is the object. */
struct bpf_program *prog_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv,
			      const char *what, struct obj **op, char **namep)
{
	struct obj *o = obj_args(env, info, argc, argv);
	if (!o)
		return NULL;
	*op = o;
	return find_prog(env, o, argv[1], what, namep);
}

/* load(handle) */
static napi_value js_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o)
		return NULL;
	if (!need_unloaded(env, o, "load", o->name))
		return NULL;
	log_reset();
	int err = bpf_object__load(o->obj);
	if (err) {
		o->load_failed = true;
		char *prog = log_failed_prog();
		throw_errno_prog(env, err, prog, "load %s", o->name);
		free(prog);
		return NULL;
	}
	log_reset();
	o->loaded = true;
	return undefined(env);
}

/* close(handle): stops readers, destroys links, closes the object. Idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], false);
	if (!o)
		return NULL;
	obj_release(o);
	return undefined(env);
}

const struct addon_fn object_fns[] = {
	{ "open", js_open },
	{ "objectName", js_object_name },
	{ "load", js_load },
	{ "close", js_close },
	{ NULL, NULL },
};
