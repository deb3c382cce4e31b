// SPDX-License-Identifier: MIT
/*
 * clockcheck OUT [PAIRS] — reads CLOCK_MONOTONIC around allocator calls, so
 * that a test can check the tap's stamps against it: for pair i,
 *	t0 = clock; p = malloc(1000 + i); t1 = clock; free(p); t2 = clock
 * and the malloc's enter and exit must lie in [t0, t1], the free's in
 * [t1, t2].  Every 64 pairs it sleeps 2 ms, so the pairs spread over many
 * of the tracer's drains and anchors.  Writes to OUT the ring's clock as
 * the tap reads it ("clock tsc" or "clock monotonic", from the header
 * behind $HEAPLAB_TAP_FD) and one line "i p t0 t1 t2" per pair, by write(2)
 * at the end: no stdio, whose buffers would be mallocs of their own.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probes/tap/ring.h"

#define MAX_PAIRS 20000

static uint64_t t[MAX_PAIRS][3];
static uintptr_t ptr[MAX_PAIRS];
static char line[128];

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *ring_clock(void)
{
	const char *s = getenv(HL_TAP_ENV);
	struct hl_tap_hdr h;

	if (!s || pread(atoi(s), &h, sizeof(h), 0) != sizeof(h) ||
	    h.magic != HL_TAP_MAGIC)
		return "none";
	return h.clock == HL_TAP_CLOCK_TSC ? "tsc" : "monotonic";
}

static int put(int fd, const char *s)
{
	size_t n = strlen(s);

	return write(fd, s, n) == (ssize_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct timespec nap = { 0, 2000000 };
	int n = argc > 2 ? atoi(argv[2]) : 2000, fd, rc = 0;

	if (argc < 2 || n < 1 || n > MAX_PAIRS) {
		fprintf(stderr, "usage: clockcheck OUT [PAIRS <= %d]\n",
			MAX_PAIRS);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		void *p;

		t[i][0] = mono();
		p = malloc(1000 + (size_t)i);
		t[i][1] = mono();
		ptr[i] = (uintptr_t)p;
		free(p);
		t[i][2] = mono();
		if (i % 64 == 63)
			nanosleep(&nap, NULL);
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	snprintf(line, sizeof(line), "clock %s\n", ring_clock());
	rc |= put(fd, line);
	for (int i = 0; i < n && !rc; i++) {
		snprintf(line, sizeof(line), "%d %lu %lu %lu %lu\n", i,
			 (unsigned long)ptr[i], (unsigned long)t[i][0],
			 (unsigned long)t[i][1], (unsigned long)t[i][2]);
		rc |= put(fd, line);
	}
	if (close(fd) < 0 || rc) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
