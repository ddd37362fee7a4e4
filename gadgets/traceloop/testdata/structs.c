// SPDX-License-Identifier: Apache-2.0
/*
 * The calls whose structures traceloop decodes (gadgets/traceloop/structs.e2e.test.ts): run once
 * in a container while traceloop records and once under `strace -f -qq -s 64`; the arguments of
 * these calls must read the same. Static, run in DIR (the same directory on both sides), nothing
 * that depends on the host: a refused connect, a unix path that does not exist, limits it sets
 * itself before it reads them.
 *
 *   structs DIR
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void handler(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(1) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct timespec ts = { 0, 1500000 };
	struct rlimit rl = { 256, 512 };
	struct utsname uts;
	struct stat st;
	struct statx stx;
	struct sigaction sa = { 0 };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 7 };
	int s4, s6, su, ep, fd;
	void *p;

	if (argc < 2 || chdir(argv[1]))
		return 2;
	s4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
	connect(s4, (struct sockaddr *)&in4, sizeof(in4));
	s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	connect(s6, (struct sockaddr *)&in6, sizeof(in6));
	su = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(un.sun_path, "/nonexistent/x.sock");
	connect(su, (struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path) + 1);
	memcpy(un.sun_path, "\0kgtest-abstract", 16);
	bind(su, (struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + 16);
	socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);

	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	syscall(SYS_nanosleep, &ts, NULL);
	syscall(SYS_setrlimit, RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	uname(&uts);

	stat(".", &st);
	stat("structs", &st);
	stat("/dev/null", &st);
	stat("missing", &st);
	statx(AT_FDCWD, "structs", AT_SYMLINK_NOFOLLOW, STATX_MODE | STATX_SIZE, &stx);
	fd = open("structs", O_RDONLY);
	fstat(fd, &st);

	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	ep = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(ep, EPOLL_CTL_ADD, s4, &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, s4, NULL);

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, 8192, MADV_DONTNEED);
	munmap(p, 8192);
	if (fork() == 0)
		_exit(0);
	wait(NULL);
	return 0;
}
