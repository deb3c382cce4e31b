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
 * Each thread's records arrive already in time order per source, so the
 * merge needs no sort: per thread a ring of kernel records (by entry) and a
 * ring of calls (by return), and a small heap of threads keyed by their
 * next record picks the earliest of all. A call also *begins*, onto its
 * thread's open stack, before the next record of its thread that follows
 * its start; nested calls return inner first, so the calls' starts are kept
 * in a third, start-ordered ring (an insertion only passes the calls nested
 * inside the new one).
 *
 *	thread ─┬─ kq: syscall, fork, exec, exit, USDT (by entry) ─┐
 *	        ├─ cq: calls                        (by return) ─┼─> heap of threads
 *	        └─ starts: positions in cq           (by start)  │   ─> timeline
 *	thread ─── ...                                           ─┘
 *
 * The rings are made of blocks from one pool, given back as they empty, so
 * a steady backlog stays in the same pages and nothing is ever moved.
 *
 * A drain thread empties the tap's lanes every DRAIN_SLEEP_US into a chain
 * of blocks (reused through a free list) that the main loop takes at each
 * cycle, so the lanes stay nearly empty and rewind to their first pages
 * (probes/tap/ring.h): the target writes into memory that is mapped and in
 * cache, and a slow output costs the tracer memory, never dropped calls.
 *
 * With --uprobes there is no tap: the BPF side notes the call open at each
 * syscall's entry (as ptrace reads it from the tap).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "probes/ebpf/ebpf.h"
#include "probes/ebpf/engine.h"
#include "probes/event.h"

/* Main loop: wait for the BPF ring at most this long between cycles. */
#define DRAIN_MS	5
/* Drain thread: pause between catch-ups. At ~10M calls/s a lane gets ~1k
 * records meanwhile: it rewinds at every catch-up and stays in ~20 pages.
 * After a catch-up that found nothing, a longer one: an idle target costs
 * a thousand wake-ups a second, not ten. */
#define DRAIN_SLEEP_US	100
#define DRAIN_IDLE_US	1000
/* Passes of one catch-up: each takes in what came during the last one. */
#define DRAIN_PASSES	16
#define NO_FRONTIER	UINT64_MAX

enum { IT_SYSCALL, IT_OTHER };

/* A kernel record (syscall at entry, process or USDT event) waiting. */
struct kitem {
	uint64_t key;			/* entry (syscall) or when it happened */
	uint64_t order;			/* arrival: ties keep it */
	struct hl_event ev;
	char *str;			/* exec: the path */
	struct hl_tap_open *inner;	/* --uprobes: the call open at entry */
	uint64_t outer_ts;
	uint8_t type;
};

/* A call waiting, as the tap wrote it (uprobes: as it would have). */
struct citem {
	struct hl_tap_rec rec;		/* depth 0: the merge orders nesting */
	uint64_t order;
	uint32_t pid;
};

/*
 * Blocks of BLOCK_BYTES for every queue of the engine (the drain thread's
 * chain and the main loop's rings alike, so memory one frees the other
 * reuses), carved from 16 MiB regions and kept on a free list once
 * emptied: a backlog costs fresh pages only past its largest size so far.
 * (MADV_HUGEPAGE on the regions was tried: fewer faults, but no faster
 * here and with slow outliers, 2 MiB clears in a VM; see bench/README.md.)
 */
#define BLOCK_BYTES	40960
#define REGION_BYTES	(16ul << 20)

struct pool {
	pthread_mutex_t lock;		/* both threads take and give blocks */
	void *free;			/* emptied blocks, linked by their first word */
	char *cur;			/* the region being carved */
	size_t left;
	void **regions;
	size_t nregions;
};

/*
 * A FIFO of slots in pool blocks: positions [head, tail) wait; position p
 * is slot p & (2^shift - 1) of block p >> shift, found through a small
 * table of the blocks held. Positions never move, so they can be kept
 * elsewhere (the starts ring keeps calls' positions); a block goes back to
 * the pool when its last slot is popped.
 */
struct ring {
	char **blk;			/* by block number & bmask */
	uint64_t bmask;
	uint64_t head, tail;
	struct pool *pool;
	uint32_t size;			/* of a slot */
	uint32_t shift;			/* log2 of the slots in a block */
};

/* A call begun and not yet returned, as of the records fed so far. */
struct open_call {
	uint64_t id;			/* the call's order */
	struct hl_tap_open call;
};

struct thread {
	uint32_t tid, pid;
	struct ring kq;			/* struct kitem, by key */
	struct ring cq;			/* struct citem, by return */
	struct ring starts;		/* uint64_t cq positions, by start */
	uint64_t zero_at;		/* last drain that saw no call open */
	uint64_t frontier;		/* records before this can go */
	int gone;
	/* Calls open at the last record fed, outermost first. */
	struct open_call *open;
	size_t nopen, capopen;
	/* feed()'s heap: the next record to go, and from which ring. */
	uint64_t next_key, next_order;
	int next_call;
};

/* Tap records drained by the drain thread, for the main loop. */
#define STAGE_RECS	((BLOCK_BYTES - 16) / sizeof(struct staged))
struct staged {
	uint32_t pid, tid;
	struct hl_tap_rec rec;
};

struct stage_blk {
	struct stage_blk *next;
	size_t n;
	struct staged r[STAGE_RECS];
};
_Static_assert(sizeof(struct stage_blk) <= BLOCK_BYTES, "a chain block is a pool block");

struct hl_ebpf_engine {
	struct hl_ebpf_run_opts o;
	struct hl_ebpf *e;
	struct hl_tidmap threads;	/* tid -> struct thread */
	uint64_t order;
	pid_t root;
	int started;
	int err;			/* out of memory while queueing */
	struct thread *hot;		/* thread_get()'s last answer */
	struct thread **heap;		/* feed()'s, kept */
	size_t capheap;
	/* --uprobes: statically linked programs already looked at. */
	char *statics[64];
	size_t nstatic;
	/*
	 * The tap's reader and the chain below belong to whoever holds
	 * lock: the drain thread, or the main loop taking the chain.
	 */
	pthread_mutex_t lock;
	pthread_t drainer;
	int draining;			/* the drain thread runs */
	atomic_int stop;
	struct stage_blk *first, *last;	/* drained, in drain order */
	int stage_err;
	struct pool pool;		/* the chain's and the rings' blocks */
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

/* ---- rings ---- */

static void pool_init(struct pool *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
}

static void *carve(struct pool *p)
{
	void **regions;
	char *b;

	if (p->left < BLOCK_BYTES) {
		regions = realloc(p->regions, (p->nregions + 1) * sizeof(*regions));
		if (!regions)
			return NULL;
		p->regions = regions;
		b = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
		p->regions[p->nregions++] = b;
		p->cur = b;
		p->left = REGION_BYTES;
	}
	b = p->cur;
	p->cur += BLOCK_BYTES;
	p->left -= BLOCK_BYTES;
	return b;
}

static void *pool_get(struct pool *p)
{
	void *b;

	pthread_mutex_lock(&p->lock);
	if ((b = p->free))
		p->free = *(void **)b;
	else
		b = carve(p);
	pthread_mutex_unlock(&p->lock);
	return b;
}

static void pool_put(struct pool *p, void *b)
{
	pthread_mutex_lock(&p->lock);
	*(void **)b = p->free;
	p->free = b;
	pthread_mutex_unlock(&p->lock);
}

static void pool_fini(struct pool *p)
{
	for (size_t i = 0; i < p->nregions; i++)
		munmap(p->regions[i], REGION_BYTES);
	free(p->regions);
	pthread_mutex_destroy(&p->lock);
	memset(p, 0, sizeof(*p));
}

/* Slots of SIZE bytes, as many to a block as a power of two allows. */
static void ring_init(struct ring *r, struct pool *p, size_t size)
{
	memset(r, 0, sizeof(*r));
	r->pool = p;
	r->size = size;
	while ((size << (r->shift + 1)) <= BLOCK_BYTES)
		r->shift++;
}

static inline int ring_empty(const struct ring *r)
{
	return r->head == r->tail;
}

static inline void *ring_at(const struct ring *r, uint64_t pos)
{
	unsigned s = r->shift;

	return r->blk[(pos >> s) & r->bmask] +
	       (size_t)(pos & ((1ull << s) - 1)) * r->size;
}

/* The tail is at a block's start: room in the table for one more block. */
static int ring_table(struct ring *r)
{
	unsigned s = r->shift;
	uint64_t first = r->head >> s, end = r->tail >> s;
	uint64_t n = r->blk ? r->bmask + 1 : 0, nn = n ? n : 8;
	char **v;

	if (end - first + 1 <= n)
		return 0;
	while (nn < end - first + 1)
		nn *= 2;
	if (!(v = calloc(nn, sizeof(*v))))
		return -1;
	for (uint64_t b = first; b < end; b++)
		v[b & (nn - 1)] = r->blk[b & r->bmask];
	free(r->blk);
	r->blk = v;
	r->bmask = nn - 1;
	return 0;
}

/* A new slot at the tail, or NULL when out of memory. */
static inline void *ring_push(struct ring *r)
{
	unsigned s = r->shift;
	char *b;

	if (!(r->tail & ((1ull << s) - 1))) {
		if (ring_table(r) < 0 || !(b = pool_get(r->pool)))
			return NULL;
		r->blk[(r->tail >> s) & r->bmask] = b;
	}
	return ring_at(r, r->tail++);
}

/* The head slot is done with: its block goes back once all of it is. */
static inline void ring_pop(struct ring *r)
{
	unsigned s = r->shift;

	if (!(++r->head & ((1ull << s) - 1)))
		pool_put(r->pool, r->blk[((r->head - 1) >> s) & r->bmask]);
}

static void ring_free(struct ring *r)
{
	unsigned s = r->shift;

	if (r->head != r->tail || r->head & ((1ull << s) - 1))
		for (uint64_t b = r->head >> s; b <= (r->tail - 1) >> s; b++)
			pool_put(r->pool, r->blk[b & r->bmask]);
	free(r->blk);
	r->blk = NULL;
	r->head = r->tail = 0;
}

/* ---- per-thread queues ---- */

static struct thread *thread_get(struct hl_ebpf_engine *g, uint32_t tid,
				 uint32_t pid)
{
	struct thread *t = g->hot;

	/* Records come in runs of one thread's: ask the map once a run. */
	if (t && t->tid == tid)
		return t;
	if ((t = hl_tidmap_get(&g->threads, tid)))
		return g->hot = t;
	t = calloc(1, sizeof(*t));
	if (!t || hl_tidmap_put(&g->threads, tid, t) < 0) {
		free(t);
		g->err = ENOMEM;
		return NULL;
	}
	t->tid = tid;
	t->pid = pid;
	ring_init(&t->kq, &g->pool, sizeof(struct kitem));
	ring_init(&t->cq, &g->pool, sizeof(struct citem));
	ring_init(&t->starts, &g->pool, sizeof(uint64_t));
	/* Without the tap no call can be pending: nothing to wait for. */
	t->frontier = g->o.tap ? 0 : NO_FRONTIER;
	return t;
}

/*
 * A kernel record of TID. Each thread's come in time order (its syscalls
 * one after the other, in the kernel's one ring); one that does not is put
 * in its place, so the merge can trust the order.
 */
static struct kitem *kpush(struct hl_ebpf_engine *g, uint32_t tid,
			   uint32_t pid, int type, uint64_t key)
{
	struct thread *t = thread_get(g, tid, pid);
	struct kitem *it, *prev;
	uint64_t p;

	if (!t)
		return NULL;
	if (!(it = ring_push(&t->kq))) {
		g->err = ENOMEM;
		return NULL;
	}
	for (p = t->kq.tail - 1; p > t->kq.head; p--) {
		prev = ring_at(&t->kq, p - 1);
		if (prev->key <= key)
			break;
		*(struct kitem *)ring_at(&t->kq, p) = *prev;
	}
	it = ring_at(&t->kq, p);
	memset(it, 0, sizeof(*it));
	it->type = type;
	it->key = key;
	it->order = g->order++;
	return it;
}

/* A call's start for the merge: never after its return. */
static inline uint64_t start_of(const struct citem *c)
{
	return c->rec.ts_ns < c->rec.end_ns ? c->rec.ts_ns : c->rec.end_ns;
}

static inline int starts_before(const struct citem *a, const struct citem *b)
{
	uint64_t x = start_of(a), y = start_of(b);

	return x != y ? x < y : a->order < b->order;
}

/*
 * A call of TID, at its return. Its start goes in the start-ordered ring:
 * behind every call begun before it, which only passes the calls that
 * returned inside it (nesting is shallow).
 */
static void cpush(struct hl_ebpf_engine *g, uint32_t tid, uint32_t pid,
		  const struct hl_tap_rec *rec)
{
	struct thread *t = thread_get(g, tid, pid);
	struct citem *c;
	uint64_t *s, pos, p;

	if (!t)
		return;
	if (!(c = ring_push(&t->cq)) || !(s = ring_push(&t->starts))) {
		if (c)
			t->cq.tail--;	/* its block stays held: harmless */
		g->err = ENOMEM;
		return;
	}
	pos = t->cq.tail - 1;
	c->rec = *rec;
	c->rec.depth = 0;
	c->rec._pad32 = 0;
	c->order = g->order++;
	c->pid = pid;
	for (p = t->starts.tail - 1; p > t->starts.head; p--) {
		uint64_t before = *(uint64_t *)ring_at(&t->starts, p - 1);

		if (!starts_before(c, ring_at(&t->cq, before)))
			break;
		*(uint64_t *)ring_at(&t->starts, p) = before;
	}
	*(uint64_t *)ring_at(&t->starts, p) = pos;
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
	struct kitem *it;

	if (!ki || !(it = kpush(g, s->h.tid, s->h.pid, IT_SYSCALL, s->h.ts_ns)))
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
	struct kitem *it = kpush(g, f->h.tid, f->h.pid, IT_OTHER, f->h.ts_ns);

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
	struct kitem *it;

	if (x->h.pid == (uint32_t)g->root)
		g->started = 1;
	if (g->o.uprobes)
		exec_uprobes(g, x);
	/* Stopped by the kernel side before its first instruction. */
	if (x->held && kill(x->h.pid, SIGCONT) < 0 && errno != ESRCH)
		hl_warn(g->o.cmd, "cannot continue pid %u: %s", x->h.pid,
			strerror(errno));
	/* A thread that was not the leader took the leader's tid. */
	if (x->old_tid != x->h.tid)
		mark_gone(g, x->old_tid);
	it = kpush(g, x->h.tid, x->h.pid, IT_OTHER, x->h.ts_ns);
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
	struct kitem *it = kpush(g, x->h.tid, x->h.pid, IT_OTHER, x->h.ts_ns);

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
	struct kitem *it;

	if (!ki || !(it = kpush(g, u->h.tid, u->h.pid, IT_OTHER, u->h.ts_ns)))
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
	struct hl_tap_rec rec = {
		.ts_ns = c->h.ts_ns,
		.end_ns = c->exit_ns,
		.kind = c->fn,
		.ret = c->fn == HL_EV_FREE ? 0 : (int64_t)c->ret,
	};

	for (int i = 0; i < 3; i++)
		rec.args[i] = c->args[i];
	cpush(g, c->h.tid, c->h.pid, &rec);
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

/* ---- the tap's lanes ---- */

/*
 * A record drained (an hl_tap_fn; lock held): onto the chain, in a block
 * from the spares when there is one, so a steady rate reuses its pages.
 */
static void on_stage(void *ctx, uint32_t pid, uint32_t tid,
		     const struct hl_tap_rec *rec)
{
	struct hl_ebpf_engine *g = ctx;
	struct stage_blk *b = g->last;

	if (!b || b->n == STAGE_RECS) {
		if (!(b = pool_get(&g->pool))) {
			g->stage_err = ENOMEM;
			return;
		}
		b->next = NULL;
		b->n = 0;
		if (g->last)
			g->last->next = b;
		else
			g->first = b;
		g->last = b;
	}
	b->r[b->n++] = (struct staged){ pid, tid, *rec };
}

/* Lock held: the chain so far, for the caller to unstage. */
static struct stage_blk *take_chain(struct hl_ebpf_engine *g)
{
	struct stage_blk *b = g->first;

	g->first = g->last = NULL;
	return b;
}

/* The records of chain B onto their threads' queues; the blocks to spare. */
static void unstage(struct hl_ebpf_engine *g, struct stage_blk *b)
{
	if (!b)
		return;
	for (struct stage_blk *x = b; x; x = x->next)
		for (size_t i = 0; i < x->n; i++)
			cpush(g, x->r[i].tid, x->r[i].pid, &x->r[i].rec);
	for (struct stage_blk *x = b, *next; x; x = next) {
		next = x->next;
		pool_put(&g->pool, x);
	}
}

/*
 * The drain thread: empties every lane, again until a pass finds nothing
 * (each pass is short, so a few catch up with a thread that is writing), so
 * the writer finds its lane empty and rewinds; then pauses.
 */
static void *drain_loop(void *arg)
{
	struct hl_ebpf_engine *g = arg;
	const struct timespec busy = { 0, DRAIN_SLEEP_US * 1000 };
	const struct timespec idle = { 0, DRAIN_IDLE_US * 1000 };

	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		size_t got = 0;

		for (int i = 0; i < DRAIN_PASSES; i++) {
			size_t n;

			pthread_mutex_lock(&g->lock);
			n = hl_tap_drain(g->o.tap, on_stage, g);
			pthread_mutex_unlock(&g->lock);
			got += n;
			if (!n)
				break;
		}
		nanosleep(got ? &busy : &idle, NULL);
	}
	return NULL;
}

/* Signals stay with the main thread (its handlers end the trace). */
static void drainer_start(struct hl_ebpf_engine *g)
{
	sigset_t all, old;

	if (!g->o.tap)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&g->stop, 0);
	g->draining = !pthread_create(&g->drainer, NULL, drain_loop, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Without it the main loop's cycles still drain: slower, no loss. */
}

static void drainer_stop(struct hl_ebpf_engine *g)
{
	if (!g->draining)
		return;
	atomic_store(&g->stop, 1);
	pthread_join(g->drainer, NULL);
	g->draining = 0;
}

/* ---- feeding the timeline ---- */

static void open_push(struct hl_ebpf_engine *g, struct thread *t,
		      const struct citem *c)
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
	o->id = c->order;
	o->call.ts_ns = c->rec.ts_ns;
	o->call.kind = c->rec.kind;
	memcpy(o->call.args, c->rec.args, sizeof(o->call.args));
}

/* The call returned: off the stack (from the top, where it should be). */
static void open_pop(struct thread *t, uint64_t id)
{
	for (size_t i = t->nopen; i-- > 0;) {
		if (t->open[i].id != id)
			continue;
		memmove(&t->open[i], &t->open[i + 1],
			(t->nopen - i - 1) * sizeof(*t->open));
		t->nopen--;
		return;
	}
}

/*
 * The calls of T begun by KEY go on its open stack, outermost first: a
 * record at KEY then finds its cause on top, by containment. (At equal
 * times a call begins before what it contains.)
 */
static void begin_calls(struct hl_ebpf_engine *g, struct thread *t,
			uint64_t key)
{
	while (!ring_empty(&t->starts)) {
		uint64_t pos = *(uint64_t *)ring_at(&t->starts, t->starts.head);
		struct citem *c = ring_at(&t->cq, pos);

		if (start_of(c) > key)
			break;
		open_push(g, t, c);
		ring_pop(&t->starts);
	}
}

static void feed_kitem(struct hl_ebpf_engine *g, struct thread *t,
		       struct kitem *it)
{
	struct hl_timeline *tl = g->o.tl;

	begin_calls(g, t, it->key);
	if (it->type == IT_SYSCALL) {
		if (it->inner)
			hl_tl_syscall(tl, &it->ev, it->inner, it->outer_ts);
		else if (t->nopen)
			hl_tl_syscall(tl, &it->ev, &t->open[t->nopen - 1].call,
				      t->open[0].call.ts_ns);
		else
			hl_tl_syscall(tl, &it->ev, NULL, 0);
	} else {
		hl_tl_process(tl, &it->ev, it->str);
	}
	free(it->str);
	free(it->inner);
}

/*
 * A call returns. The calls begun before it that are not yet on the stack
 * go on first (they contain it); the call itself, when its start is still
 * waiting (nothing of its thread was fed while it ran, the common case),
 * never needs to be on the stack at all.
 */
static void feed_citem(struct hl_ebpf_engine *g, struct thread *t,
		       struct citem *c)
{
	uint64_t self = t->cq.head;
	int begun = 1;

	while (!ring_empty(&t->starts)) {
		uint64_t pos = *(uint64_t *)ring_at(&t->starts, t->starts.head);
		struct citem *o;

		if (pos == self) {
			ring_pop(&t->starts);
			begun = 0;
			break;
		}
		o = ring_at(&t->cq, pos);
		if (start_of(o) > c->rec.end_ns)
			break;
		open_push(g, t, o);
		ring_pop(&t->starts);
	}
	if (begun)
		open_pop(t, c->order);
	hl_tl_call(g->o.tl, c->pid, t->tid, &c->rec);
}

/* Forgets T once everything it did is out; its lanes were freed already. */
static void forget(struct hl_ebpf_engine *g, struct thread *t)
{
	uint32_t tid = t->tid;

	hl_tidmap_del(&g->threads, tid);
	if (g->hot == t)
		g->hot = NULL;
	ring_free(&t->kq);
	ring_free(&t->cq);
	ring_free(&t->starts);
	free(t->open);
	free(t);
	hl_tl_thread_gone(g->o.tl, tid);
}

static int waiting(const struct thread *t)
{
	return !ring_empty(&t->kq) || !ring_empty(&t->cq);
}

/*
 * T's next record before F, if any: the earlier of its two rings' heads
 * (at equal times, the one that arrived first), noted for the heap.
 */
static int next_record(struct thread *t, uint64_t f)
{
	const struct kitem *k = NULL;
	const struct citem *c = NULL;

	if (!ring_empty(&t->kq)) {
		k = ring_at(&t->kq, t->kq.head);
		if (k->key >= f)
			k = NULL;
	}
	if (!ring_empty(&t->cq)) {
		c = ring_at(&t->cq, t->cq.head);
		if (c->rec.end_ns >= f)
			c = NULL;
	}
	if (!k && !c)
		return 0;
	t->next_call = !k || (c && (c->rec.end_ns != k->key ?
				    c->rec.end_ns < k->key : c->order < k->order));
	t->next_key = t->next_call ? c->rec.end_ns : k->key;
	t->next_order = t->next_call ? c->order : k->order;
	return 1;
}

static inline int heap_less(const struct thread *a, const struct thread *b)
{
	if (a->next_key != b->next_key)
		return a->next_key < b->next_key;
	return a->next_order < b->next_order;
}

static void sift_down(struct thread **h, size_t n, size_t i)
{
	struct thread *x = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && heap_less(h[c + 1], h[c]))
			c++;
		if (!heap_less(h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/*
 * Gives the timeline every record before F, all threads merged in time
 * order (so a parent's start-up comes before its child's): each thread's
 * rings are in order already, so a heap of threads by their next record
 * is all the merge needs.
 */
static void feed(struct hl_ebpf_engine *g, uint64_t f)
{
	size_t n = 0;

	if (g->threads.live > g->capheap) {
		size_t cap = g->threads.live * 2;
		struct thread **h = realloc(g->heap, cap * sizeof(*h));

		if (!h) {
			g->err = ENOMEM;
			return;
		}
		g->heap = h;
		g->capheap = cap;
	}
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		if (next_record(t, f))
			g->heap[n++] = t;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(g->heap, n, i);
	while (n) {
		struct thread *t = g->heap[0];

		if (t->next_call) {
			feed_citem(g, t, ring_at(&t->cq, t->cq.head));
			ring_pop(&t->cq);
		} else {
			feed_kitem(g, t, ring_at(&t->kq, t->kq.head));
			ring_pop(&t->kq);
		}
		if (!next_record(t, f))
			g->heap[0] = g->heap[--n];
		sift_down(g->heap, n, 0);
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
 * Everything the lanes hold now, and the lanes of threads that are gone
 * (drained, then freed), onto the threads' queues after what the drain
 * thread took before. FINAL: every thread is gone.
 */
static void take_tap(struct hl_ebpf_engine *g, int final)
{
	struct stage_blk *chain;

	pthread_mutex_lock(&g->lock);
	hl_tap_drain(g->o.tap, on_stage, g);
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		if (final)
			t->gone = 1;
		if (t->gone && t->frontier != NO_FRONTIER) {
			/* Dead: what its lanes hold is all there will be. */
			hl_tap_release_tid(g->o.tap, t->tid, on_stage, g);
			t->frontier = NO_FRONTIER;
		}
	}
	chain = take_chain(g);
	if (g->stage_err && !g->err)
		g->err = g->stage_err;
	pthread_mutex_unlock(&g->lock);
	unstage(g, chain);
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
		take_tap(g, final);
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		if (final)
			t->gone = 1;
		if (t->gone)
			t->frontier = NO_FRONTIER;
		else if (g->o.tap) {
			t->frontier = t->zero_at;
			t->zero_at = settled(busy, nbusy, t->tid, r);
		}
		if (waiting(t) && t->frontier < f)
			f = t->frontier;
	}
	feed(g, f);
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
 * exec is seen, while the kernel side holds it stopped (hold_execs), so
 * none of its calls is missed.
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
		/* --uprobes: a static program exec'd later is attached to
		 * before it runs (see on_exec). */
		.hold_execs = o->uprobes,
	};

	if (!g) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	g->o = *o;
	pthread_mutex_init(&g->lock, NULL);
	pool_init(&g->pool);
	g->e = hl_ebpf_open(&eo, on_record, g, why, len);
	if (!g->e) {
		pool_fini(&g->pool);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	return g;
}

void hl_ebpf_engine_close(struct hl_ebpf_engine *g)
{
	if (!g)
		return;
	drainer_stop(g);
	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		for (uint64_t p = t->kq.head; p < t->kq.tail; p++) {
			struct kitem *it = ring_at(&t->kq, p);

			free(it->str);
			free(it->inner);
		}
		ring_free(&t->kq);
		ring_free(&t->cq);
		ring_free(&t->starts);
		free(t->open);
		free(t);
	}
	hl_tidmap_free(&g->threads);
	for (size_t i = 0; i < g->nstatic; i++)
		free(g->statics[i]);
	free(g->heap);
	pool_fini(&g->pool);
	pthread_mutex_destroy(&g->lock);
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
	drainer_start(g);

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
	drainer_stop(g);
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
