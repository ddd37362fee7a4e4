// SPDX-License-Identifier: Apache-2.0
/* Capture of libbpf's log: errors carry it as their detail (verifier output included). Per thread:
 * libbpf logs on the thread that calls it, so a load on a worker thread (loadAsync) and calls on
 * the main thread meanwhile each keep their own log. */
#define _GNU_SOURCE
#include "addon.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_CAP (256 * 1024)

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread char *log_buf;
static __thread size_t log_len;
static int log_debug = -1; /* LIBBPF_DEBUG=1: capture debug messages too and echo to stderr */

int print_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
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

void log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	log_len = 0;
	if (log_buf)
		log_buf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

/* Returns a malloc'ed copy of the log (NULL when empty) and resets it. */
char *log_take(void)
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

/* The program named as failed in the log captured so far (malloc'ed), or NULL. */
char *log_failed_prog(void)
{
	char *prog = NULL;
	pthread_mutex_lock(&log_mu);
	if (log_buf && log_len)
		prog = failed_prog_from_log(log_buf);
	pthread_mutex_unlock(&log_mu);
	return prog;
}
