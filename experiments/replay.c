// SPDX-License-Identifier: MIT
/*
 * replay.c — `heaplab replay FILE [-a ALLOC]... [--pid PID] [--json]
 * [--record OUT]`:
 * the allocation pattern of a recorded program scored on every allocator.
 *
 * FILE is a `heaplab trace -f jsonl` recording. Its malloc-family calls are
 * put in the order they took effect — an allocation when it returned
 * (end_ns), a free when it was entered (ts_ns): a block freed on one thread
 * and handed out again on another is then always freed first — and every
 * address is replaced by a handle, a slot of the replayer's pointer array.
 * Each traced process image (a pid until its exec) has addresses of its
 * own; a forked child may free blocks it inherited from its parent (those
 * frees are skipped and counted); the blocks an image still holds when it
 * execs or exits are freed there, unless nothing follows.  With --pid, only
 * that process's calls are kept (its threads, its images across execs);
 * the frees of what it inherited from a parent left out count as above. A free of an
 * address no call returned, or a line that is not a trace record, is an
 * error naming the line.
 *
 * The calls are then replayed in a fresh process per allocator
 * (experiments/targets/replayer.c), one thread per traced thread, each call
 * only after the one before it: the live bytes go through exactly the
 * recorded sequence, so the peak live bytes are the recording's, and the
 * footprint is the allocator's.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/phaselib.h"
#include "experiments/replay.h"

#define CURVE_POINTS	256
#define MAX_IMAGES	65535

enum { EV_FORK = 100, EV_EXEC, EV_EXIT };

/* One recorded call or process event, as read. */
struct rec {
	int64_t t;			/* when it took effect */
	int64_t ts, end;		/* entered, returned */
	int64_t seq;
	uint32_t line;
	uint8_t kind;
	int32_t pid, tid;
	uint64_t ptr, size, arg, ret;
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

/* ------------------------------------------------------------------ */
/* Reading the recording                                               */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	uint8_t kind;
} call_kinds[] = {
	{ "malloc", RP_MALLOC }, { "calloc", RP_CALLOC },
	{ "realloc", RP_REALLOC }, { "reallocarray", RP_REALLOC },
	{ "free", RP_FREE }, { "memalign", RP_MEMALIGN },
	{ "posix_memalign", RP_POSIX_MEMALIGN },
	{ "aligned_alloc", RP_ALIGNED_ALLOC }, { "valloc", RP_VALLOC },
	{ "pvalloc", RP_PVALLOC }, { "fork", EV_FORK }, { "exec", EV_EXEC },
	{ "exit", EV_EXIT },
};

static const char *in_file;

static _Noreturn void bad_line(unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static _Noreturn void bad_line(unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hl_die("replay", "%s line %u: %s", in_file, line, msg);
}

/* A required integer member, or the line is rejected. */
static int64_t need_int(const struct json *o, const char *key, unsigned line,
			const char *what)
{
	const struct json *v = json_get(o, key);

	if (json_type(v) != JSON_INT)
		bad_line(line, "%s has no integer \"%s\"", what, key);
	return json_as_int(v, 0);
}

static void push(struct recs *rs, const struct rec *r)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 4096;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		if (!rs->v)
			hl_die("replay", "out of memory");
	}
	rs->v[rs->n++] = *r;
}

/* One line: a record we replay, one we skip, or garbage (dies). */
static void read_line(struct recs *rs, const char *text, unsigned line,
		      size_t *skipped)
{
	char err[160];
	struct json *ev = json_parse(text, err, sizeof(err));
	const struct json *args;
	const char *kind;
	struct rec r = { .line = line };
	size_t i;

	if (!ev)
		bad_line(line, "not JSON (%s)", err);
	if (json_type(ev) != JSON_OBJ ||
	    json_type(json_get(ev, "kind")) != JSON_STR)
		bad_line(line, "not a trace record (no \"kind\")");
	kind = json_as_str(json_get(ev, "kind"), "");
	for (i = 0; i < sizeof(call_kinds) / sizeof(call_kinds[0]); i++)
		if (!strcmp(kind, call_kinds[i].name))
			break;
	if (i == sizeof(call_kinds) / sizeof(call_kinds[0]) ||
	    json_as_bool(json_get(ev, "unfinished"), 0)) {
		json_free(ev);
		return;
	}
	r.kind = call_kinds[i].kind;
	r.seq = need_int(ev, "seq", line, kind);
	r.t = r.ts = r.end = need_int(ev, "ts_ns", line, kind);
	if (json_type(json_get(ev, "end_ns")) == JSON_INT)
		r.end = json_as_int(json_get(ev, "end_ns"), r.ts);
	r.pid = need_int(ev, "pid", line, kind);
	r.tid = need_int(ev, "tid", line, kind);
	args = json_get(ev, "args");
	if (json_type(args) != JSON_OBJ)
		bad_line(line, "%s has no \"args\" object", kind);
	switch (r.kind) {
	case EV_FORK:
		r.arg = need_int(args, "child", line, kind);
		r.size = json_as_int(json_get(args, "thread"), 0);
		break;
	case EV_EXEC:
	case EV_EXIT:
		break;
	case RP_FREE:
		r.ptr = need_int(args, "ptr", line, kind);
		break;
	default:
		/* An allocation takes effect when it returns. */
		r.t = r.end;
		r.size = need_int(args, "size", line, kind);
		if (!strcmp(kind, "calloc"))
			r.arg = need_int(args, "nmemb", line, kind);
		if (!strcmp(kind, "reallocarray"))
			r.size *= need_int(args, "nmemb", line, kind);
		if (r.kind == RP_REALLOC)
			r.ptr = need_int(args, "ptr", line, kind);
		if (r.kind == RP_MEMALIGN || r.kind == RP_ALIGNED_ALLOC ||
		    r.kind == RP_POSIX_MEMALIGN)
			r.arg = need_int(args, "alignment", line, kind);
		if (r.kind == RP_POSIX_MEMALIGN) {
			/* ret is the int result, "result" the pointer. */
			r.ret = 0;
			if (need_int(ev, "ret", line, kind) == 0)
				r.ret = need_int(args, "result", line, kind);
		} else {
			r.ret = need_int(ev, "ret", line, kind);
		}
		if (!r.ret) {		/* a failed call changed nothing */
			if (r.kind != RP_REALLOC || r.size)
				(*skipped)++;
			if (r.kind != RP_REALLOC || r.size || !r.ptr) {
				json_free(ev);
				return;
			}
			r.kind = RP_FREE;	/* realloc(p, 0) */
			r.t = r.ts;
		}
	}
	json_free(ev);
	push(rs, &r);
}

static int by_thread(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * A call made inside another on the same thread (glibc's reallocarray
 * calls realloc through the PLT, where the tap sees it too) is part of the
 * outer call: only what the program asked for is replayed.
 */
static size_t drop_nested(struct recs *rs)
{
	int64_t open_end = INT64_MIN;
	int32_t tid = -1;
	size_t n = 0, dropped = 0;

	qsort(rs->v, rs->n, sizeof(*rs->v), by_thread);
	for (size_t i = 0; i < rs->n; i++) {
		struct rec *r = &rs->v[i];

		if (r->kind < EV_FORK) {
			if (r->tid == tid && r->ts < open_end &&
			    r->end <= open_end) {
				dropped++;
				continue;
			}
			tid = r->tid;
			open_end = r->end;
		}
		rs->v[n++] = *r;
	}
	rs->n = n;
	return dropped;
}

static int by_time(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ------------------------------------------------------------------ */
/* Addresses to handles                                                */
/* ------------------------------------------------------------------ */

/* (image, address) -> handle, open addressing with backward-shift delete. */
struct slot {
	uint64_t key;			/* 0: empty */
	uint32_t handle, line;
};

struct amap {
	struct slot *s;
	size_t cap, n;
};

static uint64_t amap_key(uint32_t image, uint64_t addr)
{
	return (uint64_t)(image + 1) << 48 | (addr & ((1ull << 48) - 1));
}

static size_t amap_hash(const struct amap *m, uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ull) >> 17 & (m->cap - 1);
}

static struct slot *amap_find(const struct amap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = amap_hash(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->s[i].key == key)
			return &m->s[i];
		if (!m->s[i].key)
			return NULL;
	}
}

static void amap_put(struct amap *m, uint64_t key, uint32_t handle,
		     uint32_t line);

static void amap_grow(struct amap *m)
{
	struct amap old = *m;

	m->cap = m->cap ? 2 * m->cap : 1 << 16;
	m->n = 0;
	m->s = calloc(m->cap, sizeof(*m->s));
	if (!m->s)
		hl_die("replay", "out of memory");
	for (size_t i = 0; i < old.cap; i++)
		if (old.s[i].key)
			amap_put(m, old.s[i].key, old.s[i].handle,
				 old.s[i].line);
	free(old.s);
}

static void amap_put(struct amap *m, uint64_t key, uint32_t handle,
		     uint32_t line)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap)
		amap_grow(m);
	for (i = amap_hash(m, key); m->s[i].key; i = (i + 1) & (m->cap - 1))
		;
	m->s[i] = (struct slot){ key, handle, line };
	m->n++;
}

static void amap_del(struct amap *m, struct slot *s)
{
	size_t i = s - m->s, j = i;

	for (;;) {
		j = (j + 1) & (m->cap - 1);
		if (!m->s[j].key)
			break;
		size_t h = amap_hash(m, m->s[j].key);

		/* Move j into the hole at i unless its home is in (i, j]. */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && h <= i && h > j)) {
			m->s[i] = m->s[j];
			i = j;
		}
	}
	m->s[i].key = 0;
	m->n--;
}

/* ------------------------------------------------------------------ */
/* Building the ops                                                    */
/* ------------------------------------------------------------------ */

struct image {
	int32_t pid;
	int32_t parent;			/* image forked from, or -1 */
	int execd;			/* replaced by an exec: no parent */
	size_t live;			/* blocks it holds */
};

struct build {
	struct rp_op *ops;
	uint8_t *dropped;		/* op is a free made by exec/exit */
	size_t nops, cap;
	struct handle {
		uint64_t size;		/* requested bytes */
		uint32_t thread;	/* the thread that made it */
		uint32_t image;
	} *h;
	size_t nhandles, hcap;
	int32_t *last_pid;		/* pid -> index of its last call */
	size_t *last_at;
	size_t nlast, lastcap;
	int32_t tids[RP_MAX_THREADS];
	uint32_t nthreads;
	struct image *img;
	size_t nimg, imgcap;
	struct amap map;
	/* pid -> current image, and pid -> parent pid from fork records. */
	int32_t *cur_pid, *cur_img;
	size_t ncur, curcap;
	int32_t *fork_child, *fork_parent;
	size_t nfork, forkcap;
	size_t inherited, cross_thread, calls, nested;
	int32_t only_pid;		/* --pid, or 0: every process */
};

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? 2 * *cap : 1024;
	if (*cap < need)
		*cap = need;
	p = realloc(p, *cap * elem);
	if (!p)
		hl_die("replay", "out of memory");
	return p;
}

static uint32_t thread_of(struct build *b, int32_t tid, unsigned line)
{
	for (uint32_t i = 0; i < b->nthreads; i++)
		if (b->tids[i] == tid)
			return i;
	if (b->nthreads == RP_MAX_THREADS)
		bad_line(line, "more than %d threads: too many to replay",
			 RP_MAX_THREADS);
	b->tids[b->nthreads] = tid;
	return b->nthreads++;
}

static int32_t parent_pid(const struct build *b, int32_t pid)
{
	for (size_t i = 0; i < b->nfork; i++)
		if (b->fork_child[i] == pid)
			return b->fork_parent[i];
	return -1;
}

static int32_t *cur_slot(struct build *b, int32_t pid)
{
	for (size_t i = 0; i < b->ncur; i++)
		if (b->cur_pid[i] == pid)
			return &b->cur_img[i];
	return NULL;
}

static uint32_t new_image(struct build *b, int32_t pid, int32_t parent,
			  unsigned line)
{
	int32_t *cur = cur_slot(b, pid);

	if (b->nimg == MAX_IMAGES)
		bad_line(line, "more than %d process images", MAX_IMAGES);
	b->img = grow(b->img, &b->imgcap, b->nimg + 1, sizeof(*b->img));
	b->img[b->nimg] = (struct image){ pid, parent, 0, 0 };
	if (!cur) {
		b->cur_pid = grow(b->cur_pid, &b->curcap, b->ncur + 1,
				  sizeof(int32_t));
		b->cur_img = realloc(b->cur_img, b->curcap * sizeof(int32_t));
		if (!b->cur_img)
			hl_die("replay", "out of memory");
		b->cur_pid[b->ncur] = pid;
		cur = &b->cur_img[b->ncur++];
	}
	*cur = b->nimg;
	return b->nimg++;
}

/* The image a record of PID belongs to, made on first sight. */
static uint32_t image_of(struct build *b, int32_t pid, unsigned line)
{
	int32_t *cur = cur_slot(b, pid), pp;

	if (cur)
		return *cur;
	pp = parent_pid(b, pid);
	cur = pp >= 0 ? cur_slot(b, pp) : NULL;
	return new_image(b, pid, cur ? *cur : -1, line);
}

static struct rp_op *emit(struct build *b, uint8_t kind, uint32_t thread)
{
	b->ops = grow(b->ops, &b->cap, b->nops + 1, sizeof(*b->ops));
	b->dropped = realloc(b->dropped, b->cap);
	if (!b->dropped)
		hl_die("replay", "out of memory");
	b->dropped[b->nops] = 0;
	memset(&b->ops[b->nops], 0, sizeof(*b->ops));
	b->ops[b->nops].kind = kind;
	b->ops[b->nops].thread = thread;
	return &b->ops[b->nops++];
}

static uint32_t new_handle(struct build *b, uint64_t size, uint32_t thread,
			   uint32_t image)
{
	if (b->nhandles >= UINT32_MAX - 1)
		hl_die("replay", "too many allocations to replay");
	b->h = grow(b->h, &b->hcap, b->nhandles + 1, sizeof(*b->h));
	b->h[b->nhandles] = (struct handle){ size, thread, image };
	return b->nhandles++;
}

/* The block at ADDR of IMAGE, or NULL (then maybe inherited: *INH). */
static struct slot *block_of(struct build *b, uint32_t image, uint64_t addr,
			     int *inherited)
{
	struct slot *s = amap_find(&b->map, amap_key(image, addr));
	const struct image *im = &b->img[image];

	*inherited = 0;
	if (s)
		return s;
	/* A forked child, before any exec, frees what its parent made. */
	for (int32_t p = im->execd ? -1 : im->parent; p >= 0;
	     p = b->img[p].execd ? -1 : b->img[p].parent)
		if (amap_find(&b->map, amap_key(p, addr))) {
			*inherited = 1;
			break;
		}
	return NULL;
}

static void release(struct build *b, struct slot *s, uint32_t thread,
		    int drop)
{
	struct rp_op *o = emit(b, RP_FREE, thread);

	o->old = s->handle;
	b->dropped[b->nops - 1] = drop;
	if (!drop && b->h[s->handle].thread != thread)
		b->cross_thread++;
	b->img[b->h[s->handle].image].live--;
	amap_del(&b->map, s);
}

/* An image ends (exec or exit): its blocks die with it. */
static void drop_image(struct build *b, uint32_t image, uint32_t thread)
{
	/* A deletion may shift a block past the scan: scan again. */
	while (b->img[image].live) {
		for (size_t i = 0; i < b->map.cap; ) {
			struct slot *s = &b->map.s[i];

			if (s->key && s->key >> 48 == (uint64_t)image + 1)
				release(b, s, thread, 1);  /* refills i */
			else
				i++;
		}
	}
}

static void call(struct build *b, const struct rec *r)
{
	uint32_t image = image_of(b, r->pid, r->line);
	uint32_t thread = thread_of(b, r->tid, r->line);
	struct slot *s = NULL;
	struct rp_op *o;
	int inherited = 0;

	b->calls++;
	if (r->kind == RP_FREE || (r->kind == RP_REALLOC && r->ptr)) {
		if (!r->ptr)
			return;			/* free(NULL) */
		s = block_of(b, image, r->ptr, &inherited);
		/* --pid left the parent out: a forked child's unknown
		 * block is one it inherited. */
		if (!s && b->only_pid && !b->img[image].execd &&
		    parent_pid(b, r->pid) >= 0)
			inherited = 1;
		if (!s && inherited) {
			b->inherited++;
			if (r->kind == RP_FREE)
				return;
		} else if (!s) {
			bad_line(r->line, "%s of 0x%llx, which no recorded "
				 "call returned (an unmatched free)", r->kind ==
				 RP_FREE ? "free" : "realloc",
				 (unsigned long long)r->ptr);
		}
		if (r->kind == RP_FREE) {
			release(b, s, thread, 0);
			return;
		}
	}
	{
		struct slot *live = amap_find(&b->map, amap_key(image, r->ret));

		if (live && live != s)
			bad_line(r->line, "0x%llx returned while still live "
				 "(returned at line %u and not freed)",
				 (unsigned long long)r->ret, live->line);
	}
	o = emit(b, s ? RP_REALLOC : r->kind == RP_REALLOC ? RP_MALLOC :
		 r->kind, thread);
	o->size = r->size;
	o->arg = r->arg;
	if (s) {
		uint32_t old = s->handle;

		o->old = old;
		if (b->h[old].thread != thread)
			b->cross_thread++;
		b->img[image].live--;
		amap_del(&b->map, s);
		/* emit() may have moved b->ops: O is still the last op. */
	}
	o->handle = new_handle(b, r->kind == RP_CALLOC ? r->arg * r->size :
			       r->size, thread, image);
	amap_put(&b->map, amap_key(image, r->ret), o->handle, r->line);
	b->img[image].live++;
}

static void note_last_call(struct build *b, int32_t pid, size_t i)
{
	size_t k;

	for (k = 0; k < b->nlast; k++)
		if (b->last_pid[k] == pid)
			break;
	if (k == b->nlast) {
		b->last_pid = grow(b->last_pid, &b->lastcap, b->nlast + 1,
				   sizeof(int32_t));
		b->last_at = realloc(b->last_at, b->lastcap * sizeof(size_t));
		if (!b->last_at)
			hl_die("replay", "out of memory");
		b->last_pid[b->nlast++] = pid;
	}
	b->last_at[k] = i;
}

static size_t last_call(const struct build *b, int32_t pid)
{
	for (size_t k = 0; k < b->nlast; k++)
		if (b->last_pid[k] == pid)
			return b->last_at[k];
	return 0;
}

/* --pid: the records of PID only (the forks stay: they name its parent). */
static void keep_pid(struct recs *rs, int32_t pid)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].pid == pid || rs->v[i].kind == EV_FORK)
			rs->v[n++] = rs->v[i];
	rs->n = n;
}

static void build_ops(struct build *b, struct recs *rs)
{
	b->nested = drop_nested(rs);
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].kind == EV_FORK && !rs->v[i].size) {
			b->fork_child = grow(b->fork_child, &b->forkcap,
					     b->nfork + 1, sizeof(int32_t));
			b->fork_parent = realloc(b->fork_parent,
						 b->forkcap * sizeof(int32_t));
			if (!b->fork_parent)
				hl_die("replay", "out of memory");
			b->fork_child[b->nfork] = rs->v[i].arg;
			b->fork_parent[b->nfork++] = rs->v[i].pid;
		}
	if (b->only_pid)
		keep_pid(rs, b->only_pid);
	qsort(rs->v, rs->n, sizeof(*rs->v), by_time);
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].kind < EV_FORK)
			note_last_call(b, rs->v[i].pid, i);
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->v[i];
		int32_t *cur;

		switch (r->kind) {
		case EV_FORK:
			break;
		case EV_EXEC:
			cur = cur_slot(b, r->pid);
			if (cur)
				drop_image(b, *cur, thread_of(b, r->tid,
							      r->line));
			new_image(b, r->pid, -1, r->line);
			b->img[b->nimg - 1].execd = 1;
			break;
		case EV_EXIT:
			/* The process ends, unless its threads go on. */
			cur = cur_slot(b, r->pid);
			if (cur && r->tid == r->pid && last_call(b, r->pid) < i)
				drop_image(b, *cur, thread_of(b, r->tid,
							      r->line));
			break;
		default:
			call(b, r);
		}
	}
	/* Blocks dropped at the very end change nothing measured. */
	while (b->nops && b->dropped[b->nops - 1])
		b->nops--;
}

/* ------------------------------------------------------------------ */
/* The live curve, the sample points, the op file                      */
/* ------------------------------------------------------------------ */

struct curve {
	long long peak;
	size_t peak_at;
	size_t n;
	long long at[CURVE_POINTS + 2], live[CURVE_POINTS + 2];
};

static long long op_delta(const struct build *b, const struct rp_op *o)
{
	long long d = 0;

	if (o->kind == RP_FREE || o->kind == RP_REALLOC)
		d -= b->h[o->old].size;
	if (o->kind != RP_FREE)
		d += b->h[o->handle].size;
	return d;
}

/*
 * Threads' op chains, and the ops after which the replayer samples the
 * footprint: every new live peak 1% above the last sampled one, and
 * CURVE_POINTS times along the way (those also make the curve).
 */
static void finish_ops(struct build *b, struct curve *c, uint32_t *first)
{
	uint32_t last[RP_MAX_THREADS];
	size_t every = b->nops / CURVE_POINTS + 1;
	long long live = 0, sampled = 0;

	memset(c, 0, sizeof(*c));
	for (uint32_t t = 0; t < b->nthreads; t++)
		first[t] = last[t] = RP_NONE;
	for (size_t i = 0; i < b->nops; i++) {
		struct rp_op *o = &b->ops[i];

		o->next = RP_NONE;
		if (last[o->thread] == RP_NONE)
			first[o->thread] = i;
		else
			b->ops[last[o->thread]].next = i;
		last[o->thread] = i;
		live += op_delta(b, o);
		if (live > c->peak) {
			c->peak = live;
			c->peak_at = i;
		}
		if (live > sampled + sampled / 100) {
			o->flags |= RP_SAMPLE;
			sampled = live;
		}
		if (i % every == 0 || i + 1 == b->nops) {
			o->flags |= RP_SAMPLE;
			if (c->n < CURVE_POINTS + 2) {
				c->at[c->n] = i;
				c->live[c->n++] = live;
			}
		}
	}
}

static void write_ops(const char *path, const struct build *b,
		      const uint32_t *first)
{
	struct rp_header h = { .nthreads = b->nthreads, .nops = b->nops,
			       .nhandles = b->nhandles };
	FILE *f = fopen(path, "w");

	memcpy(h.magic, RP_MAGIC, 8);
	if (!f || fwrite(&h, sizeof(h), 1, f) != 1 ||
	    fwrite(first, sizeof(*first), b->nthreads, f) != b->nthreads ||
	    fwrite(b->ops, sizeof(*b->ops), b->nops, f) != b->nops ||
	    fclose(f) != 0)
		hl_die("replay", "cannot write %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Running it                                                          */
/* ------------------------------------------------------------------ */

static struct json *replay_one(const struct hl_alloc *a, const char *opfile,
			       long long peak_live)
{
	char path[4096], *out;
	char *argv[] = { path, (char *)opfile, NULL };
	struct json *r = json_obj();
	long long fp, own, ns, ops;
	int st;

	hl_target_path(path, sizeof(path), "replayer");
	st = hl_target_capture(a, argv, &out);
	if (st != 0) {
		long long op = hl_out_value(out, "failed_op", -1);

		json_set(r, "allocator", json_str(a->name));
		json_set(r, "failed", op >= 0 ?
			 json_strf("call %lld of the replay returned NULL",
				   op) :
			 json_strf("the replayer exited with status %d", st));
		free(out);
		return r;
	}
	fp = hl_out_value(out, "peak_footprint", 0);
	own = hl_out_value(out, "phase_peak_footprint", -1);
	ns = hl_out_value(out, "ns", 1);
	ops = hl_out_value(out, "ops", 0);
	free(out);
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "peak_footprint", json_int(own >= 0 ? own : fp));
	json_set(r, "footprint_source", json_str(own >= 0 ?
		 "the allocator's own count (heap_size + mapped_bytes)" :
		 "measured outside: break movement + rw anonymous mappings"));
	json_set(r, "outside_footprint", json_int(fp));
	json_set(r, "utilization", json_num(pl_round((double)peak_live /
			((own >= 0 ? own : fp) > 0 ? (own >= 0 ? own : fp) : 1),
			3)));
	json_set(r, "time_ms", json_num(pl_round(ns / 1e6, 2)));
	json_set(r, "calls_per_second", json_int(ns > 0 ? (long long)
			(ops * 1e9 / ns) : 0));
	return r;
}

/* The replay itself traced, for comparison with the recording. */
static void record(const struct hl_alloc *a, const char *opfile,
		   const char *out_path)
{
	char self[PATH_MAX], path[4096], *out;
	char *argv[] = { self, "trace", "-e", "ptrace", "--events", "calls",
			 "-a", a->path[0] ? (char *)a->path : "glibc", "-f",
			 "jsonl", "-o", (char *)out_path, "--", path,
			 (char *)opfile, NULL };
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int st;

	if (n < 0)
		hl_die("replay", "cannot read /proc/self/exe: %s",
		       strerror(errno));
	self[n] = '\0';
	hl_target_path(path, sizeof(path), "replayer");
	st = hl_capture(argv, NULL, 0, &out, NULL);
	free(out);
	if (st != 0)
		hl_die("replay", "the recorded replay failed (exit status %d)",
		       st);
}

static void print_text(const struct json *doc)
{
	const struct json *runs = json_get(doc, "allocators");

	printf("heaplab replay: %s\n", pl_str(doc, "trace"));
	printf("  %lld calls replayed on %lld threads (%lld process images; "
	       "%lld of the calls are frees of what an image held when it "
	       "ended); peak live %lld B\n",
	       pl_int(doc, "ops"),
	       pl_int(doc, "threads"),
	       pl_int(doc, "images"),
	       pl_int(doc, "image_end_frees"),
	       pl_int(doc, "peak_live"));
	printf("  %lld frees on another thread than the allocation; skipped: "
	       "%lld frees of blocks inherited over fork, %lld failed calls, "
	       "%lld calls made inside another\n\n",
	       pl_int(doc, "cross_thread_frees"),
	       pl_int(doc, "inherited_frees"),
	       pl_int(doc, "failed_calls"),
	       pl_int(doc, "nested_calls"));
	printf("%-10s %14s %12s %10s %14s\n", "allocator", "peak footprint",
	       "utilization", "time (ms)", "calls/s");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		if (json_get(r, "failed")) {
			printf("%-10s FAILED: %s\n", pl_str(r, "allocator"),
			       pl_str(r, "failed"));
			continue;
		}
		printf("%-10s %14lld %12.3f %10.2f %14lld\n",
		       pl_str(r, "allocator"),
		       pl_int(r, "peak_footprint"),
		       json_as_num(json_get(r, "utilization"), 0),
		       json_as_num(json_get(r, "time_ms"), 0),
		       pl_int(r, "calls_per_second"));
	}
	printf("\nutilization = peak live bytes / peak footprint; the phases "
	       "count their own footprint,\nthe others are measured from "
	       "outside (break movement + rw anonymous mappings).\nTime "
	       "includes handing the turn between threads.\n");
}

static void replay_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab replay FILE [-a ALLOC]... [--pid PID] [--json]\n"
		"                    [--record OUT]\n"
		"\n"
		"Replays the malloc/free/realloc calls (and calloc, the memalign\n"
		"family) of FILE, a 'heaplab trace -f jsonl' recording, against\n"
		"each allocator in a fresh process: addresses become handles,\n"
		"one thread per traced thread, every call in the order the\n"
		"recording shows it took effect, a block freed by another thread\n"
		"than its maker freed that way. Reports the peak live bytes,\n"
		"and per allocator the peak footprint, the utilization (peak\n"
		"live / peak footprint) and the throughput. The phases count\n"
		"their own footprint; the others are measured from outside:\n"
		"break movement plus rw anonymous mappings, sampled at every\n"
		"new live peak. A recording with a free of an address no call\n"
		"returned, or a line that is no trace record, is refused with\n"
		"the line named.\n"
		"\n"
		"  -a, --alloc ALLOC   an allocator (repeatable); default glibc,\n"
		"                      heaplab, phase1..phase6 and the installed\n"
		"                      jemalloc, mimalloc, tcmalloc\n"
		"      --pid PID       only the calls of process PID (its threads,\n"
		"                      and its images across execs); the frees\n"
		"                      of blocks it inherited are skipped\n"
		"      --json          the results as JSON, with the live curve\n"
		"      --record OUT    also replay under the first allocator with\n"
		"                      heaplab trace --events calls, into OUT\n");
}

static const char *const defaults[] = {
	"glibc", "heaplab", "phase1", "phase2", "phase3", "phase4", "phase5",
	"phase6", "jemalloc", "mimalloc", "tcmalloc", NULL,
};

static struct json *curve_json(const struct curve *c)
{
	struct json *a = json_arr();

	for (size_t i = 0; i < c->n; i++) {
		struct json *p = json_push(a, json_obj());

		json_set(p, "call", json_int(c->at[i]));
		json_set(p, "live", json_int(c->live[i]));
	}
	return a;
}

static int replay_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "record", required_argument, NULL, 'r' },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct hl_alloc alloc[PL_MAX_ALLOCS];
	size_t nalloc = 0, skipped = 0, cap = 0;
	const char *rec_path = NULL;
	char opfile[] = "/tmp/heaplab-replay.XXXXXX", *line = NULL;
	struct build b = { 0 };
	struct recs rs = { 0 };
	struct curve *cv;
	uint32_t *first;
	struct json *doc, *runs;
	unsigned lineno = 0;
	char *end;
	long pid;
	int c, json = 0, fd;
	FILE *f;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (nalloc == PL_MAX_ALLOCS)
				return hl_usage("replay", "at most %d "
						"allocators", PL_MAX_ALLOCS);
			if (hl_alloc_resolve("replay", optarg,
					     &alloc[nalloc]) < 0)
				return HL_EXIT_USAGE;
			nalloc++;
			break;
		case 'j': json = 1; break;
		case 'r': rec_path = optarg; break;
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || end == optarg || pid < 1 || pid > INT32_MAX)
				return hl_usage("replay", "--pid wants a process "
						"id, not '%s'", optarg);
			b.only_pid = (int32_t)pid;
			break;
		case 'h': replay_help(stdout); return 0;
		default: return hl_getopt_error("replay", c, argv);
		}
	}
	if (optind != argc - 1)
		return hl_usage("replay", optind < argc ? "one trace file, "
				"please" : "no trace file named");
	in_file = argv[optind];
	if (!nalloc)
		for (const char *const *d = defaults; *d; d++)
			if (hl_alloc_available(*d))
				hl_alloc_resolve("replay", *d,
						 &alloc[nalloc++]);
	f = fopen(in_file, "r");
	if (!f)
		hl_die("replay", "cannot read %s: %s", in_file,
		       strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[strspn(line, " \t\r\n")])
			read_line(&rs, line, lineno, &skipped);
	}
	free(line);
	fclose(f);
	build_ops(&b, &rs);
	free(rs.v);
	if (!b.nops)
		hl_die("replay", b.only_pid ? "%s holds no allocator calls of "
		       "process %d" : "%s holds no allocator calls (was it "
		       "recorded with --events syscalls?)", in_file, b.only_pid);
	cv = malloc(sizeof(*cv));
	first = malloc(b.nthreads * sizeof(*first));
	if (!cv || !first)
		hl_die("replay", "out of memory");
	finish_ops(&b, cv, first);
	fd = mkstemp(opfile);
	if (fd < 0)
		hl_die("replay", "cannot create a temporary file: %s",
		       strerror(errno));
	close(fd);
	write_ops(opfile, &b, first);

	doc = json_obj();
	json_set(doc, "trace", json_str(in_file));
	if (b.only_pid)
		json_set(doc, "pid", json_int(b.only_pid));
	json_set(doc, "recorded_calls", json_int(b.calls));
	json_set(doc, "ops", json_int(b.nops));
	{
		size_t ends = 0;

		for (size_t i = 0; i < b.nops; i++)
			ends += b.dropped[i];
		json_set(doc, "image_end_frees", json_int(ends));
	}
	json_set(doc, "threads", json_int(b.nthreads));
	json_set(doc, "images", json_int(b.nimg));
	json_set(doc, "cross_thread_frees", json_int(b.cross_thread));
	json_set(doc, "inherited_frees", json_int(b.inherited));
	json_set(doc, "failed_calls", json_int(skipped));
	json_set(doc, "nested_calls", json_int(b.nested));
	json_set(doc, "peak_live", json_int(cv->peak));
	json_set(doc, "peak_live_at_call", json_int(cv->peak_at));
	json_set(doc, "live_curve", curve_json(cv));
	runs = json_set(doc, "allocators", json_arr());
	for (size_t i = 0; i < nalloc; i++)
		json_push(runs, replay_one(&alloc[i], opfile, cv->peak));
	if (rec_path)
		record(&alloc[0], opfile, rec_path);
	unlink(opfile);
	if (json)
		json_write(stdout, doc, 2);
	else
		print_text(doc);
	json_free(doc);
	free(cv);
	free(first);
	free(b.ops);
	free(b.dropped);
	free(b.h);
	free(b.last_pid);
	free(b.last_at);
	free(b.img);
	free(b.cur_pid);
	free(b.cur_img);
	free(b.fork_child);
	free(b.fork_parent);
	free(b.map.s);
	return 0;
}

const struct hl_cmd hl_cmd_replay = {
	.name = "replay",
	.summary = "replay a recorded trace's allocations on each allocator",
	.main = replay_main,
	.help = replay_help,
};
