// SPDX-License-Identifier: Apache-2.0
/*
 * Benchmark workload for advise network-policy: a connection-heavy loop on loopback.
 *
 *   netpol-connload tcp SECONDS [PORT]   connect + close (RST) to an in-process listener
 *   netpol-connload udp SECONDS [PORT]   unconnected sendto to an in-process receiver
 *
 * Prints {"mode":..,"ops":N,"seconds":S,"per_second":R,"cpu_ns_per_op":C} on stdout (C: user +
 * system CPU time of the whole process, both ends of the loop, per operation).
 * Build: cc -O2 -pthread -o netpol-connload netpol-connload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile int done;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg;
	while (!done) {
		int c = accept(lfd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

static void *receiver(void *arg)
{
	int fd = *(int *)arg;
	char buf[64];
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!done)
		recv(fd, buf, sizeof(buf), 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s tcp|udp SECONDS [PORT]\n", argv[0]);
		return 2;
	}
	int tcp = strcmp(argv[1], "tcp") == 0;
	double seconds = atof(argv[2]);
	int port = argc > 3 ? atoi(argv[3]) : 18600 + getpid() % 1000;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, sfd;
	long ops = 0;
	pthread_t t;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	sfd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	setsockopt(sfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sfd, (struct sockaddr *)&a, sizeof(a)) < 0 || (tcp && listen(sfd, 4096) < 0)) {
		perror("bind/listen");
		return 1;
	}
	pthread_create(&t, NULL, tcp ? acceptor : receiver, &sfd);

	double start = now(), end = start + seconds;
	if (tcp) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		while ((ops & 63) || now() < end) {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0)
				ops++;
			close(c);
		}
	} else {
		int c = socket(AF_INET, SOCK_DGRAM, 0);
		while ((ops & 1023) || now() < end) {
			if (sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1)
				ops++;
		}
		close(c);
	}
	double elapsed = now() - start;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	done = 1;
	shutdown(sfd, SHUT_RDWR);
	close(sfd);
	printf("{\"mode\":\"%s\",\"ops\":%ld,\"seconds\":%.3f,\"per_second\":%.0f,\"cpu_ns_per_op\":%.0f}\n",
	       argv[1], ops, elapsed, ops / elapsed, cpu * 1e9 / ops);
	return 0;
}
