// SPDX-License-Identifier: MIT
/*
 * xthread — blocks that change threads, for replay's tests: the main
 * thread allocates N blocks and hands every other one to a worker through
 * a pipe; the worker frees what it gets and allocates blocks of its own,
 * which the main thread frees after joining it.
 *
 *	xthread N
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2];
static void *theirs[4096];
static int n;

static void *worker(void *arg)
{
	void *p;

	(void)arg;
	for (int i = 0; read(pipefd[0], &p, sizeof(p)) == sizeof(p); i++) {
		free(p);
		theirs[i] = malloc(24 + 8 * (i % 50));
		memset(theirs[i], 1, 24);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static void *mine[4096];
	pthread_t t;

	n = argc > 1 ? atoi(argv[1]) : 0;
	if (n < 1 || n > 4096 || pipe(pipefd) || pthread_create(&t, NULL,
							       worker, NULL))
		return 2;
	for (int i = 0; i < n; i++) {
		mine[i] = malloc(16 + 16 * (i % 64));
		memset(mine[i], 2, 16);
		if (i % 2 && write(pipefd[1], &mine[i], sizeof(void *)) !=
			     sizeof(void *))
			return 3;
	}
	close(pipefd[1]);
	pthread_join(t, NULL);
	for (int i = 0; i < n / 2; i++)
		free(theirs[i]);
	for (int i = 0; i < n; i += 2)
		free(mine[i]);
	return 0;
}
