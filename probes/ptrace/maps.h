/* SPDX-License-Identifier: MIT */
/*
 * maps.h — which code made a syscall: the dynamic loader, heaplab's tap, or
 * anything else, from the user instruction pointer and /proc/PID/maps.
 *
 * Per process (one per exec image) a few address ranges are cached with
 * their class; /proc/PID/maps is read again only for an instruction pointer
 * outside them, so a process costs one read per code mapping that makes
 * memory syscalls (ld.so, libc, the tap, the allocator).
 */
#ifndef HEAPLAB_PROBES_PTRACE_MAPS_H
#define HEAPLAB_PROBES_PTRACE_MAPS_H

#include <stdint.h>
#include <sys/types.h>

enum hl_code { HL_CODE_OTHER, HL_CODE_LOADER, HL_CODE_TAP };

#define HL_MAPS_CACHE 16

struct hl_maps {
	pid_t pid;
	int loader_known;
	char loader[512];		/* ld.so's path, "" for a static image */
	unsigned n, next;
	struct {
		uint64_t start, end;
		uint8_t code;		/* enum hl_code */
	} r[HL_MAPS_CACHE];
};

/* A new image in PID (after exec): forget everything. */
void hl_maps_reset(struct hl_maps *m, pid_t pid);
/* The class of the code at IP. TAP_PATH is the tap's real path (or NULL). */
enum hl_code hl_maps_classify(struct hl_maps *m, uint64_t ip,
			      const char *tap_path);
/* [addr, addr+len) was unmapped or replaced: drop overlapping ranges. */
void hl_maps_forget(struct hl_maps *m, uint64_t addr, uint64_t len);

#endif
