// SPDX-License-Identifier: MIT
/*
 * engine.c — the ebpf engine (engine.h): launch, drain, merge, feed.
 *
 * The kernel's records come through the BPF ring, the allocator calls
 * through the tap's lanes, each asynchronously. A syscall's cause is the
 * call open on its thread when it entered, but that call's record is only
 * written when it returns. So each thread's records wait here until its
 * *frontier*: a time at which the tap showed the thread with no call open
 * (lane depth 0). Every call begun before then has returned, so every
 * syscall before it can be given its cause by containment, and the thread's
 * records up to it go to the timeline in the order the ptrace engine would
 * give them: a syscall at its entry, a call at its return.
 *
 * When the lane shows calls open, the outermost one's start will do: calls
 * nest, so all begun before it have returned. The tap lowers depth just
 * before it publishes the record, so the frontier lags one drain cycle
 * behind the observation, by which time the record is out. A thread that
 * has exited has no frontier: all it did is in. Records go out once the
 * lowest frontier of all threads has passed them, merged in time order, so
 * a parent's start-up still comes before its child's.
 *
 * With --uprobes there is no tap: the BPF side notes the call open at each
 * syscall's entry (as ptrace reads it from the tap).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "probes/ebpf/ebpf.h"
#include "probes/ebpf/engine.h"
#include "probes/event.h"

#define DRAIN_MS	20
#define NO_FRONTIER	UINT64_MAX

enum { IT_SYSCALL, IT_CALL, IT_OTHER };

/* One record waiting for its thread's frontier: kept small, there are many. */
struct item {
	uint64_t key;			/* syscall, other: enter; call: return */
	uint64_t order;			/* arrival, to keep sorting stable */
	struct hl_event ev;		/* a call's too: feed_one() rebuilds
					 * the tap record from it */
	char *str;			/* exec: the path */
	struct hl_tap_open *inner;	/* --uprobes: the call open at entry */
	uint64_t outer_ts;
	uint8_t type;
	uint8_t started;		/* IT_CALL: on its thread's open stack */
};

/* A call begun and not yet returned, as of the records fed so far. */
struct open_call {
	uint64_t id;			/* the item's order */
	struct hl_tap_open call;
};

/*
 * Records in arrival order, which is key order per source: the kernel's
 * (syscalls at entry, process events) in one queue, the calls (at return,
 * as their lane publishes them) in the other. What goes out is a prefix.
 */
struct queue {
	struct item *v;
	size_t head, n, cap;		/* v[head..n) wait */
};

struct thread {
	uint32_t tid, pid;
	struct queue q[2];		/* 0: kernel records, 1: calls */
	uint64_t zero_at;		/* last drain that saw no call open */
	uint64_t frontier;		/* records before this can go */
	int gone;
	/* Calls open at the last record fed, outermost first. */
	struct open_call *open;
	size_t nopen, capopen;
};

struct hl_ebpf_engine {
	struct hl_ebpf_run_opts o;
	struct hl_ebpf *e;
	struct hl_tidmap threads;	/* tid -> struct thread */
	uint64_t order;
	pid_t root;
	int started;
	int err;			/* out of memory while queueing */
	struct ref *refs, **order_refs;	/* feed()'s, kept: no page faults */
	size_t caprefs;
	/* --uprobes: statically linked programs already looked at. */
	char *statics[64];
	size_t nstatic;
	/* Tap records drained while feeding, queued after (see feed()). */
	struct staged *stage;
	size_t nstage, capstage;
};

struct staged {
	uint32_t pid, tid;
	struct hl_tap_rec rec;
};

static volatile sig_atomic_t interrupts, pass_on, first_sig;

/* Ctrl-C reaches the target from the terminal; SIGTERM and SIGHUP we pass on. */
static void on_signal(int sig)
{
	if (!interrupts)
		first_sig = sig;
	interrupts++;
	if (sig != SIGINT)
		pass_on = sig;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- per-thread queues ---- */

static struct thread *thread_get(struct hl_ebpf_engine *g, uint32_t tid,
				 uint32_t pid)
{
	struct thread *t = hl_tidmap_get(&g->threads, tid);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t || hl_tidmap_put(&g->threads, tid, t) < 0) {
		free(t);
		g->err = ENOMEM;
		return NULL;
	}
	t->tid = tid;
	t->pid = pid;
	/* Without the tap no call can be pending: nothing to wait for. */
	t->frontier = g->o.tap ? 0 : NO_FRONTIER;
	return t;
}

static struct item *push(struct hl_ebpf_engine *g, uint32_t tid, uint32_t pid,
			 int type, uint64_t key)
{
	struct thread *t = thread_get(g, tid, pid);
	struct queue *q;
	struct item *it;

	if (!t)
		return NULL;
	q = &t->q[type == IT_CALL];
	if (q->n == q->cap && q->head && q->head >= q->cap / 2) {
		/* Half of it went out already: move the rest down, once. */
		memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
		q->n -= q->head;
		q->head = 0;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct item *v = realloc(q->v, cap * sizeof(*v));

		if (!v) {
			g->err = ENOMEM;
			return NULL;
		}
		q->v = v;
		q->cap = cap;
	}
	it = &q->v[q->n++];
	memset(it, 0, sizeof(*it));
	it->type = type;
	it->key = key;
	it->order = g->order++;
	return it;
}

/* ---- BPF records to events ---- */

static int status_of(int code)
{
	return code & 0x7f ? 128 + (code & 0x7f) : (code >> 8) & 0xff;
}

static void on_syscall(struct hl_ebpf_engine *g, const struct mt_syscall *s)
{
	enum hl_kind kind = hl_kind_of_syscall(s->nr);
	const struct hl_kind_info *ki = hl_kind_info(kind);
	struct item *it;

	if (!ki || !(it = push(g, s->h.tid, s->h.pid, IT_SYSCALL, s->h.ts_ns)))
		return;
	it->ev.ts_ns = s->h.ts_ns;
	it->ev.end_ns = s->exit_ns;
	it->ev.pid = s->h.pid;
	it->ev.tid = s->h.tid;
	it->ev.kind = kind;
	/* Only the syscall's own arguments: the other registers are noise. */
	for (unsigned i = 0; i < ki->nargs; i++)
		it->ev.args[i] = s->args[i];
	it->ev.ret = s->ret;
	if (s->flags & MT_F_LOADER)
		it->ev.cause = HL_CAUSE_LOADER;
	else if (s->flags & MT_F_TAP)
		it->ev.cause = HL_CAUSE_TAP;
	if (s->flags & MT_F_UNFINISHED) {
		it->ev.flags |= HL_EVF_UNFINISHED;
		it->ev.ret = 0;
	}
	if (s->flags & MT_F_CAUSE && (it->inner = calloc(1, sizeof(*it->inner)))) {
		it->inner->ts_ns = s->cause_ts;
		it->inner->kind = s->cause_fn;
		for (int i = 0; i < 3; i++)
			it->inner->args[i] = s->cause_args[i];
		it->outer_ts = s->outer_ts;
	}
}

static void on_fork(struct hl_ebpf_engine *g, const struct mt_fork *f)
{
	struct item *it = push(g, f->h.tid, f->h.pid, IT_OTHER, f->h.ts_ns);

	if (!it)
		return;
	it->ev.ts_ns = it->ev.end_ns = f->h.ts_ns;
	it->ev.pid = f->h.pid;
	it->ev.tid = f->h.tid;
	it->ev.kind = HL_EV_FORK;
	it->ev.args[0] = f->thread ? f->child_tid : f->child_pid;
	it->ev.args[1] = f->vfork;
	it->ev.args[2] = f->thread;
	it->ev.ret = it->ev.args[0];
}

/* TID will do nothing more: once its records are out, it is forgotten. */
static void mark_gone(struct hl_ebpf_engine *g, uint32_t tid)
{
	struct thread *t = thread_get(g, tid, 0);

	if (t)
		t->gone = 1;
}

static int attach_static(struct hl_ebpf_engine *g, const char *exe, char *why,
			 size_t len);

/* --uprobes: a statically linked program exec'd in the tree. */
static void exec_uprobes(struct hl_ebpf_engine *g, const struct mt_exec *x)
{
	char link[64], exe[PATH_MAX], why[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", x->h.pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return;		/* gone already */
	exe[n] = '\0';
	if (attach_static(g, exe, why, sizeof(why)) < 0)
		hl_warn(g->o.cmd, "--uprobes: %s", why);
}

static void on_exec(struct hl_ebpf_engine *g, const struct mt_exec *x)
{
	struct item *it;

	if (x->h.pid == (uint32_t)g->root)
		g->started = 1;
	if (g->o.uprobes)
		exec_uprobes(g, x);
	/* A thread that was not the leader took the leader's tid. */
	if (x->old_tid != x->h.tid)
		mark_gone(g, x->old_tid);
	it = push(g, x->h.tid, x->h.pid, IT_OTHER, x->h.ts_ns);
	if (!it)
		return;
	it->ev.ts_ns = it->ev.end_ns = x->h.ts_ns;
	it->ev.pid = x->h.pid;
	it->ev.tid = x->h.tid;
	it->ev.kind = HL_EV_EXEC;
	it->ev.args[0] = x->old_tid != x->h.tid ? x->old_tid : 0;
	it->str = strndup(x->path, sizeof(x->path));
}

static void on_exit_rec(struct hl_ebpf_engine *g, const struct mt_exit *x)
{
	struct item *it = push(g, x->h.tid, x->h.pid, IT_OTHER, x->h.ts_ns);

	if (!it)
		return;
	it->ev.ts_ns = it->ev.end_ns = x->h.ts_ns;
	it->ev.pid = x->h.pid;
	it->ev.tid = x->h.tid;
	it->ev.kind = HL_EV_EXIT;
	it->ev.args[0] = (x->code >> 8) & 0xff;
	it->ev.args[1] = x->code & 0x7f;
	it->ev.ret = status_of(x->code);
	/* Its last record: the ring keeps each thread's records in order. */
	mark_gone(g, x->h.tid);
}

static void on_usdt(struct hl_ebpf_engine *g, const struct mt_usdt *u)
{
	const struct hl_kind_info *ki = hl_kind_info(u->probe);
	struct item *it;

	if (!ki || !(it = push(g, u->h.tid, u->h.pid, IT_OTHER, u->h.ts_ns)))
		return;
	it->ev.ts_ns = it->ev.end_ns = u->h.ts_ns;
	it->ev.pid = u->h.pid;
	it->ev.tid = u->h.tid;
	it->ev.kind = u->probe;
	for (unsigned i = 0; i < ki->nargs && i < MT_USDT_ARGS; i++)
		it->ev.args[i] = u->args[i];
}

/* A call seen by uprobes: the same record the tap would have written. */
static void on_call(struct hl_ebpf_engine *g, const struct mt_call *c)
{
	struct item *it = push(g, c->h.tid, c->h.pid, IT_CALL, c->exit_ns);

	if (!it)
		return;
	it->ev.ts_ns = c->h.ts_ns;
	it->ev.end_ns = c->exit_ns;
	it->ev.kind = c->fn;
	for (int i = 0; i < 3; i++)
		it->ev.args[i] = c->args[i];
	it->ev.ret = c->fn == HL_EV_FREE ? 0 : (int64_t)c->ret;
	it->ev.pid = c->h.pid;
	it->ev.tid = c->h.tid;
}

static int on_record(const struct mt_hdr *h, void *ctx)
{
	struct hl_ebpf_engine *g = ctx;

	switch (h->type) {
	case MT_SYSCALL:
		on_syscall(g, (const void *)h);
		break;
	case MT_FORK:
		on_fork(g, (const void *)h);
		break;
	case MT_EXEC:
		on_exec(g, (const void *)h);
		break;
	case MT_EXIT:
		on_exit_rec(g, (const void *)h);
		break;
	case MT_USDT:
		on_usdt(g, (const void *)h);
		break;
	case MT_CALL:
		on_call(g, (const void *)h);
		break;
	}
	return 0;
}

/* A record from the tap ring (an hl_tap_fn). */
static void on_tap(void *ctx, uint32_t pid, uint32_t tid,
		   const struct hl_tap_rec *rec)
{
	struct hl_ebpf_engine *g = ctx;
	struct item *it = push(g, tid, pid, IT_CALL, rec->end_ns);

	if (!it)
		return;
	it->ev.ts_ns = rec->ts_ns;
	it->ev.end_ns = rec->end_ns;
	it->ev.kind = rec->kind;
	memcpy(it->ev.args, rec->args, sizeof(rec->args));
	it->ev.ret = rec->ret;
	it->ev.pid = pid;
	it->ev.tid = tid;
}

/*
 * Writing the events can take longer than a busy thread takes to fill its
 * lane: while feeding, the lanes are emptied into a plain array, so a slow
 * output costs memory rather than dropped calls.
 */
static void on_stage(void *ctx, uint32_t pid, uint32_t tid,
		     const struct hl_tap_rec *rec)
{
	struct hl_ebpf_engine *g = ctx;

	if (g->nstage == g->capstage) {
		size_t cap = g->capstage ? g->capstage * 2 : 4096;
		struct staged *v = realloc(g->stage, cap * sizeof(*v));

		if (!v) {
			g->err = ENOMEM;
			return;
		}
		g->stage = v;
		g->capstage = cap;
	}
	g->stage[g->nstage++] = (struct staged){ pid, tid, *rec };
}

static void unstage(struct hl_ebpf_engine *g)
{
	for (size_t i = 0; i < g->nstage; i++)
		on_tap(g, g->stage[i].pid, g->stage[i].tid, &g->stage[i].rec);
	g->nstage = 0;
}

/* ---- feeding the timeline ---- */

static void open_push(struct hl_ebpf_engine *g, struct thread *t,
		      const struct item *it)
{
	struct open_call *o;

	if (t->nopen == t->capopen) {
		size_t cap = t->capopen ? t->capopen * 2 : 8;

		o = realloc(t->open, cap * sizeof(*o));
		if (!o) {
			g->err = ENOMEM;
			return;
		}
		t->open = o;
		t->capopen = cap;
	}
	o = &t->open[t->nopen++];
	memset(o, 0, sizeof(*o));
	o->id = it->order;
	o->call.ts_ns = it->ev.ts_ns;
	o->call.kind = it->ev.kind;
	memcpy(o->call.args, it->ev.args, sizeof(o->call.args));
}

/* The call returned: off the stack (from the top, where it should be). */
static void open_pop(struct thread *t, const struct item *it)
{
	for (size_t i = t->nopen; i-- > 0;) {
		if (t->open[i].id != it->order)
			continue;
		memmove(&t->open[i], &t->open[i + 1],
			(t->nopen - i - 1) * sizeof(*t->open));
		t->nopen--;
		return;
	}
}

/*
 * Records go out in time order, a call both at its start (onto the open
 * stack) and at its return (to the timeline): a syscall's cause is then
 * the innermost call on the stack, by containment, at no search cost.
 */
static void feed_one(struct hl_ebpf_engine *g, struct thread *t,
		     struct item *it, int start)
{
	struct hl_timeline *tl = g->o.tl;
	struct hl_tap_rec rec;

	if (start) {
		open_push(g, t, it);
		it->started = 1;
		return;
	}
	switch (it->type) {
	case IT_SYSCALL:
		if (it->inner)
			hl_tl_syscall(tl, &it->ev, it->inner, it->outer_ts);
		else if (t->nopen)
			hl_tl_syscall(tl, &it->ev, &t->open[t->nopen - 1].call,
				      t->open[0].call.ts_ns);
		else
			hl_tl_syscall(tl, &it->ev, NULL, 0);
		break;
	case IT_CALL:
		open_pop(t, it);
		memset(&rec, 0, sizeof(rec));
		rec.ts_ns = it->ev.ts_ns;
		rec.end_ns = it->ev.end_ns;
		rec.kind = it->ev.kind;
		memcpy(rec.args, it->ev.args, sizeof(rec.args));
		rec.ret = it->ev.ret;
		hl_tl_call(tl, it->ev.pid, it->ev.tid, &rec);
		break;
	default:
		hl_tl_process(tl, &it->ev, it->str);
		break;
	}
}

/* Forgets T once everything it did is out; its lanes were freed already. */
static void forget(struct hl_ebpf_engine *g, struct thread *t)
{
	uint32_t tid = t->tid;

	hl_tidmap_del(&g->threads, tid);
	free(t->q[0].v);
	free(t->q[1].v);
	free(t->open);
	free(t);
	hl_tl_thread_gone(g->o.tl, tid);
}

struct ref {
	uint64_t key, order;
	struct item *it;
	struct thread *t;
	int start;		/* a call's start, not its return */
};

/* Sorted through pointers: qsort moves 8-byte elements much faster. */
static int ref_by_key(const void *a, const void *b)
{
	const struct ref *x = *(struct ref *const *)a, *y = *(struct ref *const *)b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->start != y->start)	/* a call opens before what it contains */
		return x->start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static size_t waiting(const struct thread *t)
{
	return t->q[0].n - t->q[0].head + t->q[1].n - t->q[1].head;
}

/* The waiting prefix of Q before F: its length. */
static size_t prefix(const struct queue *q, uint64_t f)
{
	size_t j = q->head;

	while (j < q->n && q->v[j].key < f)
		j++;
	return j - q->head;
}

static void drop_prefix(struct queue *q, size_t n)
{
	for (size_t j = q->head; j < q->head + n; j++) {
		free(q->v[j].str);
		free(q->v[j].inner);
	}
	q->head += n;
	if (q->head == q->n)
		q->head = q->n = 0;
}

/*
 * Gives the timeline every record before F, all threads merged in time
 * order (so a parent's start-up comes before its child's), then drops them.
 */
static void feed(struct hl_ebpf_engine *g, uint64_t f)
{
	size_t n = 0, cap = 0;

	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		cap += prefix(&t->q[0], f) + 2 * prefix(&t->q[1], f);
	}
	if (!cap)
		return;
	if (cap > g->caprefs) {
		struct ref *r = realloc(g->refs, cap * sizeof(*r));
		struct ref **o = r ? realloc(g->order_refs, cap * sizeof(*o)) : NULL;

		if (r)
			g->refs = r;
		if (!o) {
			g->err = ENOMEM;
			return;
		}
		g->order_refs = o;
		g->caprefs = cap;
	}
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		for (int k = 0; k < 2; k++) {
			struct queue *q = &t->q[k];
			size_t m = prefix(q, f);

			for (size_t j = q->head; j < q->head + m; j++) {
				struct item *it = &q->v[j];

				if (it->type == IT_CALL && !it->started)
					g->refs[n++] = (struct ref){ it->ev.ts_ns,
						it->order, it, t, 1 };
				g->refs[n++] = (struct ref){ it->key, it->order,
							     it, t, 0 };
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		g->order_refs[i] = &g->refs[i];
	qsort(g->order_refs, n, sizeof(*g->order_refs), ref_by_key);
	for (size_t i = 0; i < n; i++) {
		struct ref *r = g->order_refs[i];

		feed_one(g, r->t, r->it, r->start);
		if (g->o.tap && i % 16384 == 16383)
			hl_tap_drain(g->o.tap, on_stage, g);
	}
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		for (int k = 0; k < 2; k++)
			drop_prefix(&t->q[k], prefix(&t->q[k], f));
	}
}

/*
 * A thread inside an allocator call, seen in its lane: calls nest, so every
 * call begun before the outermost open one has returned.
 */
struct busy {
	uint32_t tid;
	uint64_t since;		/* the outermost open call's start */
};

static size_t busy_tids(const struct hl_tap_reader *tap, struct busy *busy,
			size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; i < tap->hdr->nlanes && n < max; i++) {
		struct hl_tap_lane *l = hl_tap_lane(tap->hdr, i);
		uint32_t owner = atomic_load_explicit(&l->owner,
						      memory_order_acquire);
		uint32_t d = l->depth;

		if (owner && d && d < 1u << 20) {
			busy[n].tid = owner;
			busy[n++].since = l->open[0].ts_ns;
		}
	}
	return n;
}

/* Before when has TID no call open, as of time R? */
static uint64_t settled(const struct busy *busy, size_t n, uint32_t tid,
			uint64_t r)
{
	for (size_t i = 0; i < n; i++)
		if (busy[i].tid == tid && busy[i].since < r)
			r = busy[i].since;
	return r;
}

/*
 * One drain cycle: take the time and note which threads are inside a call,
 * take in everything published since, then move each thread's frontier to
 * the previous cycle's time if that cycle saw it outside any call. Records
 * before the lowest frontier go out; a thread that is gone holds nothing
 * back, and is forgotten once its records are out.
 */
static void cycle(struct hl_ebpf_engine *g, int final)
{
	struct busy busy[HL_TAP_LANES * 4];
	uint64_t r = now_ns(), f = NO_FRONTIER;
	size_t nbusy = 0;

	if (g->o.tap)
		nbusy = busy_tids(g->o.tap, busy, sizeof(busy) / sizeof(busy[0]));
	if (hl_ebpf_poll(g->e, 0) < 0 && errno != EINTR && !g->err)
		g->err = errno;
	if (g->o.tap)
		hl_tap_drain(g->o.tap, on_tap, g);
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		if (final)
			t->gone = 1;
		if (t->gone && t->frontier != NO_FRONTIER) {
			/* Dead: what its lanes hold is all there will be. */
			if (g->o.tap)
				hl_tap_release_tid(g->o.tap, t->tid, on_tap, g);
			t->frontier = NO_FRONTIER;
		} else if (!t->gone && g->o.tap) {
			t->frontier = t->zero_at;
			t->zero_at = settled(busy, nbusy, t->tid, r);
		}
		if (waiting(t) && t->frontier < f)
			f = t->frontier;
	}
	feed(g, f);
	unstage(g);
	for (;;) {
		struct thread *done = NULL;

		hl_tidmap_each(&g->threads, i) {
			struct thread *t = g->threads.vals[i];

			if (t->gone && !waiting(t)) {
				done = t;
				break;
			}
		}
		if (!done)
			break;
		forget(g, done);
	}
}

/* ---- probes ---- */

/*
 * libheaplab's USDT probes (allocator/os.c) by the event they become. The
 * probe's arguments are copied in order into the event's.
 */
static const struct hl_ebpf_probe usdt_probes[] = {
	{ "heap_grow", HL_EV_HEAP_GROW },
	{ "heap_shrink", HL_EV_HEAP_SHRINK },
	{ "arena_new", HL_EV_ARENA_NEW },
	{ "heap_trim", HL_EV_TRIM },
	{ "trim", HL_EV_TRIM },
	{ "mmap_threshold", HL_EV_THRESHOLD },
	{ "threshold", HL_EV_THRESHOLD },
};

static int attach_usdt(struct hl_ebpf_engine *g, char *why, size_t len)
{
	if (!g->o.alloc_path || !g->o.alloc_path[0])
		return 0;
	return hl_ebpf_attach_usdt(g->e, g->o.alloc_path, "heaplab", usdt_probes,
				   sizeof(usdt_probes) / sizeof(usdt_probes[0]),
				   why, len);
}

/* libc.so.6 as this process has it: the one the target gets too. */
static const char *libc_path(void)
{
	Dl_info info;

	if (dladdr((void *)gnu_get_libc_version, &info) && info.dli_fname)
		return info.dli_fname;
	return "libc.so.6";
}

/* A statically linked ELF executable: no PT_INTERP, so no libc.so.6. */
static int is_static(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC), st = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64) {
		st = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			if (pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * eh.e_phentsize)
			    != sizeof(ph) || ph.p_type == PT_INTERP) {
				st = 0;
				break;
			}
		}
	}
	close(fd);
	return st;
}

static size_t call_probes(struct hl_ebpf_probe *p)
{
	size_t n = 0;

	for (unsigned k = 1; k < HL_EV_NKINDS; k++)
		if (hl_kinds[k].class == HL_KC_CALL)
			p[n++] = (struct hl_ebpf_probe){ hl_kinds[k].name, k };
	return n;
}

/*
 * A statically linked program has its own malloc: uprobes on it too.
 * Returns what hl_ebpf_attach_calls() does, 0 for a dynamic program, -1
 * with WHY for a static one without the symbols (stripped).
 */
static int attach_static(struct hl_ebpf_engine *g, const char *exe, char *why,
			 size_t len)
{
	struct hl_ebpf_probe p[HL_EV_NKINDS];
	size_t n = call_probes(p);
	int got;

	for (size_t i = 0; i < g->nstatic; i++)
		if (!strcmp(g->statics[i], exe))
			return 0;	/* done before */
	if (!is_static(exe))
		return 0;
	if (g->nstatic < sizeof(g->statics) / sizeof(g->statics[0]))
		g->statics[g->nstatic++] = strdup(exe);
	got = hl_ebpf_attach_calls(g->e, exe, p, n, why, len);
	if (got == 0)
		snprintf(why, len, "'%s' is statically linked and has no "
			 "malloc symbol for uprobes (stripped?)", exe);
	return got > 0 ? got : -1;
}

/*
 * --uprobes: the object that defines malloc for the target: the preloaded
 * allocator, else libc; and the program itself when statically linked.
 * Uprobes go on files, for every process, so an exec'd program using the
 * same libc is covered; another static program is attached to when its
 * exec is seen, which may miss its first calls.
 */
static int attach_calls(struct hl_ebpf_engine *g, char *why, size_t len)
{
	struct hl_ebpf_probe p[HL_EV_NKINDS];
	size_t n = call_probes(p);
	const char *obj = g->o.alloc_path && g->o.alloc_path[0] ?
			  g->o.alloc_path : libc_path();
	int got = hl_ebpf_attach_calls(g->e, obj, p, n, why, len), st;

	if (got == 0 && obj != g->o.alloc_path)
		snprintf(why, len, "no malloc to put uprobes on in %s", obj);
	st = attach_static(g, g->o.path, why, len);
	if (st < 0)
		return -1;
	if (got <= 0 && st == 0) {
		if (got == 0 && obj == g->o.alloc_path)
			snprintf(why, len, "'%s' defines no malloc to put "
				 "uprobes on", obj);
		return -1;
	}
	return (got > 0 ? got : 0) + st;
}

/* ---- life cycle ---- */

struct hl_ebpf_engine *hl_ebpf_engine_open(const struct hl_ebpf_run_opts *o,
					   char *why, size_t len)
{
	struct hl_ebpf_engine *g = calloc(1, sizeof(*g));
	struct hl_ebpf_opts eo = {
		.syscalls = o->syscalls,
		.calls = o->uprobes,
		.tap_path = o->tap_path,
	};

	if (!g) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	g->o = *o;
	g->e = hl_ebpf_open(&eo, on_record, g, why, len);
	if (!g->e) {
		free(g);
		return NULL;
	}
	return g;
}

void hl_ebpf_engine_close(struct hl_ebpf_engine *g)
{
	if (!g)
		return;
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		for (int k = 0; k < 2; k++) {
			drop_prefix(&t->q[k], t->q[k].n - t->q[k].head);
			free(t->q[k].v);
		}
		free(t->open);
		free(t);
	}
	hl_tidmap_free(&g->threads);
	for (size_t i = 0; i < g->nstatic; i++)
		free(g->statics[i]);
	free(g->refs);
	free(g->order_refs);
	free(g->stage);
	hl_ebpf_close(g->e);
	free(g);
}

/*
 * The first Ctrl-C (or SIGTERM, SIGHUP): what is known goes out, the trace
 * ends there, marked incomplete, and the target runs on until it exits.
 */
static void end_early(struct hl_ebpf_engine *g)
{
	int sig = first_sig;

	cycle(g, 0);
	feed(g, NO_FRONTIER);
	unstage(g);
	hl_tl_flush(g->o.tl);
	if (g->o.on_interrupt)
		g->o.on_interrupt(g->o.ctx);
	g->o.tl->recording = 0;
	hl_warn(g->o.cmd, "%s: trace ended, marked incomplete; waiting for "
		"'%s' to exit (%s)", sig == SIGINT ? "interrupted" : strsignal(sig),
		g->o.argv[0], sig == SIGINT ? "Ctrl-C again kills it" :
		"signal passed on to it");
}

/* The target, held on HOLD until the parent has put it in the filter. */
static _Noreturn void child(const struct hl_ebpf_run_opts *o, int hold)
{
	char go;

	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	/* As ptrace's EXITKILL: a tracer that dies takes the target along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(hold, &go, 1) != 1)
		_exit(127);	/* the tracer gave up */
	close(hold);
	execv(o->path, o->argv);
	hl_warn(o->cmd, "cannot run '%s': %s", o->argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Are any of the tree's processes still there? (A missed exit must not hang.) */
static int tree_alive(struct hl_ebpf_engine *g)
{
	return hl_ebpf_live(g->e) > 0 && hl_ebpf_any_alive(g->e);
}

static void kill_tree(struct hl_ebpf_engine *g)
{
	hl_ebpf_kill_all(g->e, SIGKILL);
	kill(g->root, SIGKILL);
}

int hl_ebpf_engine_run(struct hl_ebpf_engine *g, struct hl_ebpf_result *r)
{
	struct sigaction sa = { .sa_handler = on_signal }, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	int hold[2], wstatus = 0, reaped = 0, seen = 0;
	char why[512];
	uint64_t last_check = 0;

	memset(r, 0, sizeof(*r));
	r->status = HL_EXIT_FAIL;	/* until CMD has run */
	{
		r->usdt_probes = attach_usdt(g, why, sizeof(why));
		if (r->usdt_probes < 0) {
			hl_warn(g->o.cmd, "USDT probes: %s", why);
			r->usdt_probes = 0;
		}
	}
	if (g->o.uprobes) {
		r->call_probes = attach_calls(g, why, sizeof(why));
		if (r->call_probes < 0) {
			hl_warn(g->o.cmd, "--uprobes: %s", why);
			hl_ebpf_engine_close(g);
			return -1;
		}
	}
	if (pipe2(hold, O_CLOEXEC) < 0) {
		hl_warn(g->o.cmd, "pipe: %s", strerror(errno));
		hl_ebpf_engine_close(g);
		return -1;
	}
	fflush(NULL);
	g->root = fork();
	if (g->root < 0) {
		hl_warn(g->o.cmd, "fork: %s", strerror(errno));
		close(hold[0]);
		close(hold[1]);
		hl_ebpf_engine_close(g);
		return -1;
	}
	if (g->root == 0) {
		close(hold[1]);
		child(&g->o, hold[0]);
	}
	close(hold[0]);
	if (hl_ebpf_follow(g->e, g->root) < 0) {
		hl_warn(g->o.cmd, "cannot follow pid %d: %s", g->root, strerror(errno));
		close(hold[1]);	/* the child reads EOF and leaves */
		waitpid(g->root, NULL, 0);
		hl_ebpf_engine_close(g);
		return -1;
	}
	interrupts = pass_on = 0;
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	signal(SIGQUIT, SIG_IGN);
	/* Everything is attached: let it exec. */
	if (write(hold[1], "", 1) != 1)
		hl_warn(g->o.cmd, "cannot release the target: %s", strerror(errno));
	close(hold[1]);

	for (;;) {
		hl_ebpf_poll(g->e, DRAIN_MS);
		cycle(g, 0);
		if (!reaped && waitpid(g->root, &wstatus, WNOHANG) == g->root)
			reaped = 1;
		if (pass_on) {
			kill(g->root, pass_on);
			pass_on = 0;
		}
		if (interrupts > seen) {
			if (!seen)
				end_early(g);
			r->interrupted = 1;
			if (seen || interrupts > 1) {
				hl_warn(g->o.cmd, "killing '%s'", g->o.argv[0]);
				kill_tree(g);
			}
			seen = interrupts;
		}
		if (reaped && hl_ebpf_live(g->e) <= 0)
			break;
		if (reaped && now_ns() - last_check > 500000000ull) {
			last_check = now_ns();
			if (!tree_alive(g))
				break;
		}
	}
	cycle(g, 1);
	hl_tl_flush(g->o.tl);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	signal(SIGQUIT, SIG_DFL);
	r->status = hl_exit_status(wstatus);
	r->started = g->started;
	r->lost = hl_ebpf_drops(g->e);
	if (g->err)
		hl_warn(g->o.cmd, "ebpf engine: %s", strerror(g->err));
	hl_ebpf_engine_close(g);
	return 0;
}
