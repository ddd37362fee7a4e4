// SPDX-License-Identifier: Apache-2.0
/*
 * N-API addon over system libbpf (1.1.x): open/configure/load BPF objects, attach their
 * programs, operate on maps, and read ring buffers from a native thread.
 *
 * Reader design (measured on this machine, see docs): a thread sleeps intervalMs, then calls
 * ring_buffer__consume. Each record is appended to a batch as
 *     [u32 length LE][payload][zero pad to 8-byte alignment]
 * and the sample callback returns a negative value once the batch reaches budgetBytes (libbpf
 * 1.1.2 still consumes that record), so the thread can hand the batch to JS through a
 * threadsafe function and go on consuming at once. At most maxQueued batches are in flight;
 * beyond that the thread waits (the kernel ring fills up and losses are counted kernel-side).
 * The JS callback is called as cb(batch, count) for data, cb(null, id) when flush request id
 * has been served, and cb(null, 0) once after stop, when nothing more will come.
 *
 * Nothing is pinned unless pinMap or pinLink is called: every kernel object lives through fds
 * of this process, so a SIGKILL releases them all. A pinned link keeps its program attached
 * (and the program's maps alive) after the process is gone, until unpinLink removes the pin.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OBJ_MAGIC 0x6f626a31u /* "obj1" */
#define READER_MAGIC 0x72647231u /* "rdr1" */

/* ------------------------------------------------------------------------------------------ */
/* libbpf log capture                                                                          */

#define LOG_CAP (256 * 1024)

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char *log_buf;
static size_t log_len;
static int log_debug = -1; /* LIBBPF_DEBUG=1: capture debug messages too and echo to stderr */

static int print_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (log_debug < 0) {
		const char *e = getenv("LIBBPF_DEBUG");
		log_debug = e && *e && strcmp(e, "0") != 0;
	}
	if (level == LIBBPF_DEBUG && !log_debug)
		return 0;
	int n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return 0;
	if (log_debug)
		fputs(msg, stderr);
	pthread_mutex_lock(&log_mu);
	if (!log_buf)
		log_buf = malloc(LOG_CAP + 1);
	if (log_buf) {
		size_t m = (size_t)n;
		if (m > LOG_CAP) { /* keep the tail: verifier errors are at the end */
			memcpy(log_buf, msg + (m - LOG_CAP), LOG_CAP);
			log_len = LOG_CAP;
		} else {
			if (log_len + m > LOG_CAP) {
				size_t drop = log_len + m - LOG_CAP;
				memmove(log_buf, log_buf + drop, log_len - drop);
				log_len -= drop;
			}
			memcpy(log_buf + log_len, msg, m);
			log_len += m;
		}
		log_buf[log_len] = 0;
	}
	pthread_mutex_unlock(&log_mu);
	free(msg);
	return n;
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	log_len = 0;
	if (log_buf)
		log_buf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

/* Returns a malloc'ed copy of the log (NULL when empty) and resets it. */
static char *log_take(void)
{
	char *s = NULL;
	pthread_mutex_lock(&log_mu);
	if (log_buf && log_len) {
		s = strndup(log_buf, log_len);
		log_len = 0;
		log_buf[0] = 0;
	}
	pthread_mutex_unlock(&log_mu);
	return s;
}

/* ------------------------------------------------------------------------------------------ */
/* errors                                                                                      */

static const char *errno_code(int err, char *tmp, size_t n)
{
	static const char *libbpf_names[] = {
		"LIBBPF_ERRNO__LIBELF", "LIBBPF_ERRNO__FORMAT",	 "LIBBPF_ERRNO__KVERSION", "LIBBPF_ERRNO__ENDIAN",
		"LIBBPF_ERRNO__INTERNAL", "LIBBPF_ERRNO__RELOC",	 "LIBBPF_ERRNO__LOAD",	   "LIBBPF_ERRNO__VERIFY",
		"LIBBPF_ERRNO__PROG2BIG", "LIBBPF_ERRNO__KVER",	 "LIBBPF_ERRNO__PROGTYPE", "LIBBPF_ERRNO__WRNGPID",
		"LIBBPF_ERRNO__INVSEQ",	  "LIBBPF_ERRNO__NLPARSE",
	};
	if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__START + (int)(sizeof(libbpf_names) / sizeof(*libbpf_names)))
		return libbpf_names[err - __LIBBPF_ERRNO__START];
	const char *name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(tmp, n, "E%d", err);
	return tmp;
}

static void set_str_prop(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;
	if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
		napi_set_named_property(env, obj, key, v);
}

/* Throws Error("<context>: <strerror(err)>") with code = errno name, errno, and detail = the
 * libbpf log captured since the last log_reset (if any). err is a positive errno. Returns NULL. */
static napi_value vthrow(napi_env env, int err, const char *program, bool with_strerror, const char *fmt, va_list ap)
{
	char ctx[512], msg[1024], tmp[32];
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	if (err < 0)
		err = -err;
	if (err == 0)
		err = EINVAL;
	char estr[256];
	if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END)
		libbpf_strerror(err, estr, sizeof(estr));
	else
		snprintf(estr, sizeof(estr), "%s", strerror(err));
	if (with_strerror)
		snprintf(msg, sizeof(msg), "%s: %s", ctx, estr);
	else
		snprintf(msg, sizeof(msg), "%s", ctx);

	napi_value code, text, e, num;
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending)
		return NULL;
	napi_create_string_utf8(env, errno_code(err, tmp, sizeof(tmp)), NAPI_AUTO_LENGTH, &code);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
	napi_create_error(env, code, text, &e);
	napi_create_int32(env, err, &num);
	napi_set_named_property(env, e, "errno", num);
	char *detail = log_take();
	if (detail) {
		set_str_prop(env, e, "detail", detail);
		free(detail);
	}
	if (program)
		set_str_prop(env, e, "program", program);
	napi_throw(env, e);
	return NULL;
}

static napi_value throw_errno_prog(napi_env env, int err, const char *program, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vthrow(env, err, program, true, fmt, ap);
	va_end(ap);
	return NULL;
}

#define throw_errno(env, err, ...) throw_errno_prog(env, err, NULL, __VA_ARGS__)

/* Like throw_errno, but the message is only the formatted text (err gives code/errno). */
static napi_value throw_code(napi_env env, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vthrow(env, err, NULL, false, fmt, ap);
	va_end(ap);
	return NULL;
}

static napi_value throw_type(napi_env env, const char *msg)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (!pending)
		napi_throw_type_error(env, "EINVAL", msg);
	return NULL;
}

#define NAPI_OK(env, call)                                                                 \
	do {                                                                               \
		if ((call) != napi_ok)                                                     \
			return throw_type(env, "internal napi error in " #call);           \
	} while (0)

/* ------------------------------------------------------------------------------------------ */
/* argument helpers                                                                            */

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	for (size_t i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return true;
}

/* Returns a malloc'ed string or NULL (TypeError thrown). */
static char *get_string(napi_env env, napi_value v, const char *what)
{
	size_t len;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		char m[128];
		snprintf(m, sizeof(m), "%s must be a string", what);
		throw_type(env, m);
		return NULL;
	}
	char *s = malloc(len + 1);
	if (!s) {
		throw_errno(env, ENOMEM, "%s", what);
		return NULL;
	}
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	return s;
}

static bool get_i64(napi_env env, napi_value v, const char *what, int64_t *out)
{
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t == napi_number) {
		double d;
		napi_get_value_double(env, v, &d);
		if (d != d || d < -9007199254740992.0 || d > 9007199254740992.0 || (double)(int64_t)d != d)
			goto bad;
		*out = (int64_t)d;
		return true;
	}
	if (t == napi_bigint) {
		bool lossless;
		napi_get_value_bigint_int64(env, v, out, &lossless);
		if (lossless)
			return true;
	}
bad:;
	char m[128];
	snprintf(m, sizeof(m), "%s must be an integer", what);
	throw_type(env, m);
	return false;
}

static bool get_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
{
	int64_t x;
	if (!get_i64(env, v, what, &x))
		return false;
	if (x < 0 || x > UINT32_MAX) {
		char m[128];
		snprintf(m, sizeof(m), "%s out of range", what);
		throw_type(env, m);
		return false;
	}
	*out = (uint32_t)x;
	return true;
}

static bool get_fd(napi_env env, napi_value v, int *fd)
{
	int64_t x;
	if (!get_i64(env, v, "fd", &x))
		return false;
	if (x < 0 || x > INT32_MAX) {
		throw_type(env, "fd out of range");
		return false;
	}
	*fd = (int)x;
	return true;
}

static bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is_ta = false;
	napi_is_typedarray(env, v, &is_ta);
	if (is_ta) {
		napi_typedarray_type type;
		size_t n;
		napi_value ab;
		size_t off;
		if (napi_get_typedarray_info(env, v, &type, &n, data, &ab, &off) == napi_ok && type == napi_uint8_array) {
			*len = n;
			return true;
		}
	}
	char m[128];
	snprintf(m, sizeof(m), "%s must be a Uint8Array or Buffer", what);
	throw_type(env, m);
	return false;
}

static napi_value undefined(napi_env env)
{
	napi_value u;
	napi_get_undefined(env, &u);
	return u;
}

static napi_value make_u32(napi_env env, uint32_t x)
{
	napi_value v;
	napi_create_uint32(env, x, &v);
	return v;
}

static void set_u32_prop(napi_env env, napi_value o, const char *k, uint32_t x)
{
	napi_set_named_property(env, o, k, make_u32(env, x));
}

static void set_f64_prop(napi_env env, napi_value o, const char *k, double x)
{
	napi_value v;
	napi_create_double(env, x, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_bool_prop(napi_env env, napi_value o, const char *k, bool b)
{
	napi_value v;
	napi_get_boolean(env, b, &v);
	napi_set_named_property(env, o, k, v);
}

/* ------------------------------------------------------------------------------------------ */
/* objects and readers                                                                         */

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
	struct link_ent *links;
	size_t nlinks, caplinks;
	struct reader *readers;
};

enum batch_kind { BATCH_DATA, BATCH_FLUSH, BATCH_END };

struct batch {
	enum batch_kind kind;
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	double marker;
};

struct reader {
	uint32_t magic;
	struct obj *owner;
	struct reader *next; /* in owner->readers */
	char *map_name;
	struct ring_buffer *rb;
	napi_env env;
	napi_threadsafe_function tsfn;
	napi_ref owner_ref; /* keeps the object handle alive while the reader runs */
	pthread_t th;
	bool running; /* thread started and not yet joined */
	int refs;     /* external + tsfn + running */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t flush_req, flush_done;
	uint32_t inflight, max_inflight;
	uint32_t interval_ms;
	size_t budget;
	size_t ring_size;

	/* thread-only */
	struct batch *cur;
	bool budget_hit;
	bool tsfn_closed;
	int last_err;

	/* stats (under mu) */
	uint64_t batches, records, bytes, waits, nomem;
};

static void reader_stop(struct reader *r);

static void reader_unref(struct reader *r)
{
	if (--r->refs > 0)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->map_name);
	r->magic = 0;
	free(r);
}

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

static struct obj *get_obj(napi_env env, napi_value v, bool need_open)
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

static bool need_loaded(napi_env env, struct obj *o, const char *what, const char *name)
{
	if (!o->loaded) {
		throw_code(env, o->load_failed ? EBADFD : EAGAIN, "%s %s: object %s is not loaded", what, name, o->name);
		return false;
	}
	return true;
}

static bool need_unloaded(napi_env env, struct obj *o, const char *what, const char *name)
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
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	char *path = get_string(env, argv[0], "path");
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

/* ---- globals (.rodata / .data / .bss variables, located through the object's BTF) ---- */

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
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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

/* setGlobal(handle, name, bytes): .rodata before load; .data/.bss before or after load. */
static napi_value js_set_global(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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
	ret = undefined(env);
out:
	free(name);
	return ret;
}

/* getGlobal(handle, name) -> Buffer (a copy of the current value) */
static napi_value js_get_global(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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

static struct bpf_map *find_map(napi_env env, struct obj *o, napi_value v, const char *what, char **namep)
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

static struct bpf_program *find_prog(napi_env env, struct obj *o, napi_value v, const char *what, char **namep)
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

/* setMapMaxEntries(handle, map, n) */
static napi_value js_set_map_max_entries(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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

/* setAutoload(handle, prog, bool) */
static napi_value js_set_autoload(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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
		bool attached = false;
		for (size_t i = 0; i < o->nlinks; i++)
			attached |= o->links[i].prog == p;
		set_bool_prop(env, e, "attached", attached);
		napi_set_element(env, arr, n++, e);
	}
	return arr;
}

/* maps(handle) -> [{name, type, keySize, valueSize, maxEntries, internal}] */
static napi_value js_maps(napi_env env, napi_callback_info info)
{
	napi_value argv[1], arr;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
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

/* Name of the program whose load failed, from libbpf's log ("prog 'x': ..."). */
static char *failed_prog_from_log(const char *log)
{
	const char *p = log;
	while (log && (p = strstr(p, "prog '")) != NULL) {
		const char *s = p + 6, *e = strchr(s, '\'');
		if (!e)
			break;
		const char *eol = strchr(e, '\n');
		size_t ll = eol ? (size_t)(eol - e) : strlen(e);
		if (memmem(e, ll, "failed", 6) || memmem(e, ll, "load", 4))
			return strndup(s, (size_t)(e - s));
		p = e;
	}
	return NULL;
}

/* load(handle) */
static napi_value js_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	if (!need_unloaded(env, o, "load", o->name))
		return NULL;
	log_reset();
	int err = bpf_object__load(o->obj);
	if (err) {
		o->load_failed = true;
		char *prog = NULL;
		pthread_mutex_lock(&log_mu);
		if (log_buf && log_len)
			prog = failed_prog_from_log(log_buf);
		pthread_mutex_unlock(&log_mu);
		throw_errno_prog(env, err, prog, "load %s", o->name);
		free(prog);
		return NULL;
	}
	log_reset();
	o->loaded = true;
	return undefined(env);
}

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

static bool prog_attached(struct obj *o, struct bpf_program *p)
{
	for (size_t i = 0; i < o->nlinks; i++)
		if (o->links[i].prog == p)
			return true;
	return false;
}

/* Attaches p (auto-attach from its SEC); false with an exception on error. */
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
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o || !need_loaded(env, o, "attach", o->name))
		return NULL;
	size_t before = o->nlinks;
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj)
	{
		if (!bpf_program__autoload(p) || prog_attached(o, p))
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
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "attach", &name);
	if (!p)
		return NULL;
	napi_value ret = NULL;
	if (need_loaded(env, o, "attach", name)) {
		if (prog_attached(o, p))
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
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "detach", &name);
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

/* iterRead(handle, prog) -> Buffer: runs an attached iter/ program and returns its output. */
static napi_value js_iter_read(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "iter", &name);
	if (!p)
		return NULL;
	struct bpf_link *l = NULL;
	for (size_t i = 0; i < o->nlinks; i++)
		if (o->links[i].prog == p)
			l = o->links[i].link;
	if (!l) {
		throw_code(env, ENOENT, "iter %s: not attached", name);
		free(name);
		return NULL;
	}
	int fd = bpf_iter_create(bpf_link__fd(l));
	if (fd < 0) {
		throw_errno(env, errno, "iter %s", name);
		free(name);
		return NULL;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int err = buf ? 0 : ENOMEM;
	while (!err) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
		} else if (n == 0) {
			break;
		} else {
			len += (size_t)n;
		}
	}
	close(fd);
	if (err)
		throw_errno(env, err, "iter %s: read", name);
	else
		napi_create_buffer_copy(env, len, buf, NULL, &ret);
	free(buf);
	free(name);
	return ret;
}

/* mapFd(handle, name) / progFd(handle, name) -> fd owned by the object */
static napi_value js_map_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_map *m = find_map(env, o, argv[1], "map", &name);
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

static napi_value js_prog_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "program", &name);
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

/* mapInfo(fd) -> {id, type, keySize, valueSize, maxEntries, flags, name} */
static napi_value js_map_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], o;
	int fd;
	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd))
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

/* progInfo(fd) -> {id, type, name, tag, mapIds} */
static napi_value js_prog_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], o;
	int fd;
	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd))
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

/* ---- map operations by fd ---- */

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
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_map *m = find_map(env, o, argv[1], "pin map", &name);
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
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	char *path = get_string(env, argv[0], "path");
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
	napi_value argv[1];
	int fd;
	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd))
		return NULL;
	if (close(fd))
		return throw_errno(env, errno, "close fd %d", fd);
	return undefined(env);
}

/* ---- links: pin, detect, open, unpin ---- */

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
	if (!get_args(env, info, 3, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	char *name;
	struct bpf_program *p = find_prog(env, o, argv[1], "pin link", &name);
	if (!p)
		return NULL;
	char *path = get_string(env, argv[2], "path");
	if (path) {
		struct bpf_link *l = NULL;
		for (size_t i = 0; i < o->nlinks && !l; i++)
			if (o->links[i].prog == p)
				l = o->links[i].link;
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
	napi_value argv[1], ret = NULL;
	if (!get_args(env, info, 1, argv))
		return NULL;
	char *path = get_string(env, argv[0], "path");
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
	napi_value argv[1], o;
	int fd;
	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd))
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
	napi_value argv[1], ret = NULL;
	if (!get_args(env, info, 1, argv))
		return NULL;
	char *path = get_string(env, argv[0], "path");
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

/* ------------------------------------------------------------------------------------------ */
/* ring buffer reader                                                                          */

static struct batch *batch_new(size_t cap)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->kind = BATCH_DATA;
	if (cap) {
		b->buf = malloc(cap);
		if (!b->buf) {
			free(b);
			return NULL;
		}
		b->cap = cap;
	}
	return b;
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b);
}

static int sample_cb(void *ctx, void *data, size_t size)
{
	struct reader *r = ctx;
	size_t need = (4 + size + 7) & ~(size_t)7;
	struct batch *b = r->cur;
	if (!b) {
		/* start small and double: a quiet interval must not pin budget-sized memory in JS */
		size_t cap = 65536;
		if (cap < need)
			cap = need;
		b = r->cur = batch_new(cap);
		if (!b) {
			r->nomem++;
			return 0;
		}
	}
	if (b->len + need > b->cap) {
		size_t nc = b->cap * 2 > b->len + need ? b->cap * 2 : b->len + need;
		uint8_t *nb = realloc(b->buf, nc);
		if (!nb) {
			r->nomem++;
			return 0;
		}
		b->buf = nb;
		b->cap = nc;
	}
	uint8_t *p = b->buf + b->len;
	uint32_t l = (uint32_t)size;
	memcpy(p, &l, 4); /* x86/arm64 are little-endian; the kernel's ring records are host-endian */
	memcpy(p + 4, data, size);
	memset(p + 4 + size, 0, need - 4 - size);
	b->len += need;
	b->count++;
	if (b->len >= r->budget) {
		r->budget_hit = true;
		return -1; /* libbpf 1.1.2 has consumed this record; makes ring_buffer__consume return */
	}
	return 0;
}

/* Queues b for JS (takes ownership). Thread side. */
static void reader_send(struct reader *r, struct batch *b)
{
	if (r->tsfn_closed) {
		batch_free(b);
		return;
	}
	if (b->buf && b->cap - b->len > 16384) { /* give back the unused tail (JS may keep the batch) */
		uint8_t *nb = realloc(b->buf, b->len);
		if (nb) {
			b->buf = nb;
			b->cap = b->len;
		}
	}
	pthread_mutex_lock(&r->mu);
	if (b->kind == BATCH_DATA) {
		r->inflight++;
		r->batches++;
		r->records += b->count;
		r->bytes += b->len;
	}
	pthread_mutex_unlock(&r->mu);
	if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
		/* napi_closing: the environment is going away */
		r->tsfn_closed = true;
		pthread_mutex_lock(&r->mu);
		if (b->kind == BATCH_DATA)
			r->inflight--;
		pthread_mutex_unlock(&r->mu);
		batch_free(b);
	}
}

static void reader_send_marker(struct reader *r, enum batch_kind kind, uint64_t id)
{
	struct batch *b = batch_new(0);
	if (!b)
		return;
	b->kind = kind;
	b->marker = (double)id;
	reader_send(r, b);
}

/* Consumes the ring until it is empty. With backpressure, waits while maxQueued batches are
 * in flight and returns true if stop was requested meanwhile. Without (final drain after stop),
 * stops after one ring's worth of data so a busy producer cannot keep it going forever. */
static bool reader_drain(struct reader *r, bool backpressure)
{
	size_t total = 0;
	for (;;) {
		if (backpressure) {
			pthread_mutex_lock(&r->mu);
			if (r->inflight >= r->max_inflight && !r->stop)
				r->waits++;
			while (r->inflight >= r->max_inflight && !r->stop)
				pthread_cond_wait(&r->cv, &r->mu);
			bool stop = r->stop;
			pthread_mutex_unlock(&r->mu);
			if (stop)
				return true;
		}
		r->budget_hit = false;
		int err = ring_buffer__consume(r->rb);
		struct batch *b = r->cur;
		r->cur = NULL;
		if (b && b->count) {
			total += b->len;
			reader_send(r, b);
		} else {
			batch_free(b);
		}
		if (err < 0 && !r->budget_hit) {
			r->last_err = err;
			return false;
		}
		if (!r->budget_hit)
			return false;
		if (!backpressure && total > r->ring_size + r->budget)
			return false;
	}
}

static void timespec_add_ms(struct timespec *ts, uint32_t ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (!r->stop && r->flush_req == r->flush_done) {
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			timespec_add_ms(&dl, r->interval_ms);
			while (!r->stop && r->flush_req == r->flush_done)
				if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT)
					break;
		}
		if (r->stop)
			break;
		uint64_t target = r->flush_req;
		pthread_mutex_unlock(&r->mu);
		bool stopped = reader_drain(r, true);
		pthread_mutex_lock(&r->mu);
		if (stopped)
			break;
		if (target > r->flush_done) {
			r->flush_done = target;
			pthread_mutex_unlock(&r->mu);
			reader_send_marker(r, BATCH_FLUSH, target);
			pthread_mutex_lock(&r->mu);
		}
	}
	pthread_mutex_unlock(&r->mu);
	/* final flush: whatever the ring holds now, then serve pending flushes, then the end */
	reader_drain(r, false);
	pthread_mutex_lock(&r->mu);
	uint64_t target = r->flush_req > r->flush_done ? r->flush_req : 0;
	r->flush_done = r->flush_req;
	pthread_mutex_unlock(&r->mu);
	if (target)
		reader_send_marker(r, BATCH_FLUSH, target);
	reader_send_marker(r, BATCH_END, 0);
	return NULL;
}

static void free_external_batch(napi_env env, void *data, void *hint)
{
	free(data);
}

/* Main thread: delivers one queued item to JS. env is NULL when the environment is torn down. */
static void reader_call_js(napi_env env, napi_value cb, void *ctx, void *data)
{
	struct reader *r = ctx;
	struct batch *b = data;
	bool is_data = b->kind == BATCH_DATA;
	if (env && cb) {
		napi_value args[2], global;
		bool ok = true;
		if (is_data) {
			if (napi_create_external_buffer(env, b->len, b->buf, free_external_batch, NULL, &args[0]) == napi_ok) {
				b->buf = NULL; /* owned by the Buffer now */
			} else if (napi_create_buffer_copy(env, b->len, b->buf, NULL, &args[0]) != napi_ok) {
				ok = false;
			}
			napi_create_uint32(env, b->count, &args[1]);
		} else {
			napi_get_null(env, &args[0]);
			napi_create_double(env, b->kind == BATCH_END ? 0 : b->marker, &args[1]);
		}
		napi_get_global(env, &global);
		if (ok && napi_call_function(env, global, cb, 2, args, NULL) == napi_pending_exception) {
			napi_value exc;
			if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
				napi_fatal_exception(env, exc);
		}
	}
	batch_free(b);
	if (is_data) {
		pthread_mutex_lock(&r->mu);
		r->inflight--;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
}

static void reader_tsfn_finalize(napi_env env, void *data, void *hint)
{
	reader_unref((struct reader *)hint);
}

static void reader_cleanup_hook(void *arg);

/* Main thread: stop the thread (it flushes), release everything but the struct. Idempotent. */
static void reader_stop(struct reader *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	r->running = false;
	ring_buffer__free(r->rb);
	r->rb = NULL;
	napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
	if (r->owner) {
		struct reader **pp = &r->owner->readers;
		while (*pp && *pp != r)
			pp = &(*pp)->next;
		if (*pp)
			*pp = r->next;
		r->owner = NULL;
	}
	if (r->owner_ref) {
		napi_delete_reference(r->env, r->owner_ref);
		r->owner_ref = NULL;
	}
	napi_remove_env_cleanup_hook(r->env, reader_cleanup_hook, r);
	reader_unref(r);
}

static void reader_cleanup_hook(void *arg)
{
	reader_stop((struct reader *)arg);
}

static void reader_ext_finalize(napi_env env, void *data, void *hint)
{
	struct reader *r = data;
	reader_stop(r);
	reader_unref(r);
}

static struct reader *get_reader(napi_env env, napi_value v)
{
	void *p = NULL;
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t == napi_external)
		napi_get_value_external(env, v, &p);
	struct reader *r = p;
	if (!r || r->magic != READER_MAGIC) {
		throw_type(env, "expected a reader handle");
		return NULL;
	}
	return r;
}

static bool get_opt_u32(napi_env env, napi_value opts, const char *key, uint32_t *out)
{
	napi_valuetype t;
	napi_typeof(env, opts, &t);
	if (t != napi_object)
		return true;
	bool has = false;
	napi_has_named_property(env, opts, key, &has);
	if (!has)
		return true;
	napi_value v;
	napi_get_named_property(env, opts, key, &v);
	napi_typeof(env, v, &t);
	if (t == napi_undefined)
		return true;
	return get_u32(env, v, key, out);
}

/* startReader(handle, mapName, cb, {intervalMs=10, budgetBytes=512KiB, maxQueued=16}) -> reader
 * (one running reader per map: two consumers of one ring would corrupt its consumer position) */
static napi_value js_start_reader(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	if (!get_args(env, info, 4, argv))
		return NULL;
	struct obj *o = get_obj(env, argv[0], true);
	if (!o)
		return NULL;
	napi_valuetype t;
	napi_typeof(env, argv[2], &t);
	if (t != napi_function)
		return throw_type(env, "callback must be a function");
	uint32_t interval = 10, budget = 512 * 1024, max_queued = 16;
	if (!get_opt_u32(env, argv[3], "intervalMs", &interval) || !get_opt_u32(env, argv[3], "budgetBytes", &budget) ||
	    !get_opt_u32(env, argv[3], "maxQueued", &max_queued))
		return NULL;
	if (budget < 64)
		budget = 64;
	if (max_queued < 1)
		max_queued = 1;
	char *name;
	struct bpf_map *m = find_map(env, o, argv[1], "reader", &name);
	if (!m)
		return NULL;
	if (!need_loaded(env, o, "reader", name)) {
		free(name);
		return NULL;
	}
	if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) {
		throw_code(env, EINVAL, "reader %s: not a ring buffer", name);
		free(name);
		return NULL;
	}
	for (struct reader *o2 = o->readers; o2; o2 = o2->next) {
		if (strcmp(o2->map_name, name) == 0) {
			throw_code(env, EBUSY, "reader %s: already being read", name);
			free(name);
			return NULL;
		}
	}
	struct reader *r = calloc(1, sizeof(*r));
	if (!r) {
		free(name);
		return throw_errno(env, ENOMEM, "reader");
	}
	r->magic = READER_MAGIC;
	r->map_name = name;
	r->env = env;
	r->interval_ms = interval;
	r->budget = budget;
	r->max_inflight = max_queued;
	r->ring_size = bpf_map__max_entries(m);
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->refs = 1; /* the external */

	napi_value ext;
	if (napi_create_external(env, r, reader_ext_finalize, NULL, &ext) != napi_ok) {
		reader_unref(r);
		return throw_type(env, "napi_create_external failed");
	}
	log_reset();
	r->rb = ring_buffer__new(bpf_map__fd(m), sample_cb, r, NULL);
	if (!r->rb)
		return throw_errno(env, errno, "reader %s", name);

	napi_value res_name;
	napi_create_string_utf8(env, "bpf-ring-reader", NAPI_AUTO_LENGTH, &res_name);
	if (napi_create_threadsafe_function(env, argv[2], NULL, res_name, 0, 1, NULL, reader_tsfn_finalize, r,
					    reader_call_js, &r->tsfn) != napi_ok) {
		ring_buffer__free(r->rb);
		r->rb = NULL;
		return throw_type(env, "napi_create_threadsafe_function failed");
	}
	r->refs++; /* the tsfn */
	if (napi_create_reference(env, argv[0], 1, &r->owner_ref) != napi_ok) {
		r->owner_ref = NULL; /* still safe: a finalized object stops its readers first */
		napi_value exc;
		napi_get_and_clear_last_exception(env, &exc);
	}

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&r->th, NULL, reader_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		ring_buffer__free(r->rb);
		r->rb = NULL;
		napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
		napi_delete_reference(env, r->owner_ref);
		r->owner_ref = NULL;
		return throw_errno(env, err, "reader %s: thread", name);
	}
	r->running = true;
	r->refs++; /* running */
	r->owner = o;
	r->next = o->readers;
	o->readers = r;
	napi_add_env_cleanup_hook(env, reader_cleanup_hook, r);
	return ext;
}

/* stopReader(reader): joins the thread after it drained the ring; the remaining batches and
 * the end marker (cb(null, 0)) are delivered afterwards, in order. Idempotent. */
static napi_value js_stop_reader(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct reader *r = get_reader(env, argv[0]);
	if (!r)
		return NULL;
	reader_stop(r);
	return undefined(env);
}

/* readerFlush(reader) -> id: the reader drains the ring now and then calls cb(null, id).
 * Returns 0 when the reader is stopped (no marker will come). */
static napi_value js_reader_flush(napi_env env, napi_callback_info info)
{
	napi_value argv[1], ret;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct reader *r = get_reader(env, argv[0]);
	if (!r)
		return NULL;
	uint64_t id = 0;
	pthread_mutex_lock(&r->mu);
	if (r->running && !r->stop) {
		id = ++r->flush_req;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	napi_create_double(env, (double)id, &ret);
	return ret;
}

/* readerRef(reader, bool): whether the running reader keeps the event loop alive (default yes) */
static napi_value js_reader_ref(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	if (!get_args(env, info, 2, argv))
		return NULL;
	struct reader *r = get_reader(env, argv[0]);
	if (!r)
		return NULL;
	bool on;
	if (napi_get_value_bool(env, argv[1], &on) != napi_ok)
		return throw_type(env, "ref must be a boolean");
	if (r->running) {
		if (on)
			napi_ref_threadsafe_function(env, r->tsfn);
		else
			napi_unref_threadsafe_function(env, r->tsfn);
	}
	return undefined(env);
}

/* readerStats(reader) -> {batches, records, bytes, queued, backpressureWaits, running} */
static napi_value js_reader_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], o;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct reader *r = get_reader(env, argv[0]);
	if (!r)
		return NULL;
	napi_create_object(env, &o);
	pthread_mutex_lock(&r->mu);
	set_f64_prop(env, o, "batches", (double)r->batches);
	set_f64_prop(env, o, "records", (double)r->records);
	set_f64_prop(env, o, "bytes", (double)r->bytes);
	set_f64_prop(env, o, "queued", r->inflight);
	set_f64_prop(env, o, "backpressureWaits", (double)r->waits);
	set_f64_prop(env, o, "allocFailures", (double)r->nomem);
	set_bool_prop(env, o, "running", r->running);
	pthread_mutex_unlock(&r->mu);
	return o;
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

/* ------------------------------------------------------------------------------------------ */
/* misc                                                                                        */

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* clockOffsetNs() -> bigint: CLOCK_REALTIME - CLOCK_BOOTTIME, from the tightest of 32 pairs */
static napi_value js_clock_offset_ns(napi_env env, napi_callback_info info)
{
	int64_t best = INT64_MAX, off = 0;
	for (int i = 0; i < 32; i++) {
		struct timespec b1, rt, b2;
		clock_gettime(CLOCK_BOOTTIME, &b1);
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_BOOTTIME, &b2);
		int64_t d = ts_ns(&b2) - ts_ns(&b1);
		if (d >= 0 && d < best) {
			best = d;
			off = ts_ns(&rt) - (ts_ns(&b1) + d / 2);
		}
	}
	napi_value v;
	napi_create_bigint_int64(env, off, &v);
	return v;
}

/* numPossibleCpus() -> number */
static napi_value js_num_possible_cpus(napi_env env, napi_callback_info info)
{
	int n = libbpf_num_possible_cpus();
	if (n < 0)
		return throw_errno(env, -n, "possible cpus");
	return make_u32(env, (uint32_t)n);
}

/* libbpfVersion() -> "1.1" */
static napi_value js_libbpf_version(napi_env env, napi_callback_info info)
{
	napi_value v;
	napi_create_string_utf8(env, libbpf_version_string(), NAPI_AUTO_LENGTH, &v);
	return v;
}

static napi_value init(napi_env env, napi_value exports)
{
	libbpf_set_print(print_cb);
	struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "open", js_open },
		{ "objectName", js_object_name },
		{ "globals", js_globals },
		{ "setGlobal", js_set_global },
		{ "getGlobal", js_get_global },
		{ "setMapMaxEntries", js_set_map_max_entries },
		{ "reuseMapFd", js_reuse_map_fd },
		{ "setAutoload", js_set_autoload },
		{ "programs", js_programs },
		{ "maps", js_maps },
		{ "load", js_load },
		{ "attachAll", js_attach_all },
		{ "attach", js_attach },
		{ "detach", js_detach },
		{ "iterRead", js_iter_read },
		{ "mapFd", js_map_fd },
		{ "progFd", js_prog_fd },
		{ "mapInfo", js_map_info },
		{ "progInfo", js_prog_info },
		{ "mapUpdate", js_map_update },
		{ "mapDelete", js_map_delete },
		{ "mapLookup", js_map_lookup },
		{ "mapLookupPerCpu", js_map_lookup_percpu },
		{ "mapKeys", js_map_keys },
		{ "pinMap", js_pin_map },
		{ "openPinned", js_open_pinned },
		{ "closeFd", js_close_fd },
		{ "pinLink", js_pin_link },
		{ "openPinnedLink", js_open_pinned_link },
		{ "linkInfo", js_link_info },
		{ "unpinLink", js_unpin_link },
		{ "progFdById", js_prog_fd_by_id },
		{ "startReader", js_start_reader },
		{ "stopReader", js_stop_reader },
		{ "readerFlush", js_reader_flush },
		{ "readerStats", js_reader_stats },
		{ "readerRef", js_reader_ref },
		{ "close", js_close },
		{ "clockOffsetNs", js_clock_offset_ns },
		{ "numPossibleCpus", js_num_possible_cpus },
		{ "libbpfVersion", js_libbpf_version },
	};
	for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
		napi_value f;
		if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
		    napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
			return NULL;
	}
	return exports;
}

NAPI_MODULE(bpf_addon, init)
