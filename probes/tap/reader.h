/* SPDX-License-Identifier: MIT */
/*
 * reader.h — the tracer's side of the tap ring (ring.h): create it, hand it
 * to the target, drain it, read the calls open on a stopped thread.
 */
#ifndef HEAPLAB_PROBES_TAP_READER_H
#define HEAPLAB_PROBES_TAP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "probes/tap/ring.h"

#define HL_TAP_CACHE 256
/* Environment: "monotonic" makes the tap stamp with clock_gettime even
 * where the TSC would do (the fallback, for comparison and tests). */
#define HL_TAP_CLOCK_ENV "HEAPLAB_TAP_CLOCK"

/*
 * A calibration point: a TSC reading and the CLOCK_MONOTONIC time read at
 * that moment.  Between two anchors a stamp converts by linear
 * interpolation; `mult` is the segment's slope to the next anchor, ns per
 * tick in 32.32 fixed point.
 */
struct hl_tap_anchor {
	uint64_t tsc, ns, mult;
};

struct hl_tap_reader {
	int fd;				/* the memfd, inherited by the target */
	struct hl_tap_hdr *hdr;
	uint64_t freed_drops;		/* drops counted on lanes since freed */
	uint16_t lane_of[HL_TAP_CACHE];	/* tid % 256 -> lane + 1, a hint */
	int tsc;			/* stamps are TSC ticks (ring.h) */
	/* Anchors in increasing order, only ever appended (past the newest
	 * stamp converted), so a stamp converts to the same ns every time. */
	struct hl_tap_anchor *anchor;
	size_t nanchor, capanchor, prune_at;
	size_t seg;			/* the segment last used, a hint */
	/* That segment's values when it is closed (an anchor after it), for
	 * the drain's inline conversion; span 0: none. A closed segment
	 * never changes (pruning moves anchors, not their values). */
	uint64_t seg_tsc, seg_span, seg_ns, seg_mult;
	uint64_t nanchors_taken;	/* for the tests and benchmarks */
};

/* Called for each record drained: its thread's pid and tid, and the call. */
typedef void (*hl_tap_fn)(void *ctx, uint32_t pid, uint32_t tid,
			  const struct hl_tap_rec *rec);

/*
 * A memfd of NLANES lanes of NRECS records (a power of two), not
 * close-on-exec, so a child inherits it. Returns 0 or -1 with errno set.
 * The tap stamps with the TSC where that is safe (hl_tap_tsc_usable) and
 * $HEAPLAB_TAP_CLOCK is not "monotonic"; otherwise with clock_gettime.
 */
int hl_tap_create(struct hl_tap_reader *r, uint32_t nlanes, uint32_t nrecs);
void hl_tap_destroy(struct hl_tap_reader *r);
/* "HEAPLAB_TAP_FD" value for the child's environment. */
int hl_tap_setenv(const struct hl_tap_reader *r);

/* Every published record of every lane; returns how many. */
size_t hl_tap_drain(struct hl_tap_reader *r, hl_tap_fn fn, void *ctx);
/* Only the lanes TID owns. */
size_t hl_tap_drain_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx);
/*
 * The calls open on TID, which must be stopped: returns the depth (0: none)
 * and fills *inner with the innermost call, *outer_ts with the outermost
 * call's enter time.
 */
unsigned hl_tap_open_calls(struct hl_tap_reader *r, uint32_t tid,
			   struct hl_tap_open *inner, uint64_t *outer_ts);
/* TID has exited or exec'd: drain its lanes, then free them. */
void hl_tap_release_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx);
/* Why the TSC can or cannot stand in for CLOCK_MONOTONIC here: NULL when it
 * can, else a short reason (not x86-64, clocksource, CPU flags). */
const char *hl_tap_tsc_unusable(void);
/* The ring's stamps: "tsc" or "monotonic". */
const char *hl_tap_clock_name(const struct hl_tap_reader *r);
/* A stamp of the ring's clock in CLOCK_MONOTONIC ns (records handed out are
 * converted already; this is for tests). */
uint64_t hl_tap_stamp_ns(struct hl_tap_reader *r, uint64_t stamp);
/* Records dropped so far (full lanes, threads without a lane). */
uint64_t hl_tap_drops(const struct hl_tap_reader *r);
/* Process images that attached to the ring. */
uint64_t hl_tap_attached(const struct hl_tap_reader *r);

#endif
