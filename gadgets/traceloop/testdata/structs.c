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
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static void handler(int sig)
{
	(void)sig;
}

/* SIGILL from the ud2 below: return past it (2 bytes) */
static void skip_ud2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP] += 2;
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
	int s4, s6, su, ep, fd, pfd[2], m;
	void *p;
	char a[8], b[100], big[100], comm[16];
	struct iovec wv[2] = { { "hello", 5 }, { " world\n", 7 } };
	struct iovec rv[2] = { { a, 4 }, { b, sizeof(b) } };
	struct iovec lv[3] = { { big, sizeof(big) }, { "a\tb", 3 }, { "c", 1 } };
	struct pollfd pf[2];
	struct epoll_event out[4];
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	sigset_t set, old;

	if (argc < 2 || chdir(argv[1]))
		return 2;
	/* the same descriptor numbers on both sides (a runner may pass some down) */
	close_range(3, ~0U, 0);
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
	sigaction(SIGINT, NULL, &sa);

	ep = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(ep, EPOLL_CTL_ADD, s4, &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, s4, NULL);

	/* iovecs: the first two, 64 bytes of each, what readv got (none when it failed) */
	pipe2(pfd, O_CLOEXEC);
	writev(pfd[1], wv, 2);
	readv(pfd[0], rv, 2);
	memset(big, 'x', sizeof(big));
	writev(pfd[1], lv, 3);
	readv(pfd[0], rv, 2);
	write(pfd[1], "abc", 3);
	readv(pfd[0], rv, 2);
	readv(99, rv, 2);
	preadv(fd, rv, 1, 0);
	m = memfd_create("kg", 0);
	pwritev(m, wv, 2, 3);

	/* pollfd and epoll_event arrays */
	pf[0].fd = pfd[0];
	pf[0].events = POLLIN;
	pf[1].fd = pfd[1];
	pf[1].events = POLLOUT | POLLIN;
	poll(pf, 2, 0);
	write(pfd[1], "z", 1);
	poll(pf, 2, 10);
	ev.data.u64 = 9;
	ev.events = EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
	ev.data.u64 = 10;
	ev.events = EPOLLOUT;
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd[1], &ev);
	epoll_wait(ep, out, 4, 0);
	epoll_pwait(ep, out, 4, 0, NULL);

	/* winsize on a pty master; a pipe is no terminal */
	fd = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	ioctl(fd, TIOCSWINSZ, &ws);
	ioctl(fd, TIOCGWINSZ, &ws);
	ioctl(pfd[0], TIOCGWINSZ, &ws);

	/* signal masks */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigfillset(&set);
	sigprocmask(SIG_UNBLOCK, &set, &old);

	/* msghdr: name, iovecs, lengths, flags; what recvmsg got */
	{
		int sv[2];
		char rb[64], rb2[8];
		struct iovec mv[2] = { { "ping ", 5 }, { "pong", 4 } };
		struct iovec rmv[2] = { { rb2, 3 }, { rb, sizeof(rb) } };
		struct msghdr mh = { .msg_iov = mv, .msg_iovlen = 2 };

		socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
		sendmsg(sv[0], &mh, MSG_NOSIGNAL);
		mh.msg_iov = rmv;
		recvmsg(sv[1], &mh, MSG_DONTWAIT);
		recvmsg(sv[1], &mh, MSG_DONTWAIT);
		in4.sin_port = htons(9);
		mh.msg_name = &in4;
		mh.msg_namelen = sizeof(in4);
		mh.msg_iov = mv;
		mh.msg_iovlen = 1;
		sendmsg(s6 + 100, &mh, 0);
	}

	/* the task name (cut at 15 bytes), then back */
	prctl(PR_SET_NAME, "kg-structs-long-name");
	prctl(PR_GET_NAME, comm);
	prctl(PR_SET_NAME, "structs");

	/* an int socket option; a directory's entries (a fixed set: the namespaces); a signal
	 * handled while TERM is blocked (the mask rt_sigreturn restores) */
	{
		int one = 1;
		char dents[4096];
		struct sigaction ill = { .sa_sigaction = skip_ud2, .sa_flags = SA_SIGINFO };

		setsockopt(s4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		fd = open("/proc/self/ns", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		syscall(SYS_getdents64, fd, dents, sizeof(dents));
		syscall(SYS_getdents64, fd, dents, sizeof(dents));
		sigaction(SIGILL, &ill, NULL);
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		__asm__ volatile("ud2");
	}

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, 8192, MADV_DONTNEED);
	munmap(p, 8192);
	if (fork() == 0)
		_exit(0);
	wait(&m);
	return 0;
}
