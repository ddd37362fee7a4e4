// SPDX-License-Identifier: Apache-2.0
/*
 * A deterministic syscall workload for the traceloop fidelity test (e2e/traceloop.test.ts):
 * run once in a container while traceloop records and once under `strace -f`, its syscalls
 * (names, order per thread, return values, paths) must match. Static, no stdio: the sequence
 * must not depend on the environment.
 *
 *   fidelity DIR segv   ... then dereference NULL (killed by SIGSEGV)
 *   fidelity DIR exit   ... then exit_group(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char dir[200];
static int done_pipe[2];

static void path(char *out, const char *name)
{
	strcpy(out, dir);
	strcat(out, "/");
	strcat(out, name);
}

static void *worker(void *arg)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char p[256], buf[64];
	int fd;

	(void)arg;
	path(p, "renamed");
	fd = open(p, O_RDONLY);
	if (fd >= 0) {
		(void)read(fd, buf, sizeof(buf));
		close(fd);
	}
	path(p, "from-thread");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	(void)write(fd, "thread\n", 7);
	close(fd);
	/* the main thread is blocked in read() by now: its syscall's exit comes on wake-up */
	nanosleep(&pause, NULL);
	(void)write(done_pipe[1], "x", 1);
	return NULL;
}

int main(int argc, char **argv)
{
	char p[256], q[256], buf[64];
	pthread_t t;
	struct stat st;
	int fd;

	if (argc < 3)
		return 2;
	strncpy(dir, argv[1], sizeof(dir) - 1);
	(void)mkdir(dir, 0755);
	path(p, "file");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)write(fd, "hello traceloop\n", 16);
	close(fd);
	path(q, "does-not-exist");
	(void)open(q, O_RDONLY);
	path(q, "renamed");
	(void)rename(p, q);
	(void)stat(q, &st);
	(void)readlink(q, buf, sizeof(buf)); /* not a link: EINVAL */
	(void)access("/definitely/missing", R_OK);
	(void)chdir(dir);
	(void)openat(AT_FDCWD, "renamed", O_RDONLY | O_CLOEXEC);
	if (pipe(done_pipe))
		return 3;
	pthread_create(&t, NULL, worker, NULL);
	(void)read(done_pipe[0], buf, 1);
	pthread_join(t, NULL);
	(void)unlink("from-thread");
	(void)write(1, "before the end\n", 15);
	if (strcmp(argv[2], "segv") == 0)
		*(volatile int *)0 = 1;
	_exit(7);
}
