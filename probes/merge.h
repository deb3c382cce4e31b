/* SPDX-License-Identifier: MIT */
/*
 * merge.h — the ebpf engine's merge: the kernel's records and the tap's
 * calls, each thread's in time order, joined by cause and merged across
 * threads by time into the timeline (timeline.h).
 *
 * Two users, one code: the live ebpf engine (probes/ebpf/engine.c) feeds it
 * as the records arrive, and `heaplab trace -i` replays a `-f hlt` file
 * through it, which holds exactly these inputs in the order the engine took
 * them (hlt.h, HLTRACE3): the same calls in the same order give the same
 * output, byte for byte, whether joined while tracing or later.
 *
 * Inputs, per drain cycle: kernel records (hl_merge_kernel), threads gone
 * (hl_merge_gone), the tap's calls (hl_merge_call), then the cycle itself
 * (hl_merge_cycle): the time it began and which threads the tap showed
 * inside a call then, from which each thread's frontier follows (merge.c).
 */
#ifndef HEAPLAB_PROBES_MERGE_H
#define HEAPLAB_PROBES_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "probes/event.h"
#include "probes/tap/ring.h"
#include "probes/timeline.h"

/* A kernel record's type: a syscall (cause by containment) or not. */
enum { HL_MERGE_SYSCALL, HL_MERGE_OTHER };

/* A kernel record: a syscall at its entry, a process or USDT event. */
struct hl_merge_kin {
	uint8_t type;			/* HL_MERGE_SYSCALL or _OTHER */
	uint64_t key;			/* entry (syscall) or when it happened */
	struct hl_event ev;
	const char *str;		/* exec: the path (copied), or NULL */
	/* --uprobes: the call the kernel saw open at entry, or NULL */
	const struct hl_tap_open *inner;
	uint64_t outer_ts;
};

/* A thread the tap showed inside a call at a cycle's start. */
struct hl_merge_busy {
	uint32_t tid;
	uint64_t since;			/* the outermost open call's start */
};

/* The pool's blocks: the engine's staging chain takes them too. */
#define HL_MERGE_BLOCK	40960

struct hl_merge;

/* TAP: calls come from the tap, so a thread waits for its frontier;
 * without it no call can be pending. NULL when out of memory. */
struct hl_merge *hl_merge_new(struct hl_timeline *tl, int tap);
void hl_merge_free(struct hl_merge *m);

void hl_merge_kernel(struct hl_merge *m, uint32_t tid, uint32_t pid,
		     const struct hl_merge_kin *k);
/*
 * TID did nothing after AT (its exit, or the exec of its process from
 * another thread); records of TID after AT are a new thread's (the tid
 * reused). AT UINT64_MAX: not known, every record of TID is the old one's.
 */
void hl_merge_gone(struct hl_merge *m, uint32_t tid, uint64_t at);
/* A call of TID at its return (the tap's record, in ns). */
void hl_merge_call(struct hl_merge *m, uint32_t pid, uint32_t tid,
		   const struct hl_tap_rec *rec);
/*
 * One cycle: R is when it began (before its inputs were taken), BUSY the
 * threads inside a call then. Records before the lowest frontier go out;
 * FINAL: every thread is gone, everything goes.
 */
void hl_merge_cycle(struct hl_merge *m, uint64_t r,
		    const struct hl_merge_busy *busy, size_t nbusy, int final);
/* Everything waiting goes out now (the trace ends early). */
void hl_merge_out(struct hl_merge *m);
/* 0, or ENOMEM once something could not be queued. */
int hl_merge_err(const struct hl_merge *m);

/* Blocks of HL_MERGE_BLOCK bytes from the merge's pool (thread-safe). */
void *hl_merge_block_get(struct hl_merge *m);
void hl_merge_block_put(struct hl_merge *m, void *b);

#endif
