/* SPDX-License-Identifier: MIT */
/*
 * timeline.h — merges the engine's syscalls and process events with the
 * tap's allocator calls, gives each syscall its cause, numbers the events
 * and hands them to the sink.
 *
 * Cause, per thread, by containment (call enter <= syscall <= call exit):
 * when a thread stops at a syscall the engine reads the calls open on it
 * (hl_tap_open_calls) and passes the innermost.  The call's own record only
 * arrives when the call returns, so the thread's events are held back until
 * then and released in start-time order: the call first, then the syscalls
 * it caused, which name its seq.  Memory stays bounded: only events inside
 * a call that is still running are held.
 *
 * Order in the output: events of one thread are in the order they happened;
 * between threads, in the order the tracer learnt of them.
 */
#ifndef HEAPLAB_PROBES_TIMELINE_H
#define HEAPLAB_PROBES_TIMELINE_H

#include <stdint.h>

#include "probes/event.h"
#include "probes/sink.h"
#include "probes/tap/ring.h"
#include "probes/tidmap.h"

struct hl_timeline {
	struct hl_sink *sink;
	uint64_t seq;			/* last seq given out */
	int recording;			/* 0 once the trace is cut short */
	struct hl_tidmap threads;	/* tid -> struct tl_thread, while holding */
};

void hl_tl_init(struct hl_timeline *tl, struct hl_sink *sink);
void hl_tl_fini(struct hl_timeline *tl);

/*
 * A complete syscall event.  INNER is the innermost allocator call open on
 * its thread when it entered (NULL: none) and OUTER_TS the enter time of the
 * outermost one; ev->cause is already LOADER or TAP when the engine knew.
 */
void hl_tl_syscall(struct hl_timeline *tl, struct hl_event *ev,
		   const struct hl_tap_open *inner, uint64_t outer_ts);
/* A completed call from the tap ring (an hl_tap_fn). */
void hl_tl_call(void *tl, uint32_t pid, uint32_t tid,
		const struct hl_tap_rec *rec);
/* fork, exec, exit; STR is the side string (exec: the path) or NULL. */
void hl_tl_process(struct hl_timeline *tl, struct hl_event *ev,
		   const char *str);
/* TID is gone: what it held goes out; calls that never returned are
 * written as unfinished. */
void hl_tl_thread_gone(struct hl_timeline *tl, uint32_t tid);
/* Everything held goes out (end of trace). */
void hl_tl_flush(struct hl_timeline *tl);

#endif
