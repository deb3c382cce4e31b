// SPDX-License-Identifier: MIT
/*
 * spin.c — targets that end badly or late.
 *   spin segv            mallocs, then dereferences NULL (SIGSEGV)
 *   spin loop SECS N     N threads malloc/free in a loop for SECS seconds
 *                        (0: forever), then exit 0; SIGINT is ignored, so
 *                        only the tracer's Ctrl-C handling is in play
 *   spin calls COUNT     COUNT malloc/free pairs of 16..1024 bytes, exit 0
 *   spin churn COUNT     the same, after 3000 an mmap+munmap every 100 pairs
 *   spin hog COUNT       a thread burning each CPU (pinned there) while the
 *                        main thread makes COUNT mmap+munmap pairs of 8 KiB
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double secs;
/* The compiler must not drop a malloc/free pair whose result is unused. */
static void *volatile keep;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *loop(void *arg)
{
	double end = now() + secs;
	unsigned i = 0;

	(void)arg;
	while (!secs || now() < end) {
		void *p = malloc(16 + (i++ % 64) * 1000);

		keep = p;
		free(p);
	}
	return NULL;
}

static atomic_int hogs_stop;

/* Burns its CPU (arg) until told to stop: no syscall, no call. */
static void *hog(void *arg)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET((int)(long)arg, &one);
	sched_setaffinity(0, sizeof(one), &one);
	while (!atomic_load_explicit(&hogs_stop, memory_order_relaxed))
		;
	return NULL;
}

static int hogs(long n)
{
	pthread_t t[64];
	cpu_set_t set;
	int nt = 0;

	sched_getaffinity(0, sizeof(set), &set);
	for (int cpu = 0; cpu < CPU_SETSIZE && nt < 64; cpu++)
		if (CPU_ISSET(cpu, &set) &&
		    !pthread_create(&t[nt], NULL, hog, (void *)(long)cpu))
			nt++;
	for (long i = 0; i < n; i++)
		munmap(mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0), 8192);
	atomic_store(&hogs_stop, 1);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "segv")) {
		volatile int *null = NULL;
		char *p = malloc(100);

		p[0] = 1;
		return *null + p[0];
	}
	if (argc > 3 && !strcmp(argv[1], "loop")) {
		int n = atoi(argv[3]);
		pthread_t t[16];

		secs = atof(argv[2]);
		signal(SIGINT, SIG_IGN);
		if (n < 1 || n > 16)
			return 2;
		for (int i = 1; i < n; i++)
			pthread_create(&t[i], NULL, loop, NULL);
		loop(NULL);
		for (int i = 1; i < n; i++)
			pthread_join(t[i], NULL);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "calls")) {
		long n = atol(argv[2]);

		for (long i = 0; i < n; i++) {
			keep = malloc(16 + (size_t)(i % 64) * 16);
			free(keep);
		}
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "churn")) {
		long n = atol(argv[2]);

		/* After 3000 pairs in one go, a memory syscall every 100 pairs:
		 * the tracer drains the lane there, so the tap finds it empty
		 * and rewinds (ring.h), leaving the first burst's records in
		 * the slots it skips. */
		for (long i = 0; i < n; i++) {
			keep = malloc(16 + (size_t)(i % 64) * 16);
			free(keep);
			if (i >= 3000 && i % 100 == 99)
				munmap(mmap(NULL, 4096, PROT_READ,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
				       4096);
		}
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "hog"))
		return hogs(atol(argv[2]));
	fprintf(stderr, "usage: spin segv | loop SECS THREADS | calls COUNT | churn COUNT | hog COUNT\n");
	return 2;
}
