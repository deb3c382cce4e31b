// SPDX-License-Identifier: MIT
/*
 * reader.c — create, drain and free the tap ring (layout in ring.h), and
 * turn the tap's TSC stamps into CLOCK_MONOTONIC ns.
 *
 * The conversion: the reader reads pairs (tsc, CLOCK_MONOTONIC) itself,
 * "anchors", each the tightest of a few tries of lfence;rdtsc,
 * clock_gettime, rdtscp (the tsc taken as the middle of the bracket), and
 * interpolates a stamp linearly between the two anchors around it.  An
 * anchor is taken at every full drain and whenever a stamp is newer than
 * the newest anchor, so every stamp lies between two anchors read at most
 * one drain apart (the ebpf engine's drain thread passes every 100 us to
 * 1 ms; ptrace drains at each syscall stop).
 * Over such a span CLOCK_MONOTONIC is a straight line in the TSC even
 * while NTP slews it (the kernel changes its slope in small steps, at most
 * once a tick), so the error is the anchors' own, half a bracket: ~20 ns.
 * Anchors are only ever appended, so a stamp converts to the same ns each
 * time it is read: the call open at a syscall stop (hl_tap_open_calls) and
 * the call's record drained later agree exactly, which is how the timeline
 * matches them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __x86_64__
#include <x86intrin.h>
#endif

#include "probes/tap/reader.h"

/* Anchors kept before old ones are pruned, and the age always kept; the
 * least time between two anchors a drain takes. */
#define ANCHOR_PRUNE	4096
#define ANCHOR_KEEP_NS	100000000ull
#define ANCHOR_GAP_NS	10000ull
#define ANCHOR_TRIES	4
#define ANCHOR_WIDE	2048		/* ticks: ~0.8 us at 2.6 GHz */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the clock ---- */

/*
 * The first line of PATH that starts with PREFIX ("" for any) into LINE;
 * 0 if none. /proc/cpuinfo is read once for its flags, not once a flag.
 */
static int read_line(const char *path, const char *prefix, char *line,
		     size_t len)
{
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, (int)len, f))
		found = !strncmp(line, prefix, strlen(prefix));
	fclose(f);
	return found;
}

/* Does LINE hold WORD, as a whole word? */
static int has_word(const char *line, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = line; (p = strstr(p, word)); p += n) {
		int start = p == line || p[-1] == ' ' || p[-1] == '\t';
		int end = !p[n] || p[n] == ' ' || p[n] == '\n';

		if (start && end)
			return 1;
	}
	return 0;
}

const char *hl_tap_tsc_unusable(void)
{
#ifndef __x86_64__
	return "not x86-64";
#else
	char line[8192];

	/* CLOCK_MONOTONIC must itself come from the TSC (so the two advance
	 * together) and the TSC must tick at one rate in every state, on
	 * every CPU (the first CPU's flags will do). */
	if (!read_line("/sys/devices/system/clocksource/clocksource0/"
		       "current_clocksource", "", line, sizeof(line)) ||
	    !has_word(line, "tsc"))
		return "clocksource is not tsc";
	if (!read_line("/proc/cpuinfo", "flags", line, sizeof(line)))
		line[0] = '\0';
	if (!has_word(line, "constant_tsc"))
		return "no constant_tsc";
	if (!has_word(line, "nonstop_tsc"))
		return "no nonstop_tsc";
	if (!has_word(line, "rdtscp"))
		return "no rdtscp";
	return NULL;
#endif
}

const char *hl_tap_clock_name(const struct hl_tap_reader *r)
{
	return r->tsc ? "tsc" : "monotonic";
}

#ifdef __x86_64__
/*
 * One try: the tsc before (after every earlier load, so after any record
 * that was read), CLOCK_MONOTONIC, the tsc after (after everything).
 * Returns the bracket's width.
 */
static uint64_t anchor_try(struct hl_tap_anchor *a)
{
	unsigned aux;
	uint64_t t1, t2;

	_mm_lfence();
	t1 = __rdtsc();
	a->ns = mono_ns();
	t2 = __rdtscp(&aux);
	_mm_lfence();
	a->tsc = t1 + (t2 - t1) / 2;
	return t2 - t1;
}
#else
static uint64_t anchor_try(struct hl_tap_anchor *a)
{
	a->tsc = a->ns = mono_ns();
	return 0;
}
#endif

/* 32.32 ns per tick from A to B. */
static uint64_t slope(const struct hl_tap_anchor *a,
		      const struct hl_tap_anchor *b)
{
	return (uint64_t)(((unsigned __int128)(b->ns - a->ns) << 32) /
			  (b->tsc - a->tsc));
}

/*
 * Lowest stamp still to be converted: the oldest unread record and the
 * outermost open call of every lane.  (A call between lowering depth and
 * publishing its record is in neither for a few instructions: anchors of
 * the last 100 ms are kept anyway.)
 */
static uint64_t oldest_stamp(struct hl_tap_reader *r, uint64_t lo)
{
	uint32_t mask = r->hdr->nrecs - 1;

	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		struct hl_tap_lane *l = hl_tap_lane(r->hdr, i);
		uint64_t h, t;
		uint32_t d;

		if (!atomic_load_explicit(&l->owner, memory_order_acquire))
			continue;
		d = l->depth;
		if (d && d < 1u << 20 && l->open[0].stamp < lo)
			lo = l->open[0].stamp;
		h = atomic_load_explicit(&l->head, memory_order_acquire);
		t = atomic_load_explicit(&l->tail, memory_order_acquire);
		if (t < h && hl_tap_recs(l)[t & mask].ts_ns < lo)
			lo = hl_tap_recs(l)[t & mask].ts_ns;
	}
	return lo;
}

/* Forget the anchors no stamp still to come can fall between. */
static void prune_anchors(struct hl_tap_reader *r)
{
	struct hl_tap_anchor *a = r->anchor;
	size_t n = r->nanchor, k = 0;
	uint64_t keep_ns = a[n - 1].ns - ANCHOR_KEEP_NS, lo = a[n - 1].tsc;

	while (k + 1 < n && a[k + 1].ns <= keep_ns)
		k++;
	if (a[k].tsc < lo)
		lo = a[k].tsc;
	lo = oldest_stamp(r, lo);
	while (k && a[k].tsc > lo)
		k--;
	if (k) {
		memmove(a, a + k, (n - k) * sizeof(*a));
		r->nanchor = n - k;
		r->seg = 0;
	}
	/* Still many (a call open for long): grow before trying again. */
	r->prune_at = r->nanchor * 2 > ANCHOR_PRUNE ? r->nanchor * 2 :
						       ANCHOR_PRUNE;
}

/* Reads a new anchor, later than every stamp read so far. 0 or -1. */
static int take_anchor(struct hl_tap_reader *r)
{
	struct hl_tap_anchor best = { 0 }, a, *last;
	uint64_t w, bw = UINT64_MAX;

	if (r->nanchor >= r->prune_at && r->nanchor >= ANCHOR_PRUNE)
		prune_anchors(r);
	if (r->nanchor == r->capanchor) {
		size_t cap = r->capanchor ? r->capanchor * 2 : 256;
		struct hl_tap_anchor *p = realloc(r->anchor, cap * sizeof(*p));

		if (!p)
			return -1;
		r->anchor = p;
		r->capanchor = cap;
	}
	last = r->nanchor ? &r->anchor[r->nanchor - 1] : NULL;
	/* A try the thread was preempted in brackets widely: try again. */
	for (int i = 0; i < ANCHOR_TRIES || !best.ns ||
	     (bw > ANCHOR_WIDE && i < 64); i++) {
		w = anchor_try(&a);
		/* Strictly after the last one in both clocks. */
		if (last && (a.tsc <= last->tsc || a.ns <= last->ns))
			continue;
		if (w < bw) {
			bw = w;
			best = a;
		}
	}
	if (last)
		last->mult = slope(last, &best);
	best.mult = last ? last->mult : 0;
	r->anchor[r->nanchor++] = best;
	r->nanchors_taken++;
	return 0;
}

/* ns * mult >> 32, the product in 128 bits. */
static uint64_t scale(uint64_t ticks, uint64_t mult)
{
	return (uint64_t)(((unsigned __int128)ticks * mult) >> 32);
}

/* The segment [anchor k, anchor k+1) holding T (the first or last one
 * when T lies outside them all). */
static size_t segment(struct hl_tap_reader *r, uint64_t t)
{
	const struct hl_tap_anchor *a = r->anchor;
	size_t k = r->seg, lo = 0, hi = r->nanchor - 1;

	if (k + 1 < r->nanchor && a[k].tsc <= t && t < a[k + 1].tsc)
		return k;
	if (k + 2 < r->nanchor && a[k + 1].tsc <= t && t < a[k + 2].tsc)
		return k + 1;
	/* Binary search: the last anchor at or before t. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (a[mid].tsc <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

uint64_t hl_tap_stamp_ns(struct hl_tap_reader *r, uint64_t t)
{
	const struct hl_tap_anchor *a;

	if (!r->tsc)
		return t;
	if ((!r->nanchor || t >= r->anchor[r->nanchor - 1].tsc) &&
	    take_anchor(r) < 0 && !r->nanchor)
		return mono_ns();	/* out of memory before any anchor */
	r->seg = segment(r, t);
	a = &r->anchor[r->seg];
	if (t < a->tsc)
		return a->ns - scale(a->tsc - t, a->mult);
	if (r->seg + 1 < r->nanchor) {
		r->seg_tsc = a->tsc;
		r->seg_span = a[1].tsc - a->tsc;
		r->seg_ns = a->ns;
		r->seg_mult = a->mult;
	}
	return a->ns + scale(t - a->tsc, a->mult);
}

/*
 * hl_tap_stamp_ns() for the drain: the segment of the last stamp converted
 * holds nearly every stamp of a drain pass, so its line is applied inline
 * (the same arithmetic, so the same ns) and only a stamp outside it takes
 * the search, or a new anchor.
 */
static inline uint64_t stamp_ns(struct hl_tap_reader *r, uint64_t t)
{
	if (t - r->seg_tsc < r->seg_span)
		return r->seg_ns + scale(t - r->seg_tsc, r->seg_mult);
	return hl_tap_stamp_ns(r, t);
}

static void convert(struct hl_tap_reader *r, struct hl_tap_rec *rec)
{
	if (!r->tsc)
		return;
	rec->ts_ns = stamp_ns(r, rec->ts_ns);
	rec->end_ns = stamp_ns(r, rec->end_ns);
}

/* ---- the ring ---- */

int hl_tap_create(struct hl_tap_reader *r, uint32_t nlanes, uint32_t nrecs)
{
	uint64_t size = hl_tap_total_bytes(nlanes, nrecs);
	void *p;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!nlanes || !nrecs || (nrecs & (nrecs - 1))) {
		errno = EINVAL;
		return -1;
	}
	/* Not MFD_CLOEXEC: the target inherits it through fork and exec. */
	r->fd = memfd_create("heaplab-tap", 0);
	if (r->fd < 0)
		return -1;
	if (ftruncate(r->fd, (off_t)size) < 0)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	r->hdr = p;
	hl_tap_init(r->hdr, nlanes, nrecs);
	if (!hl_tap_tsc_unusable() &&
	    !(getenv(HL_TAP_CLOCK_ENV) &&
	      !strcmp(getenv(HL_TAP_CLOCK_ENV), "monotonic"))) {
		/* Set before the target exists: the tap reads it at attach. */
		r->hdr->clock = HL_TAP_CLOCK_TSC;
		r->tsc = 1;
		if (take_anchor(r) < 0) {
			munmap(p, size);
			r->hdr = NULL;
			goto fail;
		}
	}
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -1;
}

void hl_tap_destroy(struct hl_tap_reader *r)
{
	free(r->anchor);
	r->anchor = NULL;
	r->seg_span = 0;
	r->nanchor = r->capanchor = 0;
	if (r->hdr)
		munmap(r->hdr, r->hdr->total_bytes);
	if (r->fd >= 0)
		close(r->fd);
	r->hdr = NULL;
	r->fd = -1;
}

int hl_tap_setenv(const struct hl_tap_reader *r)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", r->fd);
	return setenv(HL_TAP_ENV, v, 1);
}

static size_t drain_lane(struct hl_tap_reader *r, struct hl_tap_lane *l,
			 uint32_t owner, hl_tap_fn fn, void *ctx)
{
	/* Head first: a rewind moves tail before head (ring.h). */
	uint64_t h = atomic_load_explicit(&l->head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(&l->tail, memory_order_acquire);
	uint32_t mask = r->hdr->nrecs - 1;
	uint32_t pid = l->pid;
	struct hl_tap_rec rec;

	if (t >= h)
		return 0;
	for (uint64_t i = t; i < h; i++) {
		/* Copy first: the slot is the producer's again once tail moves. */
		rec = hl_tap_recs(l)[i & mask];
		convert(r, &rec);
		fn(ctx, pid, owner, &rec);
	}
	atomic_store_explicit(&l->tail, h, memory_order_release);
	return h - t;
}

size_t hl_tap_drain(struct hl_tap_reader *r, hl_tap_fn fn, void *ctx)
{
	size_t n = 0;

	if (!r->hdr)
		return 0;
	/* A fresh anchor each round, so a tracer that drains keeps anchors
	 * at most one round apart. */
	if (r->tsc && (!r->nanchor || mono_ns() - r->anchor[r->nanchor - 1].ns >=
				       ANCHOR_GAP_NS))
		take_anchor(r);
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		struct hl_tap_lane *l = hl_tap_lane(r->hdr, i);
		uint32_t owner = atomic_load_explicit(&l->owner,
						      memory_order_acquire);

		if (owner)
			n += drain_lane(r, l, owner, fn, ctx);
	}
	return n;
}

/*
 * The lane TID owns, or NULL.  A thread owns one lane at a time, and the
 * tracer asks at every syscall stop: remember where it was.
 */
static struct hl_tap_lane *find_lane(struct hl_tap_reader *r, uint32_t tid)
{
	uint16_t *hint = &r->lane_of[tid % HL_TAP_CACHE];
	struct hl_tap_lane *l;

	if (!r->hdr)
		return NULL;
	if (*hint && *hint <= r->hdr->nlanes) {
		l = hl_tap_lane(r->hdr, *hint - 1u);
		if (atomic_load_explicit(&l->owner, memory_order_acquire) == tid)
			return l;
	}
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		l = hl_tap_lane(r->hdr, i);
		if (atomic_load_explicit(&l->owner, memory_order_acquire) == tid) {
			*hint = (uint16_t)(i + 1);
			return l;
		}
	}
	return NULL;
}

size_t hl_tap_drain_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx)
{
	struct hl_tap_lane *l = find_lane(r, tid);

	return l ? drain_lane(r, l, tid, fn, ctx) : 0;
}

unsigned hl_tap_open_calls(struct hl_tap_reader *r, uint32_t tid,
			   struct hl_tap_open *inner, uint64_t *outer_ts)
{
	struct hl_tap_lane *l = find_lane(r, tid);
	unsigned d, i;

	if (!l)
		return 0;
	d = l->depth;
	if (!d || d > 1u << 20)
		return 0;
	i = (d < HL_TAP_DEPTH ? d : HL_TAP_DEPTH) - 1;
	*inner = l->open[i];
	inner->ts_ns = hl_tap_stamp_ns(r, l->open[i].stamp);
	*outer_ts = hl_tap_stamp_ns(r, l->open[0].stamp);
	return d;
}

void hl_tap_release_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx)
{
	if (!r->hdr)
		return;
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		struct hl_tap_lane *l = hl_tap_lane(r->hdr, i);

		if (atomic_load_explicit(&l->owner, memory_order_acquire) != tid)
			continue;
		drain_lane(r, l, tid, fn, ctx);
		r->freed_drops += l->drops;
		l->drops = 0;
		l->depth = 0;
		l->pid = 0;
		atomic_store(&l->head, 0);
		atomic_store(&l->tail, 0);
		/* Give the records' pages back: a busy thread filled them. */
		fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)((char *)hl_tap_recs(l) - (char *)r->hdr),
			  (off_t)(r->hdr->lane_bytes - HL_TAP_PAGE));
		atomic_store_explicit(&l->owner, 0, memory_order_release);
	}
}

uint64_t hl_tap_drops(const struct hl_tap_reader *r)
{
	uint64_t n = r->freed_drops;

	if (!r->hdr)
		return n;
	n += atomic_load(&r->hdr->nolane_drops);
	for (uint32_t i = 0; i < r->hdr->nlanes; i++)
		n += hl_tap_lane(r->hdr, i)->drops;
	return n;
}

uint64_t hl_tap_attached(const struct hl_tap_reader *r)
{
	return r->hdr ? atomic_load(&r->hdr->attached) : 0;
}
