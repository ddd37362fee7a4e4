// SPDX-License-Identifier: Apache-2.0
/* Iterators: running an attached iter/ program and reading what it writes. */
#define _GNU_SOURCE
#include "addon.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* iterRead(handle, prog) -> Buffer: runs an attached iter/ program and returns its output. */
static napi_value js_iter_read(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ret = NULL;
	struct obj *o;
	char *name;
	struct bpf_program *p = prog_args(env, info, 2, argv, "iter", &o, &name);
	if (!p)
		return NULL;
	struct bpf_link *l = prog_link(o, p);
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

const struct addon_fn iter_fns[] = {
	{ "iterRead", js_iter_read },
	{ NULL, NULL },
};
