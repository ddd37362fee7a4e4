// SPDX-License-Identifier: Apache-2.0
/*
 * Exec permission watcher on the OCI runtime binaries (runc, crun): fanotify FAN_OPEN_EXEC_PERM
 * holds each exec of a marked binary until this file's thread answers, so a container's
 * identity is read before its first process runs (docs/security.md: what a stalled answer
 * costs).
 *
 * The thread answers in C, never waiting for JS: for each permission event it reads, from
 * /proc/<pid> of the exec'ing process (still the caller's image: the new argv is not copied
 * yet when the open is checked), its exe, argv and cwd; takes the bundle from a "-b X" /
 * "--bundle X" in that argv (conmon, runc create re-exec'ing itself as "runc init") or else
 * the cwd, and reads <bundle>/config.json (at most maxConfigBytes, through /proc/<pid>/root or
 * /proc/<pid>/cwd, so from a pod too) when it exists; then it
 * allows the exec and queues a record. A caller that is not itself a marked runtime (conmon,
 * containerd-shim, podman) is followed for up to FOLLOW_NS after the answer: once its exe has
 * changed, the runtime's own argv (subcommand, --bundle, id) is queued as an 'exec' record,
 * with the config.json of a bundle it names (crun under a shim: the shim's cwd is the pod's
 * sandbox bundle; `create` does not start the user process, so this is still in time).
 *
 * JS drains the queue (fanotifyDrain) when it wants, and is told through a threadsafe
 * function (coalesced, unref'd) when the queue turns non-empty. The queue is bounded in count
 * and bytes: a record that does not fit is dropped and counted, the exec is answered anyway.
 * Closing stops the thread through an eventfd and closes the fanotify fd, which removes the
 * marks (also when the process is killed).
 */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAN_MAGIC 0x66616e31u /* "fan1" */
#define MAX_ARGV_BYTES (64 * 1024)
#define MAX_FOLLOW 64
#define FOLLOW_NS (200 * 1000000LL)
#define FOLLOW_POLL_MS 1

enum rec_kind { REC_PERM, REC_EXEC };

struct rec {
	struct rec *next;
	enum rec_kind kind;
	uint64_t seq;
	int pid, ppid;
	char *exe, *cwd, *bundle;
	char *argv; /* NUL-separated, argv_len bytes */
	size_t argv_len;
	char *config; /* config.json text or NULL */
	size_t config_len;
	int64_t ts_ns, answer_ns;
	size_t bytes; /* accounted size */
};

struct follow {
	uint64_t seq;
	int pid;
	int64_t deadline;
	char exe[PATH_MAX];
	char bundle[PATH_MAX];
};

struct fwatch {
	uint32_t magic;
	int fan_fd, stop_fd;
	pthread_t th;
	bool running;
	napi_env env;
	napi_threadsafe_function tsfn; /* NULL without a callback */
	int refs;                      /* external + tsfn */

	uint32_t max_config;
	uint32_t max_queued;
	size_t max_bytes;

	/* thread-only */
	struct follow follows[MAX_FOLLOW];
	int nfollow;
	uint64_t next_seq;

	pthread_mutex_t mu;
	struct rec *head, *tail;
	uint32_t queued;
	size_t queued_bytes;
	bool notify_pending;
	/* stats (under mu) */
	uint64_t seen, answered, dropped, overflows, read_errors, config_reads, config_truncated, follows_done,
		follow_timeouts, follow_full;
	int64_t max_answer_ns, total_answer_ns;
};

static int64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t boot_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void rec_free(struct rec *r)
{
	if (!r)
		return;
	free(r->exe);
	free(r->cwd);
	free(r->bundle);
	free(r->argv);
	free(r->config);
	free(r);
}

/* Reads at most cap bytes of a file; returns a malloc'ed, NUL-terminated buffer or NULL. */
static char *read_file_cap(const char *path, size_t cap, size_t *lenp, bool *truncated)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	size_t sz = 4096, len = 0;
	char *buf = malloc(sz + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	if (truncated)
		*truncated = false;
	for (;;) {
		if (len == sz) {
			if (sz >= cap) {
				char c;
				if (truncated && read(fd, &c, 1) == 1)
					*truncated = true;
				break;
			}
			size_t nsz = sz * 2 > cap ? cap : sz * 2;
			char *nb = realloc(buf, nsz + 1);
			if (!nb)
				break;
			buf = nb;
			sz = nsz;
		}
		ssize_t n = read(fd, buf + len, sz - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	*lenp = len;
	return buf;
}

static char *read_link(const char *path)
{
	char tmp[PATH_MAX];
	ssize_t n = readlink(path, tmp, sizeof(tmp) - 1);
	if (n < 0)
		return NULL;
	tmp[n] = 0;
	return strdup(tmp);
}

static int read_ppid(int pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *close_paren = strrchr(buf, ')');
	int ppid = 0;
	if (close_paren)
		sscanf(close_paren + 1, " %*c %d", &ppid);
	return ppid;
}

/* The value of "-b X", "--bundle X", "--bundle=X" or "-b=X" in a NUL-separated argv, or NULL. */
static const char *argv_bundle(const char *argv, size_t len)
{
	const char *end = argv + len;
	for (const char *a = argv; a < end; a += strlen(a) + 1) {
		const char *next = a + strlen(a) + 1;
		if (strcmp(a, "-b") == 0 || strcmp(a, "--bundle") == 0 || strcmp(a, "-bundle") == 0)
			return next < end && *next ? next : NULL;
		if (strncmp(a, "--bundle=", 9) == 0)
			return a[9] ? a + 9 : NULL;
		if (strncmp(a, "-b=", 3) == 0)
			return a[3] ? a + 3 : NULL;
	}
	return NULL;
}

/*
 * Fills r's bundle and config from an explicit bundle dir (argv) or else r's cwd. Paths are
 * opened through /proc/<pid>/root and /proc/<pid>/cwd: they are the runtime's, and a daemon in
 * a pod has another mount namespace.
 */
static void read_bundle(struct fwatch *w, struct rec *r, const char *bundle_arg, bool try_cwd)
{
	char path[PATH_MAX], shown[PATH_MAX];
	for (int i = 0; i < 2; i++) {
		int np, ns;
		if (i == 0) {
			if (!bundle_arg || !*bundle_arg)
				continue;
			if (bundle_arg[0] == '/') {
				np = snprintf(path, sizeof(path), "/proc/%d/root%s/config.json", r->pid, bundle_arg);
				ns = snprintf(shown, sizeof(shown), "%s", bundle_arg);
			} else {
				np = snprintf(path, sizeof(path), "/proc/%d/cwd/%s/config.json", r->pid, bundle_arg);
				ns = snprintf(shown, sizeof(shown), "%s/%s", r->cwd ? r->cwd : ".", bundle_arg);
			}
		} else {
			if (!try_cwd || !r->cwd)
				continue;
			np = snprintf(path, sizeof(path), "/proc/%d/cwd/config.json", r->pid);
			ns = snprintf(shown, sizeof(shown), "%s", r->cwd);
		}
		if (np >= (int)sizeof(path) || ns >= (int)sizeof(shown))
			continue;
		bool trunc = false;
		size_t len = 0;
		char *c = read_file_cap(path, w->max_config, &len, &trunc);
		if (!c)
			continue;
		r->bundle = strdup(shown);
		r->config = c;
		r->config_len = len;
		pthread_mutex_lock(&w->mu);
		w->config_reads++;
		if (trunc)
			w->config_truncated++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
}

/* Reads /proc/<pid>: exe, argv, cwd, ppid. */
static void read_proc(struct rec *r)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/exe", r->pid);
	r->exe = read_link(p);
	snprintf(p, sizeof(p), "/proc/%d/cwd", r->pid);
	r->cwd = read_link(p);
	snprintf(p, sizeof(p), "/proc/%d/cmdline", r->pid);
	r->argv = read_file_cap(p, MAX_ARGV_BYTES, &r->argv_len, NULL);
	r->ppid = read_ppid(r->pid);
}

static void notify_js(struct fwatch *w)
{
	if (w->tsfn)
		napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking);
}

/* Queues r (takes ownership) or drops it when the queue is full. Thread side. */
static void enqueue(struct fwatch *w, struct rec *r)
{
	r->bytes = sizeof(*r) + r->argv_len + r->config_len + (r->exe ? strlen(r->exe) : 0) +
		   (r->cwd ? strlen(r->cwd) : 0) + (r->bundle ? strlen(r->bundle) : 0);
	bool notify = false;
	pthread_mutex_lock(&w->mu);
	if (w->queued >= w->max_queued || w->queued_bytes + r->bytes > w->max_bytes) {
		w->dropped++;
		pthread_mutex_unlock(&w->mu);
		rec_free(r);
		return;
	}
	if (w->tail)
		w->tail->next = r;
	else
		w->head = r;
	w->tail = r;
	w->queued++;
	w->queued_bytes += r->bytes;
	if (!w->notify_pending) {
		w->notify_pending = true;
		notify = true;
	}
	pthread_mutex_unlock(&w->mu);
	if (notify)
		notify_js(w);
}

static bool exe_is_marked_runtime(const char *exe)
{
	if (!exe)
		return false;
	const char *b = strrchr(exe, '/');
	b = b ? b + 1 : exe;
	return strcmp(b, "runc") == 0 || strcmp(b, "crun") == 0 || strcmp(b, "runsc") == 0 ||
	       strcmp(b, "youki") == 0;
}

static void handle_perm(struct fwatch *w, const struct fanotify_event_metadata *m, int64_t t0)
{
	struct rec *r = calloc(1, sizeof(*r));
	if (r) {
		r->kind = REC_PERM;
		r->seq = ++w->next_seq;
		r->pid = m->pid;
		r->ts_ns = boot_ns();
		read_proc(r);
		read_bundle(w, r, r->argv ? argv_bundle(r->argv, r->argv_len) : NULL, true);
	}
	/* always answer, whatever failed above */
	struct fanotify_response resp = { .fd = m->fd, .response = FAN_ALLOW };
	ssize_t n;
	do
		n = write(w->fan_fd, &resp, sizeof(resp));
	while (n < 0 && errno == EINTR);
	close(m->fd);
	int64_t lat = mono_ns() - t0;
	pthread_mutex_lock(&w->mu);
	if (n == (ssize_t)sizeof(resp))
		w->answered++;
	else
		w->read_errors++;
	if (lat > w->max_answer_ns)
		w->max_answer_ns = lat;
	w->total_answer_ns += lat;
	pthread_mutex_unlock(&w->mu);
	if (!r) {
		pthread_mutex_lock(&w->mu);
		w->dropped++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	r->answer_ns = lat;
	/* a caller that is not the runtime: learn the runtime's own argv once it has exec'd */
	if (!exe_is_marked_runtime(r->exe)) {
		if (w->nfollow < MAX_FOLLOW) {
			struct follow *f = &w->follows[w->nfollow++];
			f->seq = r->seq;
			f->pid = r->pid;
			f->deadline = mono_ns() + FOLLOW_NS;
			snprintf(f->exe, sizeof(f->exe), "%s", r->exe ? r->exe : "");
			snprintf(f->bundle, sizeof(f->bundle), "%s", r->bundle ? r->bundle : "");
		} else {
			pthread_mutex_lock(&w->mu);
			w->follow_full++;
			pthread_mutex_unlock(&w->mu);
		}
	}
	enqueue(w, r);
}

/* Checks the followed pids: exec'd (queue an 'exec' record), gone, or timed out. */
static void check_follows(struct fwatch *w)
{
	int64_t now = mono_ns();
	for (int i = 0; i < w->nfollow;) {
		struct follow *f = &w->follows[i];
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/exe", f->pid);
		char *exe = read_link(p);
		bool done = false, timeout = false;
		if (!exe) {
			done = true; /* gone (or a zombie already) */
		} else if (strcmp(exe, f->exe) != 0) {
			struct rec *r = calloc(1, sizeof(*r));
			if (r) {
				r->kind = REC_EXEC;
				r->seq = f->seq;
				r->pid = f->pid;
				r->ts_ns = boot_ns();
				read_proc(r);
				const char *b = r->argv ? argv_bundle(r->argv, r->argv_len) : NULL;
				/* a bundle the perm record did not read already */
				if (b && strcmp(b, f->bundle) != 0)
					read_bundle(w, r, b, false);
				enqueue(w, r);
			}
			pthread_mutex_lock(&w->mu);
			w->follows_done++;
			pthread_mutex_unlock(&w->mu);
			done = true;
		} else if (now > f->deadline) {
			timeout = true;
		}
		free(exe);
		if (timeout) {
			pthread_mutex_lock(&w->mu);
			w->follow_timeouts++;
			pthread_mutex_unlock(&w->mu);
		}
		if (done || timeout)
			w->follows[i] = w->follows[--w->nfollow];
		else
			i++;
	}
}

static void *fwatch_main(void *arg)
{
	struct fwatch *w = arg;
	/* metadata is followed by nothing for FAN_CLASS_CONTENT without FAN_REPORT_*: 4 KiB holds
	 * 170 events */
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	for (;;) {
		struct pollfd pfd[2] = { { .fd = w->fan_fd, .events = POLLIN }, { .fd = w->stop_fd, .events = POLLIN } };
		int pr = poll(pfd, 2, w->nfollow ? FOLLOW_POLL_MS : -1);
		if (pr < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pr > 0 && (pfd[0].revents & POLLIN)) {
			for (;;) {
				ssize_t n = read(w->fan_fd, buf, sizeof(buf));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					if (n < 0 && errno != EAGAIN) {
						pthread_mutex_lock(&w->mu);
						w->read_errors++;
						pthread_mutex_unlock(&w->mu);
					}
					break;
				}
				int64_t t0 = mono_ns();
				const struct fanotify_event_metadata *m = (const void *)buf;
				for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
					pthread_mutex_lock(&w->mu);
					w->seen++;
					if (m->mask & FAN_Q_OVERFLOW)
						w->overflows++;
					pthread_mutex_unlock(&w->mu);
					if (m->vers != FANOTIFY_METADATA_VERSION || m->fd < 0)
						continue;
					if (m->mask & FAN_OPEN_EXEC_PERM)
						handle_perm(w, m, t0);
					else
						close(m->fd);
				}
			}
		}
		if (w->nfollow)
			check_follows(w);
	}
	return NULL;
}

static void fwatch_unref(struct fwatch *w)
{
	if (--w->refs > 0)
		return;
	struct rec *r = w->head;
	while (r) {
		struct rec *next = r->next;
		rec_free(r);
		r = next;
	}
	pthread_mutex_destroy(&w->mu);
	w->magic = 0;
	free(w);
}

static void fwatch_cleanup_hook(void *arg);

/* Main thread: stops the thread, closes the fds (removing the marks). Idempotent. */
static void fwatch_stop(struct fwatch *w)
{
	if (w->running) {
		uint64_t one = 1;
		ssize_t n = write(w->stop_fd, &one, sizeof(one));
		(void)n;
		pthread_join(w->th, NULL);
		w->running = false;
		napi_remove_env_cleanup_hook(w->env, fwatch_cleanup_hook, w);
	}
	if (w->fan_fd >= 0) {
		close(w->fan_fd);
		w->fan_fd = -1;
	}
	if (w->stop_fd >= 0) {
		close(w->stop_fd);
		w->stop_fd = -1;
	}
	if (w->tsfn) {
		napi_threadsafe_function t = w->tsfn;
		w->tsfn = NULL;
		napi_release_threadsafe_function(t, napi_tsfn_abort);
	}
}

static void fwatch_cleanup_hook(void *arg)
{
	fwatch_stop((struct fwatch *)arg);
}

static void fwatch_ext_finalize(napi_env env, void *data, void *hint)
{
	struct fwatch *w = data;
	fwatch_stop(w);
	fwatch_unref(w);
}

static void fwatch_tsfn_finalize(napi_env env, void *data, void *hint)
{
	fwatch_unref((struct fwatch *)hint);
}

static void fwatch_call_js(napi_env env, napi_value cb, void *ctx, void *data)
{
	struct fwatch *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->notify_pending = false;
	pthread_mutex_unlock(&w->mu);
	if (!env || !cb)
		return;
	napi_value global;
	napi_get_global(env, &global);
	if (napi_call_function(env, global, cb, 0, NULL, NULL) == napi_pending_exception) {
		napi_value exc;
		if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
			napi_fatal_exception(env, exc);
	}
}

static struct fwatch *get_fwatch(napi_env env, napi_value v)
{
	void *p = NULL;
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t == napi_external)
		napi_get_value_external(env, v, &p);
	struct fwatch *w = p;
	if (!w || w->magic != FAN_MAGIC) {
		throw_type(env, "expected an exec watcher handle");
		return NULL;
	}
	return w;
}

static bool opt_u32(napi_env env, napi_value opts, const char *key, uint32_t *out)
{
	napi_valuetype t;
	napi_typeof(env, opts, &t);
	if (t != napi_object)
		return true;
	napi_value v;
	if (napi_get_named_property(env, opts, key, &v) != napi_ok)
		return true;
	napi_typeof(env, v, &t);
	if (t == napi_undefined)
		return true;
	return get_u32(env, v, key, out);
}

/*
 * fanotifyWatch(paths: string[], cb: (() => void) | null,
 *               {maxConfigBytes=1MiB, maxQueued=1024, maxQueuedBytes=32MiB}) -> watcher
 * Throws with code EPERM without CAP_SYS_ADMIN, or the errno of the first path that cannot be
 * marked (error.path names it).
 */
static napi_value js_fanotify_watch(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	if (!get_args(env, info, 3, argv))
		return NULL;
	bool is_arr = false;
	napi_is_array(env, argv[0], &is_arr);
	if (!is_arr)
		return throw_type(env, "paths must be an array of strings");
	napi_valuetype cbt;
	napi_typeof(env, argv[1], &cbt);
	if (cbt != napi_function && cbt != napi_null && cbt != napi_undefined)
		return throw_type(env, "callback must be a function or null");
	uint32_t max_config = 1 << 20, max_queued = 1024, max_bytes = 32 << 20;
	if (!opt_u32(env, argv[2], "maxConfigBytes", &max_config) || !opt_u32(env, argv[2], "maxQueued", &max_queued) ||
	    !opt_u32(env, argv[2], "maxQueuedBytes", &max_bytes))
		return NULL;
	if (max_queued < 1)
		max_queued = 1;

	int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fan < 0)
		return throw_errno(env, errno, "fanotify_init");
	uint32_t n = 0;
	napi_get_array_length(env, argv[0], &n);
	for (uint32_t i = 0; i < n; i++) {
		napi_value v;
		napi_get_element(env, argv[0], i, &v);
		char *path = get_string(env, v, "path");
		if (!path) {
			close(fan);
			return NULL;
		}
		if (fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, AT_FDCWD, path) < 0) {
			int err = errno;
			close(fan);
			throw_errno(env, err, "fanotify_mark %s", path);
			free(path);
			return NULL;
		}
		free(path);
	}
	int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop < 0) {
		int err = errno;
		close(fan);
		return throw_errno(env, err, "eventfd");
	}
	struct fwatch *w = calloc(1, sizeof(*w));
	if (!w) {
		close(fan);
		close(stop);
		return throw_errno(env, ENOMEM, "exec watcher");
	}
	w->magic = FAN_MAGIC;
	w->fan_fd = fan;
	w->stop_fd = stop;
	w->env = env;
	w->max_config = max_config;
	w->max_queued = max_queued;
	w->max_bytes = max_bytes;
	pthread_mutex_init(&w->mu, NULL);
	w->refs = 1;
	napi_value ext;
	if (napi_create_external(env, w, fwatch_ext_finalize, NULL, &ext) != napi_ok) {
		fwatch_stop(w);
		fwatch_unref(w);
		return throw_type(env, "napi_create_external failed");
	}
	if (cbt == napi_function) {
		napi_value res_name;
		napi_create_string_utf8(env, "runtime-exec-watch", NAPI_AUTO_LENGTH, &res_name);
		if (napi_create_threadsafe_function(env, argv[1], NULL, res_name, 0, 1, NULL, fwatch_tsfn_finalize, w,
						    fwatch_call_js, &w->tsfn) != napi_ok) {
			w->tsfn = NULL;
			fwatch_stop(w);
			return throw_type(env, "napi_create_threadsafe_function failed");
		}
		w->refs++;
		/* a watcher never keeps the process alive by itself */
		napi_unref_threadsafe_function(env, w->tsfn);
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&w->th, NULL, fwatch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fwatch_stop(w);
		return throw_errno(env, err, "exec watcher: thread");
	}
	w->running = true;
	napi_add_env_cleanup_hook(env, fwatch_cleanup_hook, w);
	return ext;
}

static void set_opt_str(napi_env env, napi_value o, const char *k, const char *s)
{
	set_str_prop(env, o, k, s ? s : "");
}

/* fanotifyDrain(watcher) -> records, oldest first (see the header for the fields) */
static napi_value js_fanotify_drain(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct fwatch *w = get_fwatch(env, argv[0]);
	if (!w)
		return NULL;
	pthread_mutex_lock(&w->mu);
	struct rec *r = w->head;
	w->head = w->tail = NULL;
	w->queued = 0;
	w->queued_bytes = 0;
	pthread_mutex_unlock(&w->mu);
	napi_value arr;
	napi_create_array(env, &arr);
	uint32_t i = 0;
	while (r) {
		struct rec *next = r->next;
		napi_value o, args;
		napi_create_object(env, &o);
		set_str_prop(env, o, "kind", r->kind == REC_PERM ? "perm" : "exec");
		set_f64_prop(env, o, "seq", (double)r->seq);
		set_f64_prop(env, o, "pid", r->pid);
		set_f64_prop(env, o, "ppid", r->ppid);
		set_opt_str(env, o, "exe", r->exe);
		set_opt_str(env, o, "cwd", r->cwd);
		set_opt_str(env, o, "bundle", r->bundle);
		napi_create_array(env, &args);
		uint32_t j = 0;
		if (r->argv) {
			const char *end = r->argv + r->argv_len;
			for (const char *a = r->argv; a < end; a += strlen(a) + 1) {
				napi_value s;
				napi_create_string_utf8(env, a, NAPI_AUTO_LENGTH, &s);
				napi_set_element(env, args, j++, s);
			}
		}
		napi_set_named_property(env, o, "argv", args);
		if (r->config) {
			napi_value s;
			napi_create_string_utf8(env, r->config, r->config_len, &s);
			napi_set_named_property(env, o, "config", s);
		} else {
			napi_value nul;
			napi_get_null(env, &nul);
			napi_set_named_property(env, o, "config", nul);
		}
		set_f64_prop(env, o, "tsNs", (double)r->ts_ns);
		set_f64_prop(env, o, "answerNs", (double)r->answer_ns);
		napi_set_element(env, arr, i++, o);
		rec_free(r);
		r = next;
	}
	return arr;
}

/* fanotifyStats(watcher) -> counters (see the JS side for their meaning) */
static napi_value js_fanotify_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], o;
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct fwatch *w = get_fwatch(env, argv[0]);
	if (!w)
		return NULL;
	napi_create_object(env, &o);
	pthread_mutex_lock(&w->mu);
	set_f64_prop(env, o, "seen", (double)w->seen);
	set_f64_prop(env, o, "answered", (double)w->answered);
	set_f64_prop(env, o, "maxAnswerNs", (double)w->max_answer_ns);
	set_f64_prop(env, o, "totalAnswerNs", (double)w->total_answer_ns);
	set_f64_prop(env, o, "dropped", (double)w->dropped);
	set_f64_prop(env, o, "queued", w->queued);
	set_f64_prop(env, o, "queuedBytes", (double)w->queued_bytes);
	set_f64_prop(env, o, "overflows", (double)w->overflows);
	set_f64_prop(env, o, "errors", (double)w->read_errors);
	set_f64_prop(env, o, "configReads", (double)w->config_reads);
	set_f64_prop(env, o, "configTruncated", (double)w->config_truncated);
	set_f64_prop(env, o, "followed", (double)w->follows_done);
	set_f64_prop(env, o, "followTimeouts", (double)w->follow_timeouts);
	set_f64_prop(env, o, "followFull", (double)w->follow_full);
	set_bool_prop(env, o, "running", w->running);
	pthread_mutex_unlock(&w->mu);
	return o;
}

/* fanotifyClose(watcher): stops the thread and closes the fds (the marks go). Idempotent. */
static napi_value js_fanotify_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!get_args(env, info, 1, argv))
		return NULL;
	struct fwatch *w = get_fwatch(env, argv[0]);
	if (!w)
		return NULL;
	fwatch_stop(w);
	return undefined(env);
}

const struct addon_fn fanotify_fns[] = {
	{ "fanotifyWatch", js_fanotify_watch },
	{ "fanotifyDrain", js_fanotify_drain },
	{ "fanotifyStats", js_fanotify_stats },
	{ "fanotifyClose", js_fanotify_close },
	{ NULL, NULL },
};
