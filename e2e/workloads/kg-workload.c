// Test workload: does known execs and opens, and prints what it did as JSON lines on stdout,
// so tests compare the tracer's events with ground truth. Built static so it runs in containers.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report_open(const char *call, int dirfd, const char *path, long flags, int mode, int ret,
			int err)
{
	struct stat st = { 0 };

	/* the inode names an O_TMPFILE file in its resolved path ("#<ino>") */
	if (ret >= 0 && fstat(ret, &st) < 0)
		st.st_ino = 0;
	printf("{\"op\":\"%s\",\"pid\":%d,\"tid\":%ld,\"dirfd\":%d,\"path\":\"%s\",\"flags\":%ld,"
	       "\"mode\":%d,\"ret\":%d,\"ino\":%llu}\n",
	       call, getpid(), syscall(SYS_gettid), dirfd, path, flags, mode, ret < 0 ? -err : ret,
	       ret >= 0 ? (unsigned long long)st.st_ino : 0ULL);
	fflush(stdout);
}

/* Opens of every kind, in a fixed order, under DIR. */
static int do_opens(const char *dir)
{
	char p[4096];
	int fd;

	if (chdir(dir) < 0)
		return perror("chdir"), 1;
	fd = openat(AT_FDCWD, "exists.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	report_open("openat", AT_FDCWD, "exists.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640, fd, errno);
	close(fd);
	snprintf(p, sizeof(p), "%s/exists.txt", dir);
	fd = syscall(SYS_open, p, O_RDONLY);
	report_open("open", AT_FDCWD, p, O_RDONLY, 0, fd, errno);
	close(fd);
	errno = 0;
	fd = syscall(SYS_open, "missing.txt", O_RDONLY);
	report_open("open", AT_FDCWD, "missing.txt", O_RDONLY, 0, fd, errno);
	fd = syscall(SYS_creat, "created.txt", 0600);
	report_open("creat", AT_FDCWD, "created.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600, fd, errno);
	close(fd);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	report_open("open", AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0, dfd, errno);
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
	fd = syscall(SYS_openat2, dfd, "exists.txt", &how, sizeof(how));
	report_open("openat2", dfd, "exists.txt", O_RDONLY | O_CLOEXEC, 0, fd, errno);
	close(fd);
	struct open_how how2 = { .flags = O_RDWR | O_CREAT | O_EXCL, .mode = 0644 };
	errno = 0;
	fd = syscall(SYS_openat2, dfd, "exists.txt", &how2, sizeof(how2));
	report_open("openat2", dfd, "exists.txt", O_RDWR | O_CREAT | O_EXCL, 0644, fd, errno);
	fd = openat(dfd, ".", O_TMPFILE | O_RDWR, 0600);
	report_open("openat", dfd, ".", O_TMPFILE | O_RDWR, 0600, fd, errno);
	if (fd >= 0)
		close(fd);
	close(dfd);
	/* not valid UTF-8: must be escaped, not dropped */
	fd = open("bad-\xff-name", O_RDONLY);
	report_open("open", AT_FDCWD, "bad-\\\\xff-name", O_RDONLY, 0, fd, errno);
	return 0;
}

struct thread_exec {
	char **argv;
};

static void *exec_from_thread(void *arg)
{
	struct thread_exec *te = arg;
	printf("{\"op\":\"thread-exec\",\"pid\":%d,\"tid\":%ld}\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	execv(te->argv[0], te->argv);
	perror("execv");
	exit(127);
}

static int do_memfd_exec(const char *src, char **argv)
{
	int in = open(src, O_RDONLY);
	if (in < 0)
		return perror("open src"), 1;
	int mfd = memfd_create("kg-fileless", MFD_CLOEXEC);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n)
			return perror("write"), 1;
	close(in);
	printf("{\"op\":\"memfd-exec\",\"pid\":%d,\"fd\":%d}\n", getpid(), mfd);
	fflush(stdout);
	extern char **environ;
	syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
	perror("execveat");
	return 127;
}

static int do_exec_fail(const char *path)
{
	char *argv[] = { (char *)path, "arg1", NULL };
	printf("{\"op\":\"exec-fail-start\",\"pid\":%d}\n", getpid());
	fflush(stdout);
	execv(path, argv);
	int err = errno;
	printf("{\"op\":\"exec-fail\",\"pid\":%d,\"path\":\"%s\",\"ret\":%d}\n", getpid(), path, -err);
	fflush(stdout);
	return 0;
}

/* Prints the bytes of s as hex: names may hold bytes that are not valid UTF-8. */
static void print_hex(const char *key, const char *s, size_t n)
{
	printf(",\"%s\":\"", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", (unsigned char)s[i]);
	printf("\"");
}

/* Reads a small file (a /proc comm), without its trailing newline. */
static size_t read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return n;
}

/* Ground truth about this process after an exec: ids, comm, parent's comm, cwd and exe. */
static int do_whoami(void)
{
	char comm[64], pcomm[64], cwd[4096], exe[4096], p[64];
	size_t cl, pl;
	ssize_t el;

	cl = read_line("/proc/self/comm", comm, sizeof(comm));
	snprintf(p, sizeof(p), "/proc/%d/comm", getppid());
	pl = read_line(p, pcomm, sizeof(pcomm));
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (el < 0)
		el = 0;
	exe[el] = '\0';
	printf("{\"op\":\"whoami\",\"pid\":%d,\"tid\":%ld,\"ppid\":%d,\"uid\":%u,\"euid\":%u,\"gid\":%u,"
	       "\"egid\":%u",
	       getpid(), syscall(SYS_gettid), getppid(), getuid(), geteuid(), getgid(), getegid());
	print_hex("comm", comm, cl);
	print_hex("pcomm", pcomm, pl);
	print_hex("cwd", cwd, strlen(cwd));
	print_hex("exe", exe, el);
	printf("}\n");
	fflush(stdout);
	return 0;
}

/* execv(PATH, argv) with argv[0] = ARGV0: prints who execs first, and the error if it fails. */
static int do_exec(const char *path, char **argv)
{
	printf("{\"op\":\"exec\",\"pid\":%d,\"tid\":%ld}\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	execv(path, argv);
	printf("{\"op\":\"exec-error\",\"pid\":%d,\"ret\":%d}\n", getpid(), -errno);
	fflush(stdout);
	return 127;
}

/*
 * In DIR/cwd-\xff, execs ./kg-\xfe-bin (a copy of this program, made by the test) with argv bytes
 * that are not UTF-8: cwd, exepath, comm and args all hold such bytes.
 */
static int do_exec_badutf8(const char *dir)
{
	char *argv[] = { "kg-\xfe-bin", "whoami", "bad-\xff\xfe-arg", "caf\xc3\xa9", NULL };

	if (chdir(dir) < 0 || chdir("cwd-\xff") < 0)
		return perror("chdir"), 1;
	return do_exec("./kg-\xfe-bin", argv);
}

/*
 * Tight open+close loop; prints wall-clock ns per iteration, and CPU ns per iteration (less than
 * wall when something else ran on this CPU meanwhile).
 */
static int do_open_loop(long iters, const char *path)
{
	struct timespec a, b, ca, cb;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < iters; i++) {
		int fd = open(path, O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	double cpu = (cb.tv_sec - ca.tv_sec) * 1e9 + (cb.tv_nsec - ca.tv_nsec);
	printf("{\"op\":\"open-loop\",\"pid\":%d,\"iters\":%ld,\"ns_per_iter\":%.1f,\"cpu_ns_per_iter\":%.1f}\n",
	       getpid(), iters, ns / iters, cpu / iters);
	return 0;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/*
 * Paced open+close loop (benchmark load): RATE opens per second (0: as fast as possible) for
 * SECONDS. Checks the clock every 16 opens and sleeps while ahead of schedule; prints how many
 * opens it did, so a tracer's output can be checked against it.
 */
static int do_open_rate(double rate, double secs, const char *path)
{
	double start = now_ns(), end = start + secs * 1e9, t = start;
	long opens = 0, sleeps = 0;
	for (;;) {
		for (int i = 0; i < 16; i++) {
			int fd = open(path, O_RDONLY);
			if (fd >= 0)
				close(fd);
		}
		opens += 16;
		t = now_ns();
		if (t >= end)
			break;
		if (rate > 0) {
			double ahead = opens / rate * 1e9 - (t - start);
			if (ahead > 20000) { /* sleep in chunks of at least 20 us */
				struct timespec d = { .tv_sec = (time_t)(ahead / 1e9), .tv_nsec = (long)ahead % 1000000000L };
				nanosleep(&d, NULL);
				sleeps++;
			}
		}
	}
	double ns = t - start;
	printf("{\"op\":\"open-rate\",\"pid\":%d,\"rate\":%.0f,\"seconds\":%.3f,\"opens\":%ld,"
	       "\"elapsed_ns\":%.0f,\"achieved_rate\":%.0f,\"ns_per_iter\":%.1f,\"sleeps\":%ld}\n",
	       getpid(), rate, secs, opens, ns, opens / ns * 1e9, ns / opens, sleeps);
	return 0;
}

/* fork+exec PATH ARGS every INTERVAL_US microseconds for SECONDS (0: until killed). */
static int do_exec_loop(long interval_us, double secs, char **argv)
{
	double start = now_ns(), next = start;
	long execs = 0;
	while (secs <= 0 || now_ns() - start < secs * 1e9) {
		pid_t p = fork();
		if (p == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (p > 0) {
			waitpid(p, NULL, 0);
			execs++;
		}
		next += interval_us * 1e3;
		double wait = next - now_ns();
		if (wait > 0) {
			struct timespec d = { .tv_sec = (time_t)(wait / 1e9), .tv_nsec = (long)wait % 1000000000L };
			nanosleep(&d, NULL);
		} else {
			next = now_ns();
		}
	}
	printf("{\"op\":\"exec-loop\",\"pid\":%d,\"execs\":%ld}\n", getpid(), execs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kg-workload opens DIR | thread-exec PATH ARGS.. | memfd-exec SRC ARGV0 ARGS.. | "
				"exec PATH ARGV0 ARGS.. | exec-badutf8 DIR | whoami [ARGS..] | "
				"exec-fail PATH | open-loop N PATH | open-rate RATE SECONDS PATH | "
				"exec-loop INTERVAL_US SECONDS PATH ARGS.. | sleep SECONDS\n");
		return 2;
	}
	if (!strcmp(argv[1], "opens") && argc == 3)
		return do_opens(argv[2]);
	if (!strcmp(argv[1], "thread-exec") && argc >= 3) {
		struct thread_exec te = { .argv = &argv[2] };
		pthread_t t;
		pthread_create(&t, NULL, exec_from_thread, &te);
		pthread_join(t, NULL);
		return 1;
	}
	if (!strcmp(argv[1], "memfd-exec") && argc >= 4)
		return do_memfd_exec(argv[2], &argv[3]);
	if (!strcmp(argv[1], "exec") && argc >= 4)
		return do_exec(argv[2], &argv[3]);
	if (!strcmp(argv[1], "exec-badutf8") && argc == 3)
		return do_exec_badutf8(argv[2]);
	if (!strcmp(argv[1], "whoami"))
		return do_whoami();
	if (!strcmp(argv[1], "exec-fail") && argc == 3)
		return do_exec_fail(argv[2]);
	if (!strcmp(argv[1], "open-loop") && argc == 4)
		return do_open_loop(atol(argv[2]), argv[3]);
	if (!strcmp(argv[1], "open-rate") && argc == 5)
		return do_open_rate(atof(argv[2]), atof(argv[3]), argv[4]);
	if (!strcmp(argv[1], "exec-loop") && argc >= 5)
		return do_exec_loop(atol(argv[2]), atof(argv[3]), &argv[4]);
	if (!strcmp(argv[1], "sleep") && argc == 3) {
		sleep(atoi(argv[2]));
		return 0;
	}
	if (!strcmp(argv[1], "segv")) {
		volatile int *p = NULL;
		return *p;
	}
	fprintf(stderr, "kg-workload: bad arguments\n");
	return 2;
}
