// SPDX-License-Identifier: MIT
/*
 * forkexec.c [fork|vfork|thread|threadcalls|leaf|leafcalls] — the parent
 * mallocs, then starts a child with fork (or vfork) that execs this program
 * again as "leaf"; the leaf mallocs 200000 bytes (an mmap) and exits 5.
 * The parent waits and exits with 0 when the child's status was 5.
 * "thread": a second thread (not the leader) execs the leaf, which replaces
 * the whole process and so exits 5 itself.  "threadcalls": the same, and
 * the leaf ("leafcalls") first makes 200000 malloc(100)/free pairs at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int leaf(void)
{
	char *p = malloc(200000);

	if (!p)
		return 1;
	p[0] = 1;
	free(p);
	return 5;
}

static char *self;
static void *volatile keep;

static void *exec_leaf(void *arg)
{
	char *args[] = { self, arg ? "leafcalls" : "leaf", NULL };

	keep = malloc(300);
	free(keep);
	execv("/proc/self/exe", args);
	_exit(127);
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "fork";
	char *args[] = { argv[0], "leaf", NULL };
	static char *p;
	pid_t pid;
	int st;

	if (!strcmp(how, "leaf"))
		return leaf();
	if (!strcmp(how, "leafcalls")) {
		for (int i = 0; i < 200000; i++) {
			keep = malloc(100);
			free(keep);
		}
		return leaf();
	}
	if (!strcmp(how, "thread") || !strcmp(how, "threadcalls")) {
		pthread_t t;

		self = argv[0];
		if (pthread_create(&t, NULL, exec_leaf,
				   strcmp(how, "thread") ? (void *)1 : NULL))
			return 1;
		pthread_join(t, NULL);	/* never returns: the exec ends us */
		return 1;
	}
	p = malloc(1000);
	if (!p)
		return 1;
	pid = !strcmp(how, "vfork") ? vfork() : fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execv("/proc/self/exe", args);
		_exit(127);
	}
	free(p);
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}
