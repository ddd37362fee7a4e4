/* The pod sandbox process (the "pause" container) of the local node: holds the pod's namespaces,
 * reaps zombies (it is PID 1 of pods that share their PID namespace) and exits on SIGINT/SIGTERM.
 * Same behaviour as Kubernetes' build/pause/linux/pause.c. Built static by scripts/k8s/images.sh. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
	(void)sig;
	_exit(0);
}

static void on_chld(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("pause (kubectl-gadget local node)");
		return 0;
	}
	if (getpid() != 1) fprintf(stderr, "Warning: pause should be the first process\n");
	struct sigaction term = {.sa_handler = on_term};
	struct sigaction chld = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP};
	if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
	    sigaction(SIGCHLD, &chld, NULL) < 0) {
		perror("sigaction");
		return 1;
	}
	for (;;) pause();
}
