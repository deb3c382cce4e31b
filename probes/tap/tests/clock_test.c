// SPDX-License-Identifier: MIT
/*
 * clock_test.c — the reader's TSC to CLOCK_MONOTONIC conversion, without a
 * target: stamps read here by rdtsc between two clock_gettime readings come
 * back inside them; a stamp converts to the same ns however many anchors
 * were taken in between (the open call and its record must agree); the
 * anchors are pruned, not piled up; a record drained carries ns; and
 * $HEAPLAB_TAP_CLOCK=monotonic (or a machine without a safe TSC) leaves the
 * stamps as clock_gettime ns.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __x86_64__
#include <x86intrin.h>
#endif

#include "lab/tests/tap.h"
#include "probes/tap/reader.h"

#define N 4000
/* The TSC here ticks in ~10 ns steps (see trace-clock.t). */
#define SLACK 30

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t raw(const struct hl_tap_reader *r)
{
#ifdef __x86_64__
	if (r->tsc)
		return __rdtsc();
#endif
	return mono();
}

static uint64_t c0[N], st[N], c1[N], ns[N];
static uint64_t got_ts, got_end;

static void on_rec(void *ctx, uint32_t pid, uint32_t tid,
		   const struct hl_tap_rec *rec)
{
	(void)ctx, (void)pid, (void)tid;
	got_ts = rec->ts_ns;
	got_end = rec->end_ns;
}

/* Stamps between clock readings, converted now and then, all checked. */
static void brackets(struct hl_tap_reader *r, const char *what)
{
	int bad = 0, moved = 0;
	struct timespec nap = { 0, 200000 };

	for (int i = 0; i < N; i++) {
		c0[i] = mono();
		st[i] = raw(r);
		c1[i] = mono();
		if (i % 7 == 0)	/* some converted at once, forcing anchors */
			ns[i] = hl_tap_stamp_ns(r, st[i]);
		if (i % 100 == 99)
			nanosleep(&nap, NULL);
		if (i % 50 == 0)
			hl_tap_drain(r, on_rec, NULL);
	}
	for (int i = 0; i < N; i++) {
		uint64_t v = hl_tap_stamp_ns(r, st[i]);

		if (i % 7 == 0 && v != ns[i])
			moved++;
		if (v + SLACK < c0[i] || v > c1[i] + SLACK) {
			if (bad++ < 3)
				diag("stamp %d: %lu not in [%lu, %lu]", i,
				     (unsigned long)v, (unsigned long)c0[i],
				     (unsigned long)c1[i]);
		}
	}
	ok(!bad, "%s: %d stamps read between two clock readings convert "
	   "into them (%d ns slack): %d outside", what, N, SLACK, bad);
	ok(!moved, "%s: a stamp converted early converts the same at the end "
	   "(%d of %d moved)", what, moved, (N + 6) / 7);
}

/* One record through a lane: drained with ns. */
static void drained(struct hl_tap_reader *r, const char *what)
{
	struct hl_tap_lane *l = hl_tap_lane(r->hdr, 0);
	struct hl_tap_rec *rec = &hl_tap_recs(l)[0];
	uint64_t a, b;

	atomic_store(&l->owner, 4242u);
	a = mono();
	rec->ts_ns = raw(r);
	rec->end_ns = raw(r);
	rec->kind = 7;
	b = mono();
	atomic_store(&l->head, 1);
	got_ts = got_end = 0;
	ok(hl_tap_drain(r, on_rec, NULL) == 1, "%s: one record drained", what);
	ok(got_ts + SLACK >= a && got_ts <= got_end && got_end <= b + SLACK,
	   "%s: it carries CLOCK_MONOTONIC ns (%lu..%lu in %lu..%lu)", what,
	   (unsigned long)got_ts, (unsigned long)got_end, (unsigned long)a,
	   (unsigned long)b);
	hl_tap_release_tid(r, 4242, on_rec, NULL);
}

/*
 * A lane of stamps from many segments (anchors taken between them), drained
 * in one pass, some with ts and end from segments far apart: the drain converts
 * with the last segment's line where it can, and must give what the search
 * (hl_tap_stamp_ns) gives for every stamp.
 */
#define M 900
static uint64_t many_st[M], many_ts[M], many_end[M];
static int nmany;

static void on_many(void *ctx, uint32_t pid, uint32_t tid,
		    const struct hl_tap_rec *rec)
{
	(void)ctx, (void)pid, (void)tid;
	if (nmany < M) {
		many_ts[nmany] = rec->ts_ns;
		many_end[nmany] = rec->end_ns;
	}
	nmany++;
}

/* Record I's end: mostly its own stamp, every tenth one far away. */
static int far(int i)
{
	return i % 10 == 9 ? (i * 7919) % M : i;
}

static void drained_many(struct hl_tap_reader *r, const char *what)
{
	struct hl_tap_lane *l = hl_tap_lane(r->hdr, 0);
	struct hl_tap_rec *rec = hl_tap_recs(l);
	struct timespec nap = { 0, 20000 };
	int bad = 0;

	atomic_store(&l->owner, 4242u);
	for (int i = 0; i < M; i++) {
		many_st[i] = raw(r);
		if (i % 30 == 29) {
			nanosleep(&nap, NULL);
			hl_tap_stamp_ns(r, raw(r));	/* a new anchor */
		}
	}
	for (int i = 0; i < M; i++) {
		memset(&rec[i], 0, sizeof(rec[i]));
		rec[i].kind = 7;
		rec[i].ts_ns = many_st[i];
		rec[i].end_ns = many_st[far(i)];
	}
	atomic_store(&l->head, M);
	nmany = 0;
	ok(hl_tap_drain(r, on_many, NULL) == M && nmany == M,
	   "%s: %d records drained in one pass", what, M);
	for (int i = 0; i < M; i++)
		if (many_ts[i] != hl_tap_stamp_ns(r, many_st[i]) ||
		    many_end[i] != hl_tap_stamp_ns(r, many_st[far(i)]))
			bad++;
	ok(!bad, "%s: each drained stamp is what hl_tap_stamp_ns gives for it "
	   "(%d of %d differ)", what, bad, M);
	hl_tap_release_tid(r, 4242, on_many, NULL);
}

int main(void)
{
	struct hl_tap_reader r;
	const char *why = hl_tap_tsc_unusable();
	uint64_t s, v;

	unsetenv(HL_TAP_CLOCK_ENV);
	if (hl_tap_create(&r, 2, 1024) < 0)
		return 2;
	diag("TSC %s", why ? why : "usable");
	ok(r.tsc == !why && r.hdr->clock == (why ? HL_TAP_CLOCK_MONO :
					     HL_TAP_CLOCK_TSC),
	   "the ring's clock is %s, as this machine allows",
	   hl_tap_clock_name(&r));
	brackets(&r, hl_tap_clock_name(&r));
	drained(&r, hl_tap_clock_name(&r));
	drained_many(&r, hl_tap_clock_name(&r));
	if (r.tsc) {
		/* Drains for 400 ms, each taking an anchor 10 us or more
		 * after the last: pruned to those of the last 100 ms, so at
		 * most 2 x 100 ms / 10 us are ever kept (the array grows to
		 * twice what a pruning left). */
		uint64_t until = mono() + 400000000ull, t0 = r.nanchors_taken;

		while (mono() < until)
			hl_tap_drain(&r, on_rec, NULL);
		diag("%lu anchors taken in 400 ms, %zu kept",
		     (unsigned long)(r.nanchors_taken - t0), r.nanchor);
		ok(r.nanchor <= 20002 &&
		   (r.nanchors_taken - t0 <= 8192 ||
		    r.nanchor < r.nanchors_taken - t0),
		   "anchors are pruned: at most 20002 kept");
		/* An open call read at a "syscall stop", then 300 ms of
		 * drains: its stamp converts the same, the anchors around it
		 * kept however old (the record will need them). */
		{
			struct hl_tap_lane *l = hl_tap_lane(r.hdr, 1);
			struct hl_tap_open in;
			uint64_t outer;

			atomic_store(&l->owner, 4343u);
			l->open[0].stamp = raw(&r);
			l->open[0].kind = 7;
			l->depth = 1;
			hl_tap_open_calls(&r, 4343, &in, &outer);
			v = in.ts_ns;
			until = mono() + 300000000ull;
			while (mono() < until)
				hl_tap_drain(&r, on_rec, NULL);
			hl_tap_open_calls(&r, 4343, &in, &outer);
			ok(in.ts_ns == v && outer == v,
			   "an open call converts the same after 300 ms of "
			   "drains and prunings (%lu, %lu)",
			   (unsigned long)v, (unsigned long)in.ts_ns);
			l->depth = 0;
			hl_tap_release_tid(&r, 4343, on_rec, NULL);
		}
	} else {
		ok(hl_tap_stamp_ns(&r, 12345) == 12345 && !r.nanchor,
		   "no TSC: stamps are ns already, no anchors taken");
	}
	hl_tap_destroy(&r);

	setenv(HL_TAP_CLOCK_ENV, "monotonic", 1);
	if (hl_tap_create(&r, 2, 1024) < 0)
		return 2;
	ok(!r.tsc && r.hdr->clock == HL_TAP_CLOCK_MONO,
	   "HEAPLAB_TAP_CLOCK=monotonic: the tap is told to use clock_gettime");
	s = mono();
	ok(hl_tap_stamp_ns(&r, s) == s, "monotonic: stamps are already ns");
	brackets(&r, "monotonic");
	drained(&r, "monotonic");
	hl_tap_destroy(&r);
	return tap_done();
}
