/* SPDX-License-Identifier: MIT */
/*
 * ring.h — the shared-memory ring between the tap (libheaplab-tap.so,
 * preloaded into every traced process) and the tracer that drains it.
 *
 * The tracer creates one memfd, lays it out as below and passes its fd
 * number to the targets in $HEAPLAB_TAP_FD (the fd is inherited across fork
 * and exec).  Every process of the traced tree maps the same file, so one
 * ring serves them all; records need no pid because each lane belongs to one
 * thread at a time.
 *
 *	+--------------------+ 0
 *	| struct hl_tap_hdr  |   magic, geometry, drops without a lane
 *	+--------------------+ HL_TAP_PAGE
 *	| lane 0 header      |   owner tid, pid, open calls, head, tail
 *	| lane 0 records     |   nrecs x struct hl_tap_rec (64 bytes)
 *	+--------------------+
 *	| lane 1 ...         |
 *
 * A lane is single-producer (its owning thread) single-consumer (the
 * tracer): the producer writes a record at head and then publishes head+1;
 * a full lane drops the record and counts it, so a thread never waits for
 * the tracer and a thread killed half-way through a write loses only that
 * record.  A thread claims a free lane by CAS on owner at its first call;
 * the tracer frees lanes when their thread exits or execs.
 *
 * Rewind: a producer that finds its lane empty (tail == head) at least
 * HL_TAP_REWIND records into a lap moves both indices to the start of the
 * next lap (CAS on tail, then the record, then head), so that a tracer that
 * keeps up keeps the lane in its first few pages: they stay mapped and in
 * cache, where marching through 2 Mi fresh records costs a page fault per
 * 64 calls, more than the rest of the call.  The full lane is still there
 * for a burst.  The consumer only writes tail after it saw head > tail and
 * the producer only rewinds when tail == head, so the two never race; a
 * consumer that loads head before a rewind and tail after it finds
 * tail > head, which means empty.
 *
 * One record per completed call (enter time, exit time, args, result).  The
 * calls still open on a thread (at most HL_TAP_DEPTH nested) are kept in
 * its lane header: when the thread stops at a syscall the tracer reads them
 * there, which is how a syscall finds the call that caused it.
 *
 * Clock: the tracer chooses it in the header before the target starts
 * (hdr.clock).  HL_TAP_CLOCK_MONO: every stamp is CLOCK_MONOTONIC ns, from
 * clock_gettime.  HL_TAP_CLOCK_TSC (x86-64, clocksource tsc, constant and
 * nonstop TSC): the stamps in records and in open[].stamp are raw `rdtsc`
 * ticks, under half the cost of the vDSO's clock_gettime, and the reader
 * turns them into CLOCK_MONOTONIC ns by interpolating between anchors,
 * (tsc, ns) pairs it reads itself (reader.c).  Either way the records the
 * reader hands out carry ns.  An open call in the lane header carries only
 * its stamp (open[].stamp; open[].ts_ns is not written there): a tracer
 * converts it (hl_tap_stamp_ns), as hl_tap_open_calls does.
 *
 * Open calls' kind and args: the ptrace engine reads them at a syscall
 * stop (the cause); the ebpf engine joins by time and needs only depth and
 * open[0].stamp.  hdr.open_args, set before the target starts, says whether
 * the tap writes them: five stores a call saved when nobody reads them.
 */
#ifndef HEAPLAB_PROBES_TAP_RING_H
#define HEAPLAB_PROBES_TAP_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define HL_TAP_ENV	"HEAPLAB_TAP_FD"
#define HL_TAP_MAGIC	0x3170617462616c68ULL	/* "hlabtap1" */
#define HL_TAP_VERSION	3
#define HL_TAP_PAGE	4096UL
#define HL_TAP_DEPTH	4
#define HL_TAP_ARGS	4
/* Default geometry: 64 lanes of 2 Mi records (128 MiB each), enough for a
 * burst of millions of calls while the tracer drains. The memfd
 * is sparse: a lane costs memory only as far as its thread has written. */
#define HL_TAP_LANES	64
#define HL_TAP_NRECS	(2048u * 1024)
/* Records into a lap before an empty lane rewinds (64 KiB of records). */
#define HL_TAP_REWIND	1024u

/* hl_tap_hdr.clock: what the tap's stamps count. */
enum hl_tap_clock {
	HL_TAP_CLOCK_MONO = 0,		/* CLOCK_MONOTONIC ns */
	HL_TAP_CLOCK_TSC = 1,		/* rdtsc ticks */
};

struct hl_tap_rec {
	uint64_t ts_ns;			/* call enter (in the ring: a stamp) */
	uint64_t end_ns;		/* call exit (in the ring: a stamp) */
	uint16_t kind;			/* enum hl_kind */
	uint16_t depth;			/* calls open around it (0: outermost) */
	uint32_t _pad32;
	uint64_t args[HL_TAP_ARGS];
	int64_t ret;
};

struct hl_tap_open {
	uint64_t ts_ns;			/* ns, when handed out; not in the lane */
	uint32_t kind;
	uint32_t _pad;
	uint64_t args[HL_TAP_ARGS];
	uint64_t stamp;			/* in the lane: enter, a stamp */
	uint64_t _pad2;			/* 64 bytes: the tap indexes by shift */
};

struct hl_tap_lane {
	_Atomic uint32_t owner;		/* tid, 0 when free */
	uint32_t pid;
	volatile uint32_t depth;	/* calls open (may exceed HL_TAP_DEPTH) */
	uint32_t _pad;
	struct hl_tap_open open[HL_TAP_DEPTH];
	volatile uint64_t drops;	/* written by the owner only */
	alignas(64) _Atomic uint64_t head;	/* producer */
	alignas(64) _Atomic uint64_t tail;	/* consumer */
};

struct hl_tap_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t nlanes;
	uint32_t nrecs;			/* per lane, a power of two */
	uint32_t _pad;
	uint64_t lane_bytes;		/* header page + records */
	uint64_t total_bytes;
	_Atomic uint64_t nolane_drops;	/* calls of threads without a lane */
	_Atomic uint64_t attached;	/* process images that mapped the ring */
	uint32_t clock;			/* enum hl_tap_clock, set before start */
	uint32_t open_args;		/* open calls carry kind and args (1) */
};

static inline uint64_t hl_tap_lane_bytes(uint32_t nrecs)
{
	return HL_TAP_PAGE + (uint64_t)nrecs * sizeof(struct hl_tap_rec);
}

static inline uint64_t hl_tap_total_bytes(uint32_t nlanes, uint32_t nrecs)
{
	return HL_TAP_PAGE + (uint64_t)nlanes * hl_tap_lane_bytes(nrecs);
}

static inline struct hl_tap_lane *hl_tap_lane(struct hl_tap_hdr *h, uint32_t i)
{
	return (struct hl_tap_lane *)((char *)h + HL_TAP_PAGE +
				      (uint64_t)i * h->lane_bytes);
}

static inline struct hl_tap_rec *hl_tap_recs(struct hl_tap_lane *l)
{
	return (struct hl_tap_rec *)((char *)l + HL_TAP_PAGE);
}

/* Lays out a fresh ring in MEM (zeroed, total_bytes long). */
static inline void hl_tap_init(struct hl_tap_hdr *h, uint32_t nlanes,
			       uint32_t nrecs)
{
	h->version = HL_TAP_VERSION;
	h->nlanes = nlanes;
	h->nrecs = nrecs;
	h->lane_bytes = hl_tap_lane_bytes(nrecs);
	h->total_bytes = hl_tap_total_bytes(nlanes, nrecs);
	atomic_store(&h->nolane_drops, 0);
	atomic_store(&h->attached, 0);
	h->clock = HL_TAP_CLOCK_MONO;
	h->open_args = 1;
	atomic_thread_fence(memory_order_release);
	h->magic = HL_TAP_MAGIC;
}

#endif
