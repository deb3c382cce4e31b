// SPDX-License-Identifier: MIT
/*
 * mkring [-b NRECS] [-t] CMD [ARGS] — runs CMD with an empty tap ring on fd 3,
 * a memfd laid out as `heaplab trace` lays out its own, so that a target
 * run under strace (the tests' reference) maps the same kind of ring as
 * under heaplab and so makes exactly the same syscalls at the same
 * addresses.  Sets HEAPLAB_TAP_FD=3 for CMD.  -t: the ring asks for TSC
 * stamps (no reader here converts them: for counting the tap's
 * instructions under callgrind).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probes/tap/ring.h"

int main(int argc, char **argv)
{
	uint32_t nrecs = HL_TAP_NRECS;
	uint64_t size;
	void *p;
	int fd, i = 1, tsc = 0;

	if (argc > i + 1 && !strcmp(argv[i], "-b")) {
		nrecs = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		i += 2;
	}
	if (argc > i && !strcmp(argv[i], "-t")) {
		tsc = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: mkring [-b NRECS] [-t] CMD [ARGS]\n");
		return 2;
	}
	size = hl_tap_total_bytes(HL_TAP_LANES, nrecs);
	fd = memfd_create("heaplab-tap", 0);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		perror("memfd");
		return 1;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	hl_tap_init(p, HL_TAP_LANES, nrecs);
	if (tsc)
		((struct hl_tap_hdr *)p)->clock = HL_TAP_CLOCK_TSC;
	munmap(p, size);
	if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0)) {
		perror("dup2");
		return 1;
	}
	setenv("HEAPLAB_TAP_FD", "3", 1);
	execvp(argv[i], argv + i);
	perror(argv[i]);
	return 127;
}
