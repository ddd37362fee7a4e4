// SPDX-License-Identifier: Apache-2.0
/* trace_exec workloads: plain, failing, memfd (fileless), non-leader thread, many/long args. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void run(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(arg);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

static void plain(void *a)
{
	char *argv[] = { "true", "--plain", "two words", "", "last", NULL };
	(void)a;
	execve("/bin/true", argv, environ);
}

static void failing(void *a)
{
	char *argv[] = { "nope", "--fail", NULL };
	(void)a;
	execve("/nonexistent/nope", argv, environ);
}

static void memfd(void *a)
{
	char *argv[] = { "memfd-true", "--memfd", NULL };
	int src = open("/bin/true", O_RDONLY), fd = memfd_create("fileless", 0);
	struct stat st;
	const char *junk = a;

	if (junk) {
		write(fd, junk, strlen(junk));
	} else {
		fstat(src, &st);
		sendfile(fd, src, NULL, st.st_size);
	}
	syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
}

static void *thread_exec(void *a)
{
	char *argv[] = { "true", "--from-thread", NULL };
	(void)a;
	execve("/bin/true", argv, environ);
	return NULL;
}

static void nonleader(void *a)
{
	pthread_t t;
	(void)a;
	pthread_create(&t, NULL, thread_exec, NULL);
	pthread_join(t, NULL);
}

/* n args of len bytes each (plus argv[0]) */
static void many(void *a)
{
	long spec = (long)a, n = spec >> 16, len = spec & 0xffff;
	const char *file = n < 0 ? "/nonexistent/many" : "/bin/true";
	char **argv;

	if (n < 0)
		n = -n;
	argv = calloc(n + 2, sizeof(char *));
	argv[0] = "many";
	for (long i = 1; i <= n; i++) {
		argv[i] = malloc(len + 1);
		memset(argv[i], 'a' + i % 26, len);
		argv[i][len] = 0;
	}
	execve(file, argv, environ);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";

	if (!*only || !strcmp(only, "plain"))
		run(plain, NULL);
	if (!*only || !strcmp(only, "fail"))
		run(failing, NULL);
	if (!*only || !strcmp(only, "memfd"))
		run(memfd, NULL);
	if (!*only || !strcmp(only, "memfd-fail"))
		run(memfd, "not an executable\n");
	if (!*only || !strcmp(only, "thread"))
		run(nonleader, NULL);
	if (!*only || !strcmp(only, "many")) {
		run(many, (void *)((100L << 16) | 3));	/* 100 short args */
		run(many, (void *)((40L << 16) | 1000)); /* 40 KB: truncated */
		run(many, (void *)((-100L << 16) | 3)); /* failed, 100 args */
		run(many, (void *)((-40L << 16) | 1000)); /* failed, truncated */
	}
	return 0;
}
