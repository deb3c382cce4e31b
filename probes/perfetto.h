/* SPDX-License-Identifier: MIT */
/*
 * perfetto.h — the `-f perfetto` sink: Chrome Trace Event JSON, object form
 * ({"traceEvents": [...]}), which ui.perfetto.dev and chrome://tracing open.
 *
 *   allocator calls      complete slices ("X") on their thread
 *   syscalls             slices nested inside the call that caused them,
 *                        with a flow arrow from the call to each syscall
 *   allocator internals  thread instants (USDT: heap grown, trim, ...)
 *   fork, exec, exit     process instants
 *   counters             per process: the program break above its start,
 *                        and the bytes mapped by mmap/mremap (less munmap)
 *   names                process_name/thread_name metadata from exec
 *
 * Timestamps are CLOCK_MONOTONIC in microseconds, with three decimals:
 * nanoseconds survive exactly.
 */
#ifndef HEAPLAB_PROBES_PERFETTO_H
#define HEAPLAB_PROBES_PERFETTO_H

#include "probes/event.h"
#include "probes/sink.h"

struct hl_perfetto;

/* Writes to FD (not closed by hl_perfetto_close). NULL if out of memory. */
struct hl_perfetto *hl_perfetto_open(int fd);
/* One event, as hl_sink_event() takes it. */
void hl_perfetto_event(struct hl_perfetto *p, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause);
/* The trace's end: goes into "otherData", then the JSON is closed. */
void hl_perfetto_end(struct hl_perfetto *p, const struct hl_trace_end *e);
/* Frees P; returns 0 or the errno of the first failed write. */
int hl_perfetto_close(struct hl_perfetto *p);

#endif
