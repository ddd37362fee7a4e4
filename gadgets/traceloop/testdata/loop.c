// SPDX-License-Identifier: Apache-2.0
/*
 * Syscall-heavy workload for e2e/bench/traceloop.ts: N iterations of one syscall mix, then
 * prints the ns per iteration as JSON.
 *   loop N getppid     one cheap syscall per iteration (worst case for a per-syscall hook)
 *   loop N openclose   openat(path) + read + close of a small file (strings read at exit)
 *   loop N writev      writev of 2 iovecs (16 + 64 bytes) to /dev/null
 *   loop N spawn PROG ARG...  runs a real program N times (fork, execv, wait): its whole run
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	const char *mode = argc > 2 ? argv[2] : "getppid";
	const char *file = argc > 3 ? argv[3] : "/etc/hostname";
	char buf[64];
	long long t0 = now_ns();
	int calls = 1;

	if (strcmp(mode, "spawn") == 0 && argc > 3) {
		calls = 0; /* unknown: whatever the program makes */
		for (long i = 0; i < n; i++) {
			int status;
			pid_t pid = fork();

			if (pid == 0) {
				int null = open("/dev/null", O_WRONLY);

				if (null >= 0)
					dup2(null, 1); /* its output is not the result line */
				execv(argv[3], argv + 3);
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0) {
				fprintf(stderr, "loop: %s failed\n", argv[3]);
				return 1;
			}
		}
	} else if (strcmp(mode, "openclose") == 0) {
		calls = 3;
		for (long i = 0; i < n; i++) {
			int fd = open(file, O_RDONLY);
			if (fd >= 0) {
				(void)read(fd, buf, sizeof(buf));
				close(fd);
			}
		}
	} else if (strcmp(mode, "stat") == 0) {
		/* newfstatat: a path and a struct stat copied (two slots) */
		struct stat st;

		for (long i = 0; i < n; i++)
			(void)stat(file, &st);
	} else if (strcmp(mode, "writev") == 0) {
		/* writev of 2 iovecs to /dev/null: the iovecs and 64 bytes of each copied at entry */
		int fd = open("/dev/null", O_WRONLY);
		struct iovec iov[2] = { { buf, 16 }, { buf, sizeof(buf) } };

		memset(buf, 'a', sizeof(buf));
		for (long i = 0; i < n; i++)
			(void)writev(fd, iov, 2);
	} else {
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
	}
	long long dt = now_ns() - t0;
	printf("{\"iterations\":%ld,\"syscalls_per_iteration\":%d,\"ns_per_iteration\":%.1f}\n", n, calls,
	       (double)dt / n);
	return 0;
}
