// SPDX-License-Identifier: Apache-2.0
/*
 * Internal declarations shared by the files of the N-API addon over system libbpf (1.1.x):
 * open/configure/load BPF objects, attach their programs, operate on maps, and read ring
 * buffers from a native thread. See README.md for the reader's design and the lifetimes.
 *
 *   addon.c     module registration, errors, argument helpers, clocks and versions
 *   log.c       capture of libbpf's log (error detail, failed program)
 *   object.c    object handles: open, load, close; find a map or program by name
 *   globals.c   .rodata / .data / .bss variables through the object's BTF
 *   programs.c  program specs, fds and kernel info
 *   maps.c      map specs, fds, kernel info, operations by fd, pins
 *   links.c     attach/detach, link pins
 *   iter.c      reading an attached iter/ program
 *   ringbuf.c   the ring buffer reader thread
 *   fanotify.c  the exec permission watcher on the OCI runtime binaries (its own thread)
 *   ns.c        namespace ids (the mount namespace unique id)
 */
#ifndef KGADGET_ADDON_H
#define KGADGET_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OBJ_MAGIC 0x6f626a31u /* "obj1" */

struct reader;

struct link_ent {
	struct bpf_program *prog;
	struct bpf_link *link;
};

struct obj {
	uint32_t magic;
	struct bpf_object *obj;
	char *name;
	bool loaded;
	bool load_failed;
	bool closed;
	bool busy;	    /* loadAsync's worker thread owns the object until its completion */
	bool close_pending; /* close() was called while busy: released at the completion */
	struct link_ent *links;
	size_t nlinks, caplinks;
	struct reader *readers;
};

/* The JS functions of one file; ends with { NULL, NULL }. */
struct addon_fn {
	const char *name;
	napi_callback fn;
};

extern const struct addon_fn object_fns[], globals_fns[], programs_fns[], maps_fns[], links_fns[], iter_fns[],
	ringbuf_fns[], fanotify_fns[], ns_fns[];

/* log.c */
int print_cb(enum libbpf_print_level level, const char *fmt, va_list ap);
void log_reset(void);
char *log_take(void);
char *log_failed_prog(void);

/* addon.c: errors. Each throws (unless an exception is pending) and returns NULL. */
void set_str_prop(napi_env env, napi_value obj, const char *key, const char *val);
napi_value throw_errno_prog(napi_env env, int err, const char *program, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define throw_errno(env, err, ...) throw_errno_prog(env, err, NULL, __VA_ARGS__)
napi_value throw_code(napi_env env, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
napi_value throw_type(napi_env env, const char *msg);
/* The error throw_errno_prog would throw, returned instead (for a promise); detail may be NULL. */
napi_value make_errno_error(napi_env env, int err, const char *program, const char *detail, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define NAPI_OK(env, call)                                                                 \
	do {                                                                               \
		if ((call) != napi_ok)                                                     \
			return throw_type(env, "internal napi error in " #call);           \
	} while (0)

/* addon.c: arguments and results. A false/NULL return means an exception was thrown. */
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
char *get_string(napi_env env, napi_value v, const char *what);
bool get_u32(napi_env env, napi_value v, const char *what, uint32_t *out);
bool get_fd(napi_env env, napi_value v, int *fd);
bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len);
char *path_arg(napi_env env, napi_callback_info info);
bool fd_arg(napi_env env, napi_callback_info info, int *fd);
napi_value undefined(napi_env env);
napi_value make_u32(napi_env env, uint32_t x);
void set_u32_prop(napi_env env, napi_value o, const char *k, uint32_t x);
void set_f64_prop(napi_env env, napi_value o, const char *k, double x);
void set_bool_prop(napi_env env, napi_value o, const char *k, bool b);

/* object.c. Names returned through namep are malloc'ed: the caller frees them. */
struct obj *get_obj(napi_env env, napi_value v, bool need_open);
bool need_loaded(napi_env env, struct obj *o, const char *what, const char *name);
bool need_unloaded(napi_env env, struct obj *o, const char *what, const char *name);
struct bpf_map *find_map(napi_env env, struct obj *o, napi_value v, const char *what, char **namep);
struct bpf_program *find_prog(napi_env env, struct obj *o, napi_value v, const char *what, char **namep);
struct obj *obj_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv);
struct bpf_map *map_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, const char *what,
			 struct obj **op, char **namep);
struct bpf_program *prog_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv,
			      const char *what, struct obj **op, char **namep);

/* links.c */
struct bpf_link *prog_link(struct obj *o, struct bpf_program *p);

/* ringbuf.c: stops the reader thread (it drains the ring first) and unlinks it from its owner. */
void reader_stop(struct reader *r);

#endif
