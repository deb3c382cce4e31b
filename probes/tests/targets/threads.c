// SPDX-License-Identifier: MIT
/*
 * threads.c [N] — N threads (default 4) that each, in turn, make a small
 * malloc, a large one (above the mmap threshold) and free both, then the
 * main thread does the same.  The turns make the run deterministic (arena
 * creation order, addresses) while the threads are all alive at once:
 * the first turn is given only once every thread (and its stack) exists.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int nthreads;
static int turn = -1;	/* -1 until every thread exists */

static void work(void)
{
	char *small = malloc(100), *big = malloc(300000);

	if (!small || !big)
		exit(3);
	small[0] = big[0] = 1;
	free(big);
	free(small);
}

static void *thread(void *arg)
{
	int me = (int)(long)arg;

	pthread_mutex_lock(&lock);
	while (turn != me)
		pthread_cond_wait(&cond, &lock);
	work();
	turn++;
	pthread_cond_broadcast(&cond);
	/* Nobody exits before all have worked: an exiting thread hands its
	 * arena on at a moment the next thread's first malloc could race. */
	while (turn != nthreads)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t t[128];

	if (n < 1 || n > 128)
		return 2;
	nthreads = n;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, thread, (void *)(long)i))
			return 1;
	pthread_mutex_lock(&lock);
	turn = 0;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	work();
	return 0;
}
