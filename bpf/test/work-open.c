// SPDX-License-Identifier: Apache-2.0
/* trace_open workloads: each kind of open once, or `loop N` open+close for the benchmark. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	/* loop N [PATH]: best of 20 rounds of N open+close, ns per iteration */
	if (argc > 2 && !strcmp(argv[1], "loop")) {
		long n = atol(argv[2]);
		const char *p = argc > 3 ? argv[3] : "/etc/hostname";
		double best = 1e18;

		for (int round = 0; round < 20; round++) {
			struct timespec a, b;

			clock_gettime(CLOCK_MONOTONIC, &a);
			for (long i = 0; i < n; i++) {
				int fd = open(p, O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
			clock_gettime(CLOCK_MONOTONIC, &b);
			double t = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
			if (t < best)
				best = t;
		}
		printf("%.1f\n", best);
		return 0;
	}
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = 0 };
	int d = open("/usr", O_RDONLY | O_DIRECTORY);
	int fd;

	fd = syscall(SYS_open, "/etc/hostname", O_RDONLY);
	close(fd);
	fd = openat(AT_FDCWD, "/nonexistent/file", O_RDONLY);
	fd = openat(d, "lib", O_RDONLY | O_DIRECTORY);
	close(fd);
	fd = openat(d, "missing-rel", O_RDONLY);
	if (chdir("/tmp") == 0) {
		fd = openat(AT_FDCWD, "missing-in-cwd", O_RDONLY);
		fd = creat("trace-open-creat.tmp", 0640);
		close(fd);
		unlink("trace-open-creat.tmp");
	}
	fd = syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", &how, sizeof(how));
	close(fd);
	how.flags = O_WRONLY | O_CREAT;
	how.mode = 0600;
	fd = syscall(SYS_openat2, d, "no/such/dir/x", &how, sizeof(how));
	/* ia32 readlink (85) via int $0x80: must not be misread as x86-64 creat (85). */
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low != MAP_FAILED) {
		long r;

		strcpy(low, "/etc/hostname");
		__asm__ volatile("int $0x80"
				 : "=a"(r)
				 : "a"(85), "b"((unsigned long)low), "c"((unsigned long)low + 64), "d"(64)
				 : "memory");
	}
	return 0;
}
