// SPDX-License-Identifier: MIT
/*
 * tapbench [-n PAIRS] [-r ROUNDS] [-d MS] — what the tap adds to an
 * allocator call.
 *
 * Each round runs a malloc(32..95)/free loop of PAIRS pairs three ways, one
 * after the other: without the tap ("plain"), under the tap stamping with
 * clock_gettime ("monotonic") and under the tap stamping with rdtsc ("tsc",
 * where the reader allows it).  Under the tap this process plays the
 * tracer: it creates the ring (reader.c) and drains it every MS milliseconds
 * (default 1: a tracer that keeps up, the lane rewinds; 20: as the ebpf
 * engine, the lane jumps back to its start, ring.h).  The child times its own
 * loop (CLOCK_MONOTONIC) and reports ns per call; the medians over the
 * rounds are printed, and what the tap adds over plain.
 *
 * tapbench --loop PAIRS runs one loop and prints ns per call: the child,
 * and the thing to run under callgrind (the loop is the function `loop`).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probes/tap/reader.h"

#define MAX_ROUNDS 64

static long drain_ms = 1;
enum { PLAIN, MONO, TSC, NMODES };
static const char *const mode_name[NMODES] = { "plain", "monotonic", "tsc" };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *volatile sink;

static __attribute__((noinline)) void loop(long pairs)
{
	for (long i = 0; i < pairs; i++) {
		void *p = malloc(32 + (size_t)(i & 63));

		sink = p;
		free(p);
	}
}

static int child_loop(long pairs)
{
	uint64_t t0, t1;

	loop(pairs / 10 + 1);		/* warm up: lane claimed, pages in */
	t0 = now_ns();
	loop(pairs);
	t1 = now_ns();
	printf("%.2f\n", (double)(t1 - t0) / (2.0 * (double)pairs));
	return 0;
}

static void nothing(void *ctx, uint32_t pid, uint32_t tid,
		    const struct hl_tap_rec *rec)
{
	(void)ctx, (void)pid, (void)tid, (void)rec;
}

/* One run: ns per call as the child measured it, CPU of the child. */
static int run(const char *self, const char *tap, int mode, long pairs,
	       double *ns, double *cpu, double *flt)
{
	struct hl_tap_reader r = { .fd = -1 };
	struct timespec ms = { 0, drain_ms * 1000000L };
	struct rusage ru;
	char arg[32], out[64] = "";
	int pfd[2], status = 0;
	pid_t pid;
	ssize_t n;

	if (mode != PLAIN) {
		if (mode == MONO)
			setenv(HL_TAP_CLOCK_ENV, "monotonic", 1);
		else
			unsetenv(HL_TAP_CLOCK_ENV);
		if (hl_tap_create(&r, 4, HL_TAP_NRECS) < 0 || hl_tap_setenv(&r) < 0) {
			perror("tapbench: ring");
			return -1;
		}
		if (mode == TSC && !r.tsc) {
			hl_tap_destroy(&r);
			return 1;	/* no safe TSC here */
		}
	}
	if (pipe(pfd) < 0)
		return -1;
	snprintf(arg, sizeof(arg), "%ld", pairs);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		if (mode != PLAIN)
			setenv("LD_PRELOAD", tap, 1);
		execl(self, self, "--loop", arg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -1;
		if (r.hdr)
			hl_tap_drain(&r, nothing, NULL);
		nanosleep(&ms, NULL);
	}
	n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	if (r.hdr && hl_tap_drops(&r))
		fprintf(stderr, "tapbench: %s: %lu records dropped\n",
			mode_name[mode], (unsigned long)hl_tap_drops(&r));
	hl_tap_destroy(&r);
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	*ns = atof(out);
	*flt = (double)ru.ru_minflt;
	*cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return 0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	double ns[NMODES][MAX_ROUNDS], cpu[NMODES][MAX_ROUNDS];
	double flt[NMODES][MAX_ROUNDS];
	char self[PATH_MAX], dir[PATH_MAX], tap[PATH_MAX + 32];
	long pairs = 2000000;
	int rounds = 5, have[NMODES] = { 0 }, opt;
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "--loop"))
		return child_loop(atol(argv[2]));
	while ((opt = getopt(argc, argv, "n:r:d:")) != -1) {
		if (opt == 'n')
			pairs = atol(optarg);
		else if (opt == 'd')
			drain_ms = atol(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else
			goto usage;
	}
	if (pairs < 1 || rounds < 1 || rounds > MAX_ROUNDS || drain_ms < 1 ||
	    drain_ms > 1000)
		goto usage;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 1;
	self[n] = '\0';
	memcpy(dir, self, (size_t)n + 1);
	snprintf(tap, sizeof(tap), "%s/../libheaplab-tap.so", dirname(dir));
	if (access(tap, R_OK) < 0) {
		fprintf(stderr, "tapbench: no tap at %s\n", tap);
		return 1;
	}
	for (int i = 0; i < rounds; i++)
		for (int m = 0; m < NMODES; m++) {
			int rc = run(self, tap, m, pairs, &ns[m][have[m]],
				     &cpu[m][have[m]], &flt[m][have[m]]);

			if (rc < 0) {
				fprintf(stderr, "tapbench: %s run failed\n",
					mode_name[m]);
				return 1;
			}
			if (!rc)
				have[m]++;
		}
	printf("tapbench: %ld malloc/free pairs, %d rounds interleaved, "
	       "medians\n", pairs, rounds);
	printf("%-10s %10s %12s %14s %13s\n", "mode", "ns/call",
	       "tap ns/call", "child cpu s", "child faults");
	for (int m = 0; m < NMODES; m++) {
		double base = median(ns[PLAIN], have[PLAIN]);

		if (!have[m]) {
			printf("%-10s (no safe TSC here)\n", mode_name[m]);
			continue;
		}
		printf("%-10s %10.2f %12.2f %14.3f %13.0f\n", mode_name[m],
		       median(ns[m], have[m]),
		       m ? median(ns[m], have[m]) - base : 0.0,
		       median(cpu[m], have[m]), median(flt[m], have[m]));
	}
	return 0;
usage:
	fprintf(stderr, "usage: tapbench [-n PAIRS] [-r ROUNDS (<= %d)] "
		"[-d DRAIN_MS]\n", MAX_ROUNDS);
	return 2;
}
