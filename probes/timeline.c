// SPDX-License-Identifier: MIT
/* timeline.c — cause assignment and ordering; see timeline.h. */
#include <stdlib.h>
#include <string.h>

#include "probes/timeline.h"

struct tl_node {
	struct hl_event ev;
	char *str;
	size_t order;			/* arrival, to keep the sort stable */
	unsigned nest;			/* a call: 1 + calls open around it */
	struct hl_event cause;		/* the open call as the stop saw it */
	int has_cause;
};

struct tl_thread {
	uint32_t tid;
	struct tl_node *hold;
	size_t n, cap;
	uint64_t wait_ts;		/* release when an outermost call begun
					 * then (or before) ends */
};

void hl_tl_init(struct hl_timeline *tl, struct hl_sink *sink)
{
	memset(tl, 0, sizeof(*tl));
	tl->sink = sink;
	tl->recording = 1;
}

void hl_tl_fini(struct hl_timeline *tl)
{
	hl_tl_flush(tl);
	hl_tidmap_free(&tl->threads);
}

static void emit(struct hl_timeline *tl, struct hl_event *ev, const char *str,
		 const struct hl_event *cause)
{
	ev->seq = ++tl->seq;
	if (tl->recording)
		hl_sink_event(tl->sink, ev, str, cause);
}

static struct tl_node *append(struct tl_thread *th)
{
	if (th->n == th->cap) {
		size_t cap = th->cap ? th->cap * 2 : 8;
		struct tl_node *h = realloc(th->hold, cap * sizeof(*h));

		if (!h)
			return NULL;
		th->hold = h;
		th->cap = cap;
	}
	memset(&th->hold[th->n], 0, sizeof(th->hold[0]));
	th->hold[th->n].order = th->n;
	return &th->hold[th->n++];
}

static int by_start(const void *a, const void *b)
{
	const struct tl_node *x = a, *y = b;

	if (x->ev.ts_ns != y->ev.ts_ns)
		return x->ev.ts_ns < y->ev.ts_ns ? -1 : 1;
	/*
	 * Two calls stamped the same ns (the clock's resolution): the one
	 * around the other begins first, though it returned (arrived) last.
	 */
	if (x->nest && y->nest && x->nest != y->nest)
		return x->nest < y->nest ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static struct tl_node *find_call(struct tl_thread *th, const struct hl_event *c)
{
	for (size_t i = 0; i < th->n; i++) {
		struct hl_event *e = &th->hold[i].ev;

		if (e->ts_ns == c->ts_ns && e->kind == c->kind &&
		    hl_kind_info(e->kind)->class == HL_KC_CALL)
			return &th->hold[i];
	}
	return NULL;
}

/*
 * Writes out what TID held, in start order.  GONE: the thread died, so a
 * cause call without a record never returned; otherwise its record was lost
 * (a full lane) and the syscall names it without a seq.
 */
static void release(struct hl_timeline *tl, struct tl_thread *th, int gone)
{
	size_t n0 = th->n;

	if (gone) {
		for (size_t i = 0; i < n0; i++) {
			struct tl_node *nd = &th->hold[i], *c;

			if (!nd->has_cause || find_call(th, &nd->cause))
				continue;
			c = append(th);
			if (!c)
				break;
			nd = &th->hold[i];	/* append may have moved it */
			c->ev = nd->cause;
			c->ev.flags |= HL_EVF_UNFINISHED;
		}
	}
	qsort(th->hold, th->n, sizeof(th->hold[0]), by_start);
	for (size_t i = 0; i < th->n; i++) {
		struct tl_node *nd = &th->hold[i];
		const struct hl_event *cause = NULL;

		if (nd->has_cause) {
			struct tl_node *c = find_call(th, &nd->cause);

			cause = c && c->ev.seq ? &c->ev : &nd->cause;
			nd->ev.cause_seq = cause->seq;
		}
		emit(tl, &nd->ev, nd->str, cause);
	}
	for (size_t i = 0; i < th->n; i++)
		free(th->hold[i].str);
	th->n = 0;
	th->wait_ts = 0;
}

/*
 * Room for one more held event.  A call that never returns (a longjmp out
 * of a signal handler inside malloc) must not make its thread's events
 * pile up for ever: past HL_TL_HOLD_MAX they go out in the order known.
 */
#define HL_TL_HOLD_MAX 65536

static struct tl_node *hold(struct hl_timeline *tl, struct tl_thread *th)
{
	if (th->n >= HL_TL_HOLD_MAX)
		release(tl, th, 0);
	return append(th);
}

static struct tl_thread *thread(struct hl_timeline *tl, uint32_t tid, int make)
{
	struct tl_thread *th = hl_tidmap_get(&tl->threads, tid);

	if (th || !make)
		return th;
	th = calloc(1, sizeof(*th));
	if (!th)
		return NULL;
	th->tid = tid;
	if (hl_tidmap_put(&tl->threads, tid, th) < 0) {
		free(th);
		return NULL;
	}
	return th;
}

static void drop_thread(struct hl_timeline *tl, struct tl_thread *th)
{
	hl_tidmap_del(&tl->threads, th->tid);
	free(th->hold);
	free(th);
}

void hl_tl_syscall(struct hl_timeline *tl, struct hl_event *ev,
		   const struct hl_tap_open *inner, uint64_t outer_ts)
{
	struct tl_thread *th;
	struct tl_node *nd;

	/* The open call comes from the target's memory (its lane): a kind
	 * that is no call's cannot be written as a cause, so none. */
	if (inner && (!hl_kind_info(inner->kind) ||
		      hl_kind_info(inner->kind)->class != HL_KC_CALL))
		inner = NULL;
	th = thread(tl, ev->tid, inner != NULL);

	if (inner && ev->cause == HL_CAUSE_NONE && th && (nd = hold(tl, th))) {
		nd->ev = *ev;
		nd->ev.cause = HL_CAUSE_CALL;
		nd->has_cause = 1;
		nd->cause.ts_ns = inner->ts_ns;
		nd->cause.end_ns = inner->ts_ns;
		nd->cause.pid = ev->pid;
		nd->cause.tid = ev->tid;
		nd->cause.kind = (uint16_t)inner->kind;
		for (int i = 0; i < HL_TAP_ARGS; i++)
			nd->cause.args[i] = inner->args[i];
		if (th->n == 1 || outer_ts < th->wait_ts)
			th->wait_ts = outer_ts;
		return;
	}
	if (th && th->n) {
		/* Still inside a call (cause loader/tap): keep the order. */
		if (inner && (nd = hold(tl, th))) {
			nd->ev = *ev;
			return;
		}
		/* No call open: what is held lost its call's record. */
		release(tl, th, 0);
	}
	emit(tl, ev, NULL, NULL);
}

void hl_tl_call(void *arg, uint32_t pid, uint32_t tid,
		const struct hl_tap_rec *rec)
{
	struct hl_timeline *tl = arg;
	struct tl_thread *th = thread(tl, tid, 0);
	struct hl_event ev = {
		.ts_ns = rec->ts_ns, .end_ns = rec->end_ns, .pid = pid,
		.tid = tid, .kind = rec->kind, .ret = rec->ret,
	};
	struct tl_node *nd;

	if (!hl_kind_info(rec->kind) ||
	    hl_kind_info(rec->kind)->class != HL_KC_CALL)
		return;		/* not a record the tap writes: ignore */
	for (int i = 0; i < HL_TAP_ARGS; i++)
		ev.args[i] = rec->args[i];
	if ((!th || !th->n) && !rec->depth) {
		emit(tl, &ev, NULL, NULL);
		return;
	}
	/* A call made inside another (realloc inside reallocarray) returns
	 * first: hold it until the outermost one is back, then both go out
	 * in start order. */
	if (!th)
		th = thread(tl, tid, 1);
	nd = th ? hold(tl, th) : NULL;
	if (!nd) {
		emit(tl, &ev, NULL, NULL);
		return;
	}
	nd->ev = ev;
	nd->nest = 1u + rec->depth;
	if (th->n == 1)
		th->wait_ts = rec->ts_ns;
	if (!rec->depth && rec->ts_ns <= th->wait_ts)
		release(tl, th, 0);
}

void hl_tl_process(struct hl_timeline *tl, struct hl_event *ev,
		   const char *str)
{
	struct tl_thread *th = thread(tl, ev->tid, 0);
	struct tl_node *nd;

	if (th && th->n && (nd = hold(tl, th))) {
		nd->ev = *ev;
		nd->str = str ? strdup(str) : NULL;
		return;
	}
	emit(tl, ev, str, NULL);
}

void hl_tl_thread_gone(struct hl_timeline *tl, uint32_t tid)
{
	struct tl_thread *th = thread(tl, tid, 0);

	if (!th)
		return;
	release(tl, th, 1);
	drop_thread(tl, th);
}

void hl_tl_flush(struct hl_timeline *tl)
{
	for (;;) {
		struct tl_thread *th = NULL;

		hl_tidmap_each(&tl->threads, i) {
			th = tl->threads.vals[i];
			break;
		}
		if (!th)
			return;
		release(tl, th, 1);
		drop_thread(tl, th);
	}
}
