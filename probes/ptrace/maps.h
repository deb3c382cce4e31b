/* SPDX-License-Identifier: MIT */
/*
 * maps.h — which code made a syscall: the dynamic loader, heaplab's tap, or
 * anything else, from the user instruction pointer.
 *
 * Per process (one per exec image) a few address ranges are cached with
 * their class. The loader's code is known without /proc/PID/maps: AT_BASE
 * (/proc/PID/auxv) is where the kernel put it, and its ELF program headers,
 * read there in the process's memory, say which pages are its code. Without
 * the tap that is all a process costs; with it, the first syscall from
 * outside the loader reads /proc/PID/maps once for the tap's ranges. Once
 * every loader and tap range is cached, an instruction pointer outside them
 * is "other" without looking further. A loader or tap range unmapped or
 * replaced (hl_maps_forget) ends that: then a miss reads /proc/PID/maps
 * for the mapping holding the pointer and compares its path with the
 * loader's and the tap's.
 */
#ifndef HEAPLAB_PROBES_PTRACE_MAPS_H
#define HEAPLAB_PROBES_PTRACE_MAPS_H

#include <stdint.h>
#include <sys/types.h>

enum hl_code { HL_CODE_OTHER, HL_CODE_LOADER, HL_CODE_TAP };

#define HL_MAPS_CACHE 16

struct hl_maps {
	pid_t pid;
	uint8_t seeded;			/* AT_BASE and the loader's code looked up */
	uint8_t loader_cached;		/* all the loader's code is in r[] */
	uint8_t tap_cached;		/* all the tap's code is in r[] */
	uint8_t loader_known;		/* loader[] below is filled in */
	uint64_t base;			/* AT_BASE, 0 for a static image */
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
