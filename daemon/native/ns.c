// SPDX-License-Identifier: Apache-2.0
/*
 * Namespace ids: the unique id of a mount namespace (ioctl NS_GET_MNTNS_ID, Linux 6.8+), which
 * the kernel never reuses, unlike the inode. The container tracker's kernel record is keyed by
 * the same value (bpf/ns_uid.h), so user space can join /proc-scanned processes to it.
 */
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef NS_GET_MNTNS_ID
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)
#endif

/* mntnsUid(path of an ns/mnt link) -> number, or null when the process is gone or the kernel
 * has no such ioctl (ENOTTY before 6.8). The ids are a counter: far below 2^53. */
static napi_value js_mntns_uid(napi_env env, napi_callback_info info)
{
	char *path = path_arg(env, info);
	uint64_t id = 0;
	napi_value v;
	int fd, r;

	if (!path)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		napi_get_null(env, &v);
		return v;
	}
	r = ioctl(fd, NS_GET_MNTNS_ID, &id);
	close(fd);
	if (r < 0 || id == 0) {
		napi_get_null(env, &v);
		return v;
	}
	napi_create_double(env, (double)id, &v);
	return v;
}

const struct addon_fn ns_fns[] = {
	{ "mntnsUid", js_mntns_uid },
	{ NULL, NULL },
};
