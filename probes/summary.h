/* SPDX-License-Identifier: MIT */
/*
 * summary.h — `heaplab trace -c`, like `strace -c`: instead of the events,
 * a table of calls per kind and per cause, bytes mapped and unmapped, how
 * far the program break moved, and what was dropped.
 */
#ifndef HEAPLAB_PROBES_SUMMARY_H
#define HEAPLAB_PROBES_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

#include "probes/event.h"
#include "probes/sink.h"
#include "probes/tidmap.h"

/* Columns of the cause table: none, loader, tap, then each call kind. */
#define HL_SUM_CAUSE_CALL 3
#define HL_SUM_CAUSES (HL_SUM_CAUSE_CALL + HL_EV_NKINDS)

struct hl_summary {
	uint64_t events;
	uint64_t count[HL_EV_NKINDS];
	uint64_t errors[HL_EV_NKINDS];		/* syscalls that failed */
	uint64_t unfinished[HL_EV_NKINDS];
	uint64_t by_cause[HL_EV_NKINDS][HL_SUM_CAUSES];
	uint64_t ns[HL_EV_NKINDS];		/* time inside, summed */
	uint64_t requested;			/* bytes asked of the allocator */
	uint64_t mapped, unmapped;		/* mmap/mremap, munmap/mremap */
	uint64_t tap_mapped;			/* heaplab's own, apart */
	uint64_t brk_grew, brk_shrank;		/* all processes' breaks */
	uint64_t processes, threads, execs;
	struct hl_tidmap brk;			/* pid -> current break */
};

void hl_summary_init(struct hl_summary *s);
/* One event, as hl_sink_event() takes it. */
void hl_summary_event(struct hl_summary *s, const struct hl_event *ev,
		      const char *str, const struct hl_event *cause);
/* Prints the tables, with the trace's end (engine, drops, status). */
void hl_summary_print(const struct hl_summary *s, FILE *out,
		      const struct hl_trace_end *e);
void hl_summary_fini(struct hl_summary *s);

#endif
