// SPDX-License-Identifier: MIT
/*
 * merge.c — the ebpf engine's merge (merge.h): per-thread queues, the
 * frontier, cause by containment, and a heap of threads by time.
 *
 * The kernel's records and the tap's calls arrive asynchronously. A
 * syscall's cause is the call open on its thread when it entered, but that
 * call's record is only written when it returns. So each thread's records
 * wait here until its *frontier*: a time at which the tap showed the thread
 * with no call open (lane depth 0). Every call begun before then has
 * returned, so every syscall before it can be given its cause by
 * containment, and the thread's records up to it go to the timeline in the
 * order the ptrace engine would give them: a syscall at its entry, a call
 * at its return.
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
 * Everything here is a function of the inputs and their order alone (no
 * clock, no lanes): that is what lets `heaplab trace -i` replay a recorded
 * run through it and get the live output.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "probes/merge.h"
#include "probes/tidmap.h"

#define NO_FRONTIER	UINT64_MAX
#define BLOCK_BYTES	HL_MERGE_BLOCK
/* Inside the same outermost call this long (trace time): left it. */
#define STUCK_NS	1000000000ull

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
	struct hl_tap_rec rec;		/* depth: the tap's; the merge's once fed */
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
	uint64_t held, held_since;	/* that frontier, since which cycle */
	int gone;
	uint64_t gone_at;		/* gone: did nothing after this */
	/* Calls open at the last record fed, outermost first. */
	struct open_call *open;
	size_t nopen, capopen;
	/* feed()'s heap: the next record to go, and from which ring. */
	uint64_t next_key, next_order;
	int next_call;
};


struct hl_merge {
	struct hl_timeline *tl;
	int tap;			/* calls come from the tap */
	struct hl_tidmap threads;	/* tid -> struct thread */
	uint64_t order;
	uint64_t last_r;		/* the previous cycle's time */
	int err;			/* out of memory while queueing */
	struct thread *hot;		/* thread_get()'s last answer */
	struct thread **heap;		/* feed()'s, kept */
	size_t capheap;
	struct pool pool;
};

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

static struct thread *thread_get(struct hl_merge *g, uint32_t tid,
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
	t->frontier = g->tap ? 0 : NO_FRONTIER;
	t->held = NO_FRONTIER;
	return t;
}

/*
 * A kernel record of TID. Each thread's come in time order (its syscalls
 * one after the other, in the kernel's one ring); one that does not is put
 * in its place, so the merge can trust the order.
 */
static struct kitem *kpush(struct hl_merge *g, uint32_t tid,
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

/*
 * Does call C, just returned, begin before call B, which returned before
 * it? At equal starts (the clock's resolution: realloc stamped the same ns
 * as the reallocarray around it) the one around the other begins first:
 * the lesser depth, as the tap saw it; without depths (--uprobes, a
 * HLTRACE2 file), C when B lasted past that ns, for then C, begun then and
 * back after B, was open all through B. Else arrival order: B.
 */
static inline int starts_before(const struct citem *c, const struct citem *b)
{
	uint64_t x = start_of(c), y = start_of(b);

	if (x != y)
		return x < y;
	if (c->rec.depth != b->rec.depth)
		return c->rec.depth < b->rec.depth;
	return b->rec.end_ns > y;
}

/*
 * A call of TID, at its return. Its start goes in the start-ordered ring:
 * behind every call begun before it, which only passes the calls that
 * returned inside it (nesting is shallow).
 */
static void cpush(struct hl_merge *g, uint32_t tid, uint32_t pid,
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

/* TID did nothing after AT: once its records are out, it is forgotten. */
void hl_merge_gone(struct hl_merge *g, uint32_t tid, uint64_t at)
{
	struct thread *t = thread_get(g, tid, 0);

	if (t) {
		t->gone = 1;
		t->gone_at = at;
	}
}

void hl_merge_kernel(struct hl_merge *g, uint32_t tid, uint32_t pid,
		     const struct hl_merge_kin *k)
{
	struct kitem *it = kpush(g, tid, pid, k->type, k->key);

	if (!it)
		return;
	it->ev = k->ev;
	if (k->str && !(it->str = strdup(k->str)))
		g->err = ENOMEM;
	if (k->inner) {
		if (!(it->inner = malloc(sizeof(*it->inner)))) {
			g->err = ENOMEM;	/* the cause is lost: say so */
			return;
		}
		*it->inner = *k->inner;
		it->outer_ts = k->outer_ts;
	}
}

void hl_merge_call(struct hl_merge *g, uint32_t pid, uint32_t tid,
		   const struct hl_tap_rec *rec)
{
	cpush(g, tid, pid, rec);
}

/* ---- feeding the timeline ---- */

static void open_push(struct hl_merge *g, struct thread *t,
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
static void begin_calls(struct hl_merge *g, struct thread *t,
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

static void feed_kitem(struct hl_merge *g, struct thread *t,
		       struct kitem *it)
{
	struct hl_timeline *tl = g->tl;

	begin_calls(g, t, it->key);
	if (it->type == HL_MERGE_SYSCALL) {
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
 * never needs to be on the stack at all. What is left on the stack then
 * are the calls around it: its depth, by which the timeline holds a nested
 * call until its outer one is back and writes the outer first (calls
 * reach it at their return, the inner one first).
 */
static void feed_citem(struct hl_merge *g, struct thread *t,
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
	c->rec.depth = t->nopen < UINT16_MAX ? (uint16_t)t->nopen : UINT16_MAX;
	hl_tl_call(g->tl, c->pid, t->tid, &c->rec);
}

/* Forgets T once everything it did is out; its lanes were freed already. */
static void forget(struct hl_merge *g, struct thread *t)
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
	hl_tl_thread_gone(g->tl, tid);
}

static int waiting(const struct thread *t)
{
	return !ring_empty(&t->kq) || !ring_empty(&t->cq);
}

/* The time of T's latest record: kq is by key, cq by return. */
static uint64_t latest(const struct thread *t)
{
	uint64_t k = 0, c = 0;

	if (!ring_empty(&t->kq))
		k = ((const struct kitem *)ring_at(&t->kq, t->kq.tail - 1))->key;
	if (!ring_empty(&t->cq))
		c = ((const struct citem *)ring_at(&t->cq, t->cq.tail - 1))->rec.end_ns;
	return k > c ? k : c;
}

/*
 * A thread gone at gone_at holds nothing back up to then. Records of its
 * tid after that are a new thread's (the tid reused; the leader's tid
 * taken by the thread that exec'd), which wait for their frontier.
 */
static uint64_t gone_frontier(const struct thread *t)
{
	if (latest(t) <= t->gone_at)
		return NO_FRONTIER;
	return t->frontier > t->gone_at ? t->frontier : t->gone_at + 1;
}

/*
 * T's next record is past the time it was gone: all the gone thread did
 * is out, and the timeline forgets it before the new thread's first
 * record (it would have written the new thread's held records as the old
 * one's, the calls around them as never returned).
 */
static void reborn(struct hl_merge *g, struct thread *t)
{
	hl_tl_thread_gone(g->tl, t->tid);
	t->gone = 0;
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
static void feed(struct hl_merge *g, uint64_t f)
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

		if (__builtin_expect(t->gone, 0) && t->next_key > t->gone_at)
			reborn(g, t);
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

/* Before when has TID no call open, as of time R? */
static uint64_t settled(const struct hl_merge_busy *busy, size_t n,
			uint32_t tid, uint64_t r)
{
	for (size_t i = 0; i < n; i++)
		if (busy[i].tid == tid && busy[i].since < r)
			r = busy[i].since;
	return r;
}

/*
 * T's frontier F, unless the tap has shown T inside the same outermost
 * call for over STUCK_NS: then it counts as outside any call as of the
 * previous cycle. A call left by a longjmp out of a signal handler never
 * returns as far as the tap knows (its depth stays up), and would hold
 * every thread's records back, all of them in memory, to the end of the
 * trace (as the timeline lets a hold go past HL_TL_HOLD_MAX). A call that
 * does come back that late has its syscalls out before it, without cause.
 */
static uint64_t unstuck(struct hl_merge *g, struct thread *t, uint64_t f,
			uint64_t r)
{
	if (f != t->held) {
		t->held = f;
		t->held_since = r;
		return f;
	}
	if (r > t->held_since && r - t->held_since > STUCK_NS && g->last_r > f)
		return g->last_r;
	return f;
}

/*
 * One drain cycle, its inputs taken: move each thread's frontier to the
 * previous cycle's time if that cycle saw it outside any call. Records
 * before the lowest frontier go out; a thread that is gone holds nothing
 * back up to when it went, and is forgotten once its records are out.
 */
void hl_merge_cycle(struct hl_merge *g, uint64_t r,
		    const struct hl_merge_busy *busy, size_t nbusy, int final)
{
	uint64_t f = NO_FRONTIER;

	hl_tidmap_each(&g->threads, i) {
		struct thread *t = g->threads.vals[i];

		if (final) {
			t->gone = 1;
			t->gone_at = NO_FRONTIER;
		}
		if (g->tap) {
			t->frontier = unstuck(g, t, t->zero_at, r);
			t->zero_at = settled(busy, nbusy, t->tid, r);
		}
		if (t->gone)
			t->frontier = gone_frontier(t);
		if (waiting(t) && t->frontier < f)
			f = t->frontier;
	}
	g->last_r = r;
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

void hl_merge_out(struct hl_merge *g)
{
	feed(g, NO_FRONTIER);
}

int hl_merge_err(const struct hl_merge *g)
{
	return g->err;
}

void *hl_merge_block_get(struct hl_merge *g)
{
	return pool_get(&g->pool);
}

void hl_merge_block_put(struct hl_merge *g, void *b)
{
	pool_put(&g->pool, b);
}

struct hl_merge *hl_merge_new(struct hl_timeline *tl, int tap)
{
	struct hl_merge *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->tl = tl;
	g->tap = tap;
	pool_init(&g->pool);
	return g;
}

void hl_merge_free(struct hl_merge *g)
{
	if (!g)
		return;
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
	free(g->heap);
	pool_fini(&g->pool);
	free(g);
}
