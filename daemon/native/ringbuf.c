// SPDX-License-Identifier: Apache-2.0
/*
 * Ring buffer reader (measured on this machine, see docs): a thread sleeps intervalMs, then calls
 * ring_buffer__consume. Each record is appended to a batch as
 *     [u32 length LE][payload][zero pad to 8-byte alignment]
 * and the sample callback returns a negative value once the batch reaches budgetBytes (libbpf
 * 1.1.2 still consumes that record), so the thread can hand the batch to JS through a
 * threadsafe function and go on consuming at once. At most maxQueued batches are in flight;
 * beyond that the thread waits (the kernel ring fills up and losses are counted kernel-side).
 * The JS callback is called as cb(batch, count) for data, cb(null, id) when flush request id
 * has been served, and cb(null, 0) once after stop, when nothing more will come.
 */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READER_MAGIC 0x72647231u /* "rdr1" */

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
void reader_stop(struct reader *r)
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

/* (reader) */
static struct reader *reader_arg(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	return get_reader(env, argv[0]);
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
	struct obj *o = obj_args(env, info, 4, argv);
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
	struct reader *r = reader_arg(env, info);
	if (!r)
		return NULL;
	reader_stop(r);
	return undefined(env);
}

/* readerFlush(reader) -> id: the reader drains the ring now and then calls cb(null, id).
 * Returns 0 when the reader is stopped (no marker will come). */
static napi_value js_reader_flush(napi_env env, napi_callback_info info)
{
	napi_value ret;
	struct reader *r = reader_arg(env, info);
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
	napi_value o;
	struct reader *r = reader_arg(env, info);
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

const struct addon_fn ringbuf_fns[] = {
	{ "startReader", js_start_reader },
	{ "stopReader", js_stop_reader },
	{ "readerFlush", js_reader_flush },
	{ "readerStats", js_reader_stats },
	{ "readerRef", js_reader_ref },
	{ NULL, NULL },
};
