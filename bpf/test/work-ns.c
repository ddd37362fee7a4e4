// SPDX-License-Identifier: Apache-2.0
/* Nested mount namespaces: `work-ns clone FILE` opens FILE in a child cloned with CLONE_NEWNS;
 * `work-ns unshare FILE` unshares, then opens FILE. Each prints the mntns it opened from. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, const char *file)
{
	struct stat st;
	int fd;

	stat("/proc/self/ns/mnt", &st);
	fd = open(file, O_RDONLY);
	printf("%s mntns %lu fd %d\n", what, (unsigned long)st.st_ino, fd);
	fflush(stdout);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "clone")) {
		long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0) {
			report("clone-child", argv[2]);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		return 0;
	}
	if (unshare(CLONE_NEWNS))
		return 1;
	report("unshare", argv[2]);
	return 0;
}
