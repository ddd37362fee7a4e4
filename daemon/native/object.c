// SPDX-License-Identifier: Apache-2.0
/* BPF object handles (ObjectSpec, then Collection once loaded): open, load (also on a worker thread:
 * loadAsync), close; and the lookups by name that the other files share. */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
	if (need_open && o->busy) {
		throw_code(env, EBUSY, "object %s is being loaded", o->name);
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

/* loadAsync(handle) -> Promise<void>: bpf_object__load on a libuv worker thread (the verifier
 * may take hundreds of ms), so the event loop keeps serving. Until it settles the object refuses
 * every other call (EBUSY); close() meanwhile releases it once the load is over. */
struct load_work {
	napi_async_work work;
	napi_deferred deferred;
	napi_ref ref; /* keeps the handle (and so the object) alive while the worker uses it */
	struct obj *o;
	int err;
	char *log; /* the worker thread's libbpf log of a failed load */
	char *prog;
};

static void load_execute(napi_env env, void *data)
{
	struct load_work *w = data;
	sigset_t all, old;
	/* a signal taken on this thread would make the verifier give up with EAGAIN */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	log_reset();
	w->err = bpf_object__load(w->o->obj);
	if (w->err) {
		w->prog = log_failed_prog();
		w->log = log_take();
	}
	log_reset();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void load_complete(napi_env env, napi_status status, void *data)
{
	struct load_work *w = data;
	struct obj *o = w->o;
	o->busy = false;
	if (status == napi_ok && !w->err) {
		o->loaded = true;
		napi_resolve_deferred(env, w->deferred, undefined(env));
	} else {
		o->load_failed = true;
		napi_value e = make_errno_error(env, w->err ? w->err : ECANCELED, w->prog, w->log, "load %s", o->name);
		if (!e) /* an exception is pending: reject with a plain error */
			napi_get_undefined(env, &e);
		napi_reject_deferred(env, w->deferred, e);
	}
	if (o->close_pending)
		obj_release(o);
	napi_delete_reference(env, w->ref);
	napi_delete_async_work(env, w->work);
	free(w->log);
	free(w->prog);
	free(w);
}

static napi_value js_load_async(napi_env env, napi_callback_info info)
{
	napi_value argv[1], promise, name;
	struct obj *o = obj_args(env, info, 1, argv);
	if (!o)
		return NULL;
	if (!need_unloaded(env, o, "load", o->name))
		return NULL;
	struct load_work *w = calloc(1, sizeof(*w));
	if (!w)
		return throw_errno(env, ENOMEM, "load %s", o->name);
	w->o = o;
	if (napi_create_reference(env, argv[0], 1, &w->ref) != napi_ok ||
	    napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
	    napi_create_string_utf8(env, "kgadget.bpfLoad", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, load_execute, load_complete, w, &w->work) != napi_ok) {
		/* a created promise is left pending: the exception is what the caller sees */
		if (w->ref)
			napi_delete_reference(env, w->ref);
		free(w);
		return throw_type(env, "internal napi error in loadAsync");
	}
	if (napi_queue_async_work(env, w->work) != napi_ok) {
		napi_delete_async_work(env, w->work);
		napi_delete_reference(env, w->ref);
		free(w);
		return throw_type(env, "internal napi error in napi_queue_async_work");
	}
	o->busy = true;
	return promise;
}

/* closeAsync(handle) -> Promise<void>: stops the readers here, then destroys the links and closes
 * the object on a libuv worker thread. Detaching a program from a perf-event tracepoint waits for
 * RCU grace periods (tracepoint_synchronize_unregister), which take seconds on a loaded machine:
 * that must not hold the event loop. The handle is closed at once; the promise resolves once the
 * kernel objects are released. */
struct close_work {
	napi_async_work work;
	napi_deferred deferred;
	struct bpf_object *obj;
	struct link_ent *links;
	size_t nlinks;
};

static void close_execute(napi_env env, void *data)
{
	struct close_work *w = data;
	for (size_t i = 0; i < w->nlinks; i++)
		bpf_link__destroy(w->links[i].link);
	if (w->obj)
		bpf_object__close(w->obj);
}

static void close_complete(napi_env env, napi_status status, void *data)
{
	struct close_work *w = data;
	napi_resolve_deferred(env, w->deferred, undefined(env));
	napi_delete_async_work(env, w->work);
	free(w->links);
	free(w);
}

static napi_value js_close_async(napi_env env, napi_callback_info info)
{
	napi_value argv[1], promise, name;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], false);
	if (!o)
		return NULL;
	struct close_work *w = calloc(1, sizeof(*w));
	if (!w)
		return throw_errno(env, ENOMEM, "close %s", o->name);
	if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
		free(w);
		return throw_type(env, "internal napi error in closeAsync");
	}
	if (o->busy || o->closed) {
		/* loading: released when the load is over; closed: nothing left */
		if (o->busy)
			o->close_pending = true;
		napi_resolve_deferred(env, w->deferred, undefined(env));
		free(w);
		return promise;
	}
	while (o->readers)
		reader_stop(o->readers); /* unlinks itself */
	w->obj = o->obj;
	w->links = o->links;
	w->nlinks = o->nlinks;
	o->obj = NULL;
	o->links = NULL;
	o->nlinks = o->caplinks = 0;
	o->closed = true;
	if (napi_create_string_utf8(env, "kgadget.bpfClose", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, close_execute, close_complete, w, &w->work) != napi_ok ||
	    napi_queue_async_work(env, w->work) != napi_ok) {
		/* cannot go off the loop: release here */
		close_execute(env, w);
		napi_resolve_deferred(env, w->deferred, undefined(env));
		free(w->links);
		free(w);
	}
	return promise;
}

/* close(handle): stops readers, destroys links, closes the object. Idempotent. During loadAsync
 * the object is released when the load is over. */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], false);
	if (!o)
		return NULL;
	if (o->busy)
		o->close_pending = true;
	else
		obj_release(o);
	return undefined(env);
}

const struct addon_fn object_fns[] = {
	{ "open", js_open },
	{ "objectName", js_object_name },
	{ "load", js_load },
	{ "loadAsync", js_load_async },
	{ "closeAsync", js_close_async },
	{ "close", js_close },
	{ NULL, NULL },
};
