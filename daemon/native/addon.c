// SPDX-License-Identifier: Apache-2.0
/*
 * N-API addon over system libbpf (1.1.x): module registration, then the helpers every file
 * uses for errors and arguments, and the functions that need no object (clocks, versions).
 */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void set_str_prop(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;
	if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
		napi_set_named_property(env, obj, key, v);
}

/* Error("<context>: <strerror(err)>") with code = errno name, errno, detail (the libbpf log, if
 * any) and program. err is a positive errno. NULL when an exception is already pending. */
static napi_value vmake(napi_env env, int err, const char *program, const char *detail, bool with_strerror,
			const char *fmt, va_list ap)
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
	if (detail)
		set_str_prop(env, e, "detail", detail);
	if (program)
		set_str_prop(env, e, "program", program);
	return e;
}

/* Throws vmake's error with the libbpf log captured since the last log_reset as its detail.
 * Returns NULL. */
static napi_value vthrow(napi_env env, int err, const char *program, bool with_strerror, const char *fmt, va_list ap)
{
	char *detail = log_take();
	napi_value e = vmake(env, err, program, detail, with_strerror, fmt, ap);
	free(detail);
	if (e)
		napi_throw(env, e);
	return NULL;
}

napi_value make_errno_error(napi_env env, int err, const char *program, const char *detail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	napi_value e = vmake(env, err, program, detail, true, fmt, ap);
	va_end(ap);
	return e;
}

napi_value throw_errno_prog(napi_env env, int err, const char *program, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vthrow(env, err, program, true, fmt, ap);
	va_end(ap);
	return NULL;
}

/* Like throw_errno, but the message is only the formatted text (err gives code/errno). */
napi_value throw_code(napi_env env, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vthrow(env, err, NULL, false, fmt, ap);
	va_end(ap);
	return NULL;
}

napi_value throw_type(napi_env env, const char *msg)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (!pending)
		napi_throw_type_error(env, "EINVAL", msg);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* argument helpers                                                                            */

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	for (size_t i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return true;
}

/* Returns a malloc'ed string or NULL (TypeError thrown). */
char *get_string(napi_env env, napi_value v, const char *what)
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

bool get_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
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

bool get_fd(napi_env env, napi_value v, int *fd)
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

bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len)
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

/* (path) -> a malloc'ed string */
char *path_arg(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	return get_string(env, argv[0], "path");
}

/* (fd) */
bool fd_arg(napi_env env, napi_callback_info info, int *fd)
{
	napi_value argv[1];
	return get_args(env, info, 1, argv) && get_fd(env, argv[0], fd);
}

napi_value undefined(napi_env env)
{
	napi_value u;
	napi_get_undefined(env, &u);
	return u;
}

napi_value make_u32(napi_env env, uint32_t x)
{
	napi_value v;
	napi_create_uint32(env, x, &v);
	return v;
}

void set_u32_prop(napi_env env, napi_value o, const char *k, uint32_t x)
{
	napi_set_named_property(env, o, k, make_u32(env, x));
}

void set_f64_prop(napi_env env, napi_value o, const char *k, double x)
{
	napi_value v;
	napi_create_double(env, x, &v);
	napi_set_named_property(env, o, k, v);
}

void set_bool_prop(napi_env env, napi_value o, const char *k, bool b)
{
	napi_value v;
	napi_get_boolean(env, b, &v);
	napi_set_named_property(env, o, k, v);
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

static const struct addon_fn misc_fns[] = {
	{ "clockOffsetNs", js_clock_offset_ns },
	{ "numPossibleCpus", js_num_possible_cpus },
	{ "libbpfVersion", js_libbpf_version },
	{ NULL, NULL },
};

static napi_value init(napi_env env, napi_value exports)
{
	libbpf_set_print(print_cb);
	const struct addon_fn *const tables[] = {
		object_fns, globals_fns, programs_fns, maps_fns, links_fns, iter_fns, ringbuf_fns, fanotify_fns, ns_fns, misc_fns,
	};
	for (size_t t = 0; t < sizeof(tables) / sizeof(*tables); t++) {
		for (const struct addon_fn *f = tables[t]; f->name; f++) {
			napi_value v;
			if (napi_create_function(env, f->name, NAPI_AUTO_LENGTH, f->fn, NULL, &v) != napi_ok ||
			    napi_set_named_property(env, exports, f->name, v) != napi_ok)
				return NULL;
		}
	}
	return exports;
}

NAPI_MODULE(bpf_addon, init)
