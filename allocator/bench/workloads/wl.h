/* SPDX-License-Identifier: MIT */
/*
 * wl.h — what every allocator workload shares.
 *
 * A workload is a small program run as `WORKLOAD [SCALE]` by the bench
 * runner (allocator/bench/runner.c) with an allocator preloaded. SCALE
 * (default 1) multiplies its operation counts, so the test can run it tiny.
 * A workload verifies the blocks it gets (a tag at both ends, checked before
 * free), so an allocator that hands out overlapping memory fails loudly
 * with exit 1 instead of winning the benchmark. Numbers it measures itself
 * go to stdout as "heaplab-metric NAME VALUE UNIT" lines, which the runner
 * collects; anything else on stdout is ignored.
 */
#ifndef HEAPLAB_BENCH_WL_H
#define HEAPLAB_BENCH_WL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *wl_name = "workload";

__attribute__((format(printf, 1, 2), noreturn))
static void wl_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", wl_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* argv[1], a positive number; bad input is a usage error, not a crash. */
static double wl_scale(int argc, char **argv, const char *name)
{
	char *end;
	double s;

	wl_name = name;
	if (argc < 2)
		return 1.0;
	errno = 0;
	s = strtod(argv[1], &end);
	if (argc > 2 || errno || end == argv[1] || *end || !(s > 0) || s > 1e6) {
		fprintf(stderr, "usage: %s [SCALE]   (SCALE > 0, default 1)\n",
			name);
		exit(2);
	}
	return s;
}

/* N scaled, never below LO: a tiny scale still exercises every path. */
static long wl_count(double scale, long n, long lo)
{
	double v = n * scale;

	return v < lo ? lo : (long)v;
}

/* xorshift64*: cheap and the same sequence under every allocator. */
static inline uint64_t wl_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
static inline size_t wl_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(wl_rand(s) % (hi - lo + 1));
}

/*
 * Small sizes dominate real programs: a log-uniform pick in [lo, hi] (an
 * exponent first, then a size within that power of two).
 */
static inline size_t wl_logsize(uint64_t *s, size_t lo, size_t hi)
{
	int blo = 63 - __builtin_clzll(lo), bhi = 63 - __builtin_clzll(hi);
	int b = blo + (int)(wl_rand(s) % (uint64_t)(bhi - blo + 1));
	size_t a = (size_t)1 << b, z = ((size_t)2 << b) - 1;

	if (a < lo)
		a = lo;
	if (z > hi)
		z = hi;
	return wl_range(s, a, z);
}

/*
 * The tag: the size (mixed with a key) in the first word (blocks over 8
 * bytes) and its low byte in the last byte, both written after malloc and
 * checked before free.
 */
#define WL_KEY 0x9e3779b97f4a7c15ULL

static inline void wl_tag(void *p, size_t n)
{
	unsigned char *b = p;
	uint64_t v = (uint64_t)n ^ WL_KEY;

	if (!p)
		wl_die("malloc(%zu) returned NULL", n);
	if (n > sizeof(v))
		memcpy(b, &v, sizeof(v));
	if (n)
		b[n - 1] = (unsigned char)(n * 7 + 1);
}

static inline void wl_check(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t v;

	if (n > sizeof(v)) {
		memcpy(&v, b, sizeof(v));
		if (v != ((uint64_t)n ^ WL_KEY))
			wl_die("block %p of %zu bytes: head overwritten", p, n);
	}
	if (n && b[n - 1] != (unsigned char)(n * 7 + 1))
		wl_die("block %p of %zu bytes: tail overwritten", p, n);
}

static inline void *wl_malloc(size_t n)
{
	void *p = malloc(n);

	wl_tag(p, n);
	return p;
}

static inline void wl_free(void *p, size_t n)
{
	if (!p)
		return;
	wl_check(p, n);
	free(p);
}

/* Resident set size now, from /proc/self/status (KiB). */
__attribute__((unused))
static long wl_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		wl_die("cannot open /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	if (kib < 0)
		wl_die("no VmRSS in /proc/self/status");
	return kib;
}

/* One number for the runner's metrics table. */
__attribute__((unused))
static void wl_metric(const char *name, double value, const char *unit)
{
	printf("heaplab-metric %s %.6g %s\n", name, value, unit);
	fflush(stdout);
}

#endif
