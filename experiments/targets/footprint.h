/* SPDX-License-Identifier: MIT */
/*
 * footprint.h — what the phase targets share: "KEY VALUE" output written
 * with write(2), the teaching allocators' exported counters found with
 * dlsym, and an allocator's footprint measured from the outside.
 *
 * Nothing here may allocate: the heap under study belongs to the allocator
 * preloaded into the target, and stdio would take its buffers from it.
 *
 * The footprint from the outside, for allocators that export no counters:
 * how far the program break has moved plus the bytes of anonymous mappings
 * that are readable and writable (PROT_NONE reservations, as glibc's arena
 * heaps and jemalloc keep, are address space, not memory), both counted
 * from a baseline taken before the workload. /proc/self/maps is read with
 * open/read into a stack buffer.
 */
#ifndef HEAPLAB_TARGET_FOOTPRINT_H
#define HEAPLAB_TARGET_FOOTPRINT_H

#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "allocator/phases/phase.h"

static inline void out_line(const char *line, int n)
{
	if (n > 0 && write(STDOUT_FILENO, line, n) != n)
		_exit(3);
}

static inline void report(const char *key, long long value)
{
	char line[128];

	out_line(line, snprintf(line, sizeof(line), "%s %lld\n", key, value));
}

static inline void report2(const char *key, long long a, long long b)
{
	char line[128];

	out_line(line, snprintf(line, sizeof(line), "%s %lld %lld\n", key,
				a, b));
}

/* The teaching allocators' exports; NULL under any other allocator. */
static heaplab_phase_stats_fn *phase_stats;
static heaplab_phase_walk_fn *phase_walk;

/* Looked up before the workload: a failed dlsym allocates its message. */
static inline void phase_lookup(void)
{
	phase_stats = (heaplab_phase_stats_fn *)dlsym(RTLD_DEFAULT,
						      "heaplab_phase_stats");
	phase_walk = (heaplab_phase_walk_fn *)dlsym(RTLD_DEFAULT,
						    "heaplab_phase_walk");
}

/* Bytes in rw anonymous mappings (not the stack, not [heap]). */
static inline long long anon_rw_bytes(void)
{
	char buf[8192], line[512];
	long long total = 0;
	size_t ll = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			unsigned long lo, hi, off, ino;
			char perms[8];
			int path = 0;

			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (sscanf(line, "%lx-%lx %7s %lx %*s %lu %n", &lo, &hi,
				   perms, &off, &ino, &path) < 5)
				continue;
			if (ino || perms[0] != 'r' || perms[1] != 'w')
				continue;
			if (path && line[path] && line[path] != ' ')
				continue;	/* [heap], [stack], [vvar]... */
			total += hi - lo;
		}
	}
	close(fd);
	return total;
}

struct footprint {
	uintptr_t brk0;
	long long anon0;
	long long peak;
	int samples;
};

static inline void footprint_start(struct footprint *f)
{
	f->brk0 = (uintptr_t)sbrk(0);
	f->anon0 = anon_rw_bytes();
	f->peak = 0;
	f->samples = 0;
}

/* The footprint now (and its peak so far) above the baseline. */
static inline long long footprint_sample(struct footprint *f)
{
	long long now = (long long)((uintptr_t)sbrk(0) - f->brk0) +
			anon_rw_bytes() - f->anon0;

	f->samples++;
	if (now > f->peak)
		f->peak = now;
	return now;
}

#endif
