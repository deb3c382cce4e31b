// SPDX-License-Identifier: MIT
/*
 * engine.c — the ebpf engine (engine.h): launch, drain, and hand the
 * records to the merge (probes/merge.h), which joins each syscall to the
 * call open on its thread and merges the threads by time.
 *
 * The kernel's records come through the BPF ring, the allocator calls
 * through the tap's lanes, each asynchronously. Each drain cycle notes the
 * time and which threads the tap shows inside a call, takes in everything
 * published since, and gives the merge that cycle (merge.c says how the
 * frontier follows from it).
 *
 * A drain thread empties the tap's lanes every DRAIN_SLEEP_US into a chain
 * of blocks (reused through a free list) that the main loop takes at each
 * cycle, so the lanes stay nearly empty and rewind to their first pages
 * (probes/tap/ring.h): the target writes into memory that is mapped and in
 * cache, and a slow output costs the tracer memory, never dropped calls.
 *
 * With -f hlt the merge does not run here: the same inputs, in the same
 * order, go to the file (hlt.h, HLTRACE2) and `heaplab trace -i` joins
 * them. The drain thread then packs the calls straight into the file's
 * format, a few ns each, and the main loop writes the blocks out whole.
 *
 * With --uprobes there is no tap: the BPF side notes the call open at each
 * syscall's entry (as ptrace reads it from the tap). The uprobes are
 * attached by pid, each process of the tree held until it has its own
 * (attach_calls(), on_hold(), exec_uprobes()): the rest of the machine
 * takes no trap.
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "probes/ebpf/ebpf.h"
#include "probes/ebpf/engine.h"
#include "probes/event.h"
#include "probes/hlt.h"
#include "probes/merge.h"

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

/*
 * Tap records drained by the drain thread, for the main loop: as they are
 * (struct staged) for the merge, or packed into the file's calls blocks
 * (hlt.h) with -f hlt. One block of the merge's pool each.
 */
#define STAGE_BYTES	(HL_MERGE_BLOCK - 16)
#define STAGE_RECS	(STAGE_BYTES / sizeof(struct staged))
struct staged {
	uint32_t pid, tid;
	struct hl_tap_rec rec;
};

struct stage_blk {
	struct stage_blk *next;
	size_t n;			/* records, or bytes when packed */
	union {
		struct staged r[STAGE_RECS];
		char bytes[STAGE_BYTES];
	};
};
_Static_assert(sizeof(struct stage_blk) <= HL_MERGE_BLOCK,
	       "a chain block is a pool block");

struct hl_ebpf_engine {
	struct hl_ebpf_run_opts o;
	struct hl_ebpf *e;
	struct hl_merge *m;		/* its pool serves the chain too */
	struct hlt_writer *raw;		/* -f hlt: the inputs go there */
	pid_t root;
	int started;
	int err;
	/* Threads gone since the last cycle: their lanes are freed then. */
	uint32_t *gone;
	size_t ngone, capgone;
	/* --uprobes: the object defining malloc for dynamic programs, and
	 * the statically linked programs seen (paths kept for good: links
	 * name them by address, hl_ebpf_attached()). */
	const char *call_obj;
	/* The open-file limit as heaplab found it, when raised for the
	 * links: the target gets it back (child()). */
	struct rlimit nofile;
	int nofile_raised;
	char *statics[64];
	size_t nstatic;
	int fd_warned;
	/*
	 * The tap's reader and the chain below belong to whoever holds
	 * lock: the drain thread, or the main loop taking the chain.
	 */
	pthread_mutex_t lock;
	pthread_t drainer;
	int draining;			/* the drain thread runs */
	atomic_int stop;
	/* The drain thread pauses on this, so that the end need not wait
	 * out its pause (up to DRAIN_IDLE_US). */
	pthread_mutex_t nap_lock;
	pthread_cond_t nap;
	struct stage_blk *first, *last;	/* drained, in drain order */
	int stage_err;
	/* -f hlt: the calls block open at the end of the chain, if any. */
	struct hlt_calls pack;
	uint32_t pack_pid, pack_tid;
	int packing;
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

/* ---- the merge's inputs: to the merge, or to the file ---- */

static void in_kernel(struct hl_ebpf_engine *g, uint32_t tid, uint32_t pid,
		      const struct hl_merge_kin *k)
{
	if (g->raw)
		hlt_raw_kernel(g->raw, tid, pid, k);
	else
		hl_merge_kernel(g->m, tid, pid, k);
}

/* TID's lanes are freed at the next cycle, what they hold drained first. */
static void free_lanes(struct hl_ebpf_engine *g, uint32_t tid)
{
	if (g->ngone == g->capgone) {
		size_t cap = g->capgone ? g->capgone * 2 : 16;
		uint32_t *v = realloc(g->gone, cap * sizeof(*v));

		if (v) {
			g->gone = v;
			g->capgone = cap;
		}
	}
	if (g->ngone < g->capgone)
		g->gone[g->ngone++] = tid;
	else
		g->err = ENOMEM;	/* its lane is freed at the end */
}

/* TID did nothing after AT. */
static void in_gone(struct hl_ebpf_engine *g, uint32_t tid, uint64_t at)
{
	if (g->raw)
		hlt_raw_gone(g->raw, tid, at);
	else
		hl_merge_gone(g->m, tid, at);
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
	struct hl_merge_kin k = { .type = HL_MERGE_SYSCALL, .key = s->h.ts_ns };
	struct hl_tap_open inner = { 0 };

	if (!ki)
		return;
	k.ev.ts_ns = s->h.ts_ns;
	k.ev.end_ns = s->exit_ns;
	k.ev.pid = s->h.pid;
	k.ev.tid = s->h.tid;
	k.ev.kind = kind;
	/* Only the syscall's own arguments: the other registers are noise. */
	for (unsigned i = 0; i < ki->nargs; i++)
		k.ev.args[i] = s->args[i];
	k.ev.ret = s->ret;
	if (s->flags & MT_F_LOADER)
		k.ev.cause = HL_CAUSE_LOADER;
	else if (s->flags & MT_F_TAP)
		k.ev.cause = HL_CAUSE_TAP;
	if (s->flags & MT_F_UNFINISHED) {
		k.ev.flags |= HL_EVF_UNFINISHED;
		k.ev.ret = 0;
	}
	if ((s->flags & MT_F_CAUSE) && s->h.size >= sizeof(*s)) {
		inner.ts_ns = s->cause_ts;
		inner.kind = s->cause_fn;
		for (int i = 0; i < 3; i++)
			inner.args[i] = s->cause_args[i];
		k.inner = &inner;
		k.outer_ts = s->outer_ts;
	}
	in_kernel(g, s->h.tid, s->h.pid, &k);
}

static void on_fork(struct hl_ebpf_engine *g, const struct mt_fork *f)
{
	struct hl_merge_kin k = { .type = HL_MERGE_OTHER, .key = f->h.ts_ns };

	k.ev.ts_ns = k.ev.end_ns = f->h.ts_ns;
	k.ev.pid = f->h.pid;
	k.ev.tid = f->h.tid;
	k.ev.kind = HL_EV_FORK;
	k.ev.args[0] = f->thread ? f->child_tid : f->child_pid;
	k.ev.args[1] = f->vfork;
	k.ev.args[2] = f->thread;
	k.ev.ret = k.ev.args[0];
	in_kernel(g, f->h.tid, f->h.pid, &k);
}

static int attach_proc(struct hl_ebpf_engine *g, pid_t pid, const char *exe,
		       char *why, size_t len);

/*
 * --uprobes: PID (held stopped) gets its own uprobes, if it has none yet
 * on its image's objects. A failure is said: its calls go unrecorded.
 */
static void pid_uprobes(struct hl_ebpf_engine *g, uint32_t pid)
{
	char link[64], exe[PATH_MAX], why[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return;		/* gone already */
	exe[n] = '\0';
	if (attach_proc(g, pid, exe, why, sizeof(why)) < 0) {
		int err = errno ? errno : EIO;

		hl_warn(g->o.cmd, "--uprobes: pid %u: %s: its allocator calls "
			"are not recorded", pid, why);
		/* The trace ends incomplete, saying why. */
		if (!g->err)
			g->err = err;
	}
}

/*
 * A forked child, stopped at its return from fork: its uprobes, then on.
 * It had its parent's breakpoints in its copied pages, but they are not
 * its own: the probes' filter rejects its mm and removes them at its first
 * hit (bench/README.md, "Uprobes by pid").
 */
static void on_hold(struct hl_ebpf_engine *g, const struct mt_hold *h)
{
	pid_uprobes(g, h->h.pid);
	if (h->held && kill(h->h.pid, SIGCONT) < 0 && errno != ESRCH)
		hl_warn(g->o.cmd, "cannot continue pid %u: %s", h->h.pid,
			strerror(errno));
}

/*
 * An exec: a process's uprobes follow it into its new image (their task
 * is the same), but a vfork child used its parent's until now, a static
 * image needs its own file's, and a thread that exec'd took over from
 * the leader, the task the old uprobes were opened on.
 */
static void exec_uprobes(struct hl_ebpf_engine *g, const struct mt_exec *x)
{
	if (x->old_tid != x->h.tid)
		hl_ebpf_detach_pid(g->e, x->h.pid);
	pid_uprobes(g, x->h.pid);
}

static void on_exec(struct hl_ebpf_engine *g, const struct mt_exec *x)
{
	struct hl_merge_kin k = { .type = HL_MERGE_OTHER, .key = x->h.ts_ns };
	char path[sizeof(x->path) + 1];

	if (x->h.pid == (uint32_t)g->root)
		g->started = 1;
	if (g->o.uprobes)
		exec_uprobes(g, x);
	/* Stopped by the kernel side before its first instruction. */
	if (x->held && kill(x->h.pid, SIGCONT) < 0 && errno != ESRCH)
		hl_warn(g->o.cmd, "cannot continue pid %u: %s", x->h.pid,
			strerror(errno));
	/* A thread that was not the leader took the leader's tid. */
	if (x->old_tid != x->h.tid) {
		free_lanes(g, x->old_tid);
		in_gone(g, x->old_tid, x->h.ts_ns);
	}
	k.ev.ts_ns = k.ev.end_ns = x->h.ts_ns;
	k.ev.pid = x->h.pid;
	k.ev.tid = x->h.tid;
	k.ev.kind = HL_EV_EXEC;
	k.ev.args[0] = x->old_tid != x->h.tid ? x->old_tid : 0;
	memcpy(path, x->path, sizeof(x->path));
	path[sizeof(x->path)] = '\0';
	k.str = path;
	in_kernel(g, x->h.tid, x->h.pid, &k);
}

static void on_exit_rec(struct hl_ebpf_engine *g, const struct mt_exit *x)
{
	struct hl_merge_kin k = { .type = HL_MERGE_OTHER, .key = x->h.ts_ns };

	k.ev.ts_ns = k.ev.end_ns = x->h.ts_ns;
	k.ev.pid = x->h.pid;
	k.ev.tid = x->h.tid;
	k.ev.kind = HL_EV_EXIT;
	k.ev.args[0] = (x->code >> 8) & 0xff;
	k.ev.args[1] = x->code & 0x7f;
	k.ev.ret = status_of(x->code);
	in_kernel(g, x->h.tid, x->h.pid, &k);
	/* Its last record: the ring keeps each thread's records in order. */
	in_gone(g, x->h.tid, x->h.ts_ns);
	/*
	 * A leader that goes before its process keeps its lanes until the
	 * process ends: it went because another thread exec'd, which takes
	 * its tid, and the new image may claim a lane under that tid before
	 * the next cycle frees the tid's lanes, and write on in a lane freed
	 * under it, never drained (or pthread_exit: nothing lost by waiting).
	 */
	if (x->h.tid != x->h.pid || x->group_dead)
		free_lanes(g, x->h.tid);
	if (x->group_dead && x->h.tid != x->h.pid)
		free_lanes(g, x->h.pid);
	/* Its uprobes can go: in the background, they wait for RCU. */
	if (x->group_dead && g->o.uprobes)
		hl_ebpf_detach_pid(g->e, x->h.pid);
}

static void on_usdt(struct hl_ebpf_engine *g, const struct mt_usdt *u)
{
	const struct hl_kind_info *ki = hl_kind_info(u->probe);
	struct hl_merge_kin k = { .type = HL_MERGE_OTHER, .key = u->h.ts_ns };

	if (!ki)
		return;
	k.ev.ts_ns = k.ev.end_ns = u->h.ts_ns;
	k.ev.pid = u->h.pid;
	k.ev.tid = u->h.tid;
	k.ev.kind = u->probe;
	for (unsigned i = 0; i < ki->nargs && i < MT_USDT_ARGS; i++)
		k.ev.args[i] = u->args[i];
	in_kernel(g, u->h.tid, u->h.pid, &k);
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
	if (g->raw)
		hlt_raw_call(g->raw, c->h.pid, c->h.tid, &rec);
	else
		hl_merge_call(g->m, c->h.pid, c->h.tid, &rec);
}

static int on_record(const struct mt_hdr *h, void *ctx)
{
	struct hl_ebpf_engine *g = ctx;

	switch (h->type) {
	case MT_SYSCALL:
		if (h->size < MT_SYSCALL_SHORT)
			break;
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
	case MT_HOLD:
		on_hold(g, (const void *)h);
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

/* A fresh block at the end of the chain (lock held); NULL: no memory. */
static struct stage_blk *stage_new(struct hl_ebpf_engine *g)
{
	struct stage_blk *b = hl_merge_block_get(g->m);

	if (!b) {
		g->stage_err = ENOMEM;
		return NULL;
	}
	b->next = NULL;
	b->n = 0;
	if (g->last)
		g->last->next = b;
	else
		g->first = b;
	g->last = b;
	return b;
}

/*
 * A record drained (an hl_tap_fn; lock held): onto the chain, in a block
 * from the pool, so a steady rate reuses its pages.
 */
static void on_stage(void *ctx, uint32_t pid, uint32_t tid,
		     const struct hl_tap_rec *rec)
{
	struct hl_ebpf_engine *g = ctx;
	struct stage_blk *b = g->last;

	if ((!b || b->n == STAGE_RECS) && !(b = stage_new(g)))
		return;
	b->r[b->n++] = (struct staged){ pid, tid, *rec };
}

/* -f hlt: the calls block open at the chain's end is closed (lock held). */
static void pack_close(struct hl_ebpf_engine *g)
{
	struct stage_blk *b = g->last;

	if (!g->packing)
		return;
	b->n = (size_t)(hlt_calls_end(b->bytes + b->n) - b->bytes);
	g->packing = 0;
}

/*
 * -f hlt: a record drained, packed into the file's calls blocks (hlt.h)
 * at the chain's end: a block per run of one thread's records, a new one
 * where the chain block is full (room is always kept for the end byte).
 */
static void on_pack(void *ctx, uint32_t pid, uint32_t tid,
		    const struct hl_tap_rec *rec)
{
	struct hl_ebpf_engine *g = ctx;
	struct stage_blk *b = g->last;
	size_t need = HLT_CALL_MAX + 1;
	char *c;

	if (g->packing && (g->pack_tid != tid || g->pack_pid != pid))
		pack_close(g);
	if (!g->packing)
		need += HLT_CALLS_HEAD_MAX;
	if (!b || b->n + need > STAGE_BYTES) {
		pack_close(g);
		if (!(b = stage_new(g)))
			return;
		need = HLT_CALLS_HEAD_MAX + HLT_CALL_MAX + 1;
	}
	c = b->bytes + b->n;
	if (!g->packing) {
		c = hlt_calls_begin(c, &g->pack, pid, tid);
		g->packing = 1;
		g->pack_pid = pid;
		g->pack_tid = tid;
	}
	c = hlt_calls_put(c, &g->pack, rec);
	b->n = (size_t)(c - b->bytes);
}

static void drain(struct hl_ebpf_engine *g, size_t *n)
{
	*n = hl_tap_drain(g->o.tap, g->raw ? on_pack : on_stage, g);
}

/* Lock held: the chain so far, for the caller to unstage. */
static struct stage_blk *take_chain(struct hl_ebpf_engine *g)
{
	struct stage_blk *b = g->first;

	if (g->raw)
		pack_close(g);
	g->first = g->last = NULL;
	return b;
}

/* The records of chain B to the merge or the file; the blocks to spare. */
static void unstage(struct hl_ebpf_engine *g, struct stage_blk *b)
{
	for (struct stage_blk *x = b; x; x = x->next) {
		if (g->raw) {
			hlt_raw_bytes(g->raw, x->bytes, x->n);
			continue;
		}
		for (size_t i = 0; i < x->n; i++)
			hl_merge_call(g->m, x->r[i].pid, x->r[i].tid,
				      &x->r[i].rec);
	}
	for (struct stage_blk *x = b, *next; x; x = next) {
		next = x->next;
		hl_merge_block_put(g->m, x);
	}
}

/* The drain thread's pause of US microseconds, cut short by drainer_stop(). */
static void nap(struct hl_ebpf_engine *g, long us)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += us * 1000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g->nap_lock);
	if (!atomic_load(&g->stop))
		pthread_cond_timedwait(&g->nap, &g->nap_lock, &t);
	pthread_mutex_unlock(&g->nap_lock);
}

/*
 * The drain thread: empties every lane, again until a pass finds nothing
 * (each pass is short, so a few catch up with a thread that is writing), so
 * the writer finds its lane empty and rewinds; then pauses.
 */
static void *drain_loop(void *arg)
{
	struct hl_ebpf_engine *g = arg;

	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		size_t got = 0;

		for (int i = 0; i < DRAIN_PASSES; i++) {
			size_t n;

			pthread_mutex_lock(&g->lock);
			drain(g, &n);
			pthread_mutex_unlock(&g->lock);
			got += n;
			if (!n)
				break;
		}
		nap(g, got ? DRAIN_SLEEP_US : DRAIN_IDLE_US);
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
	pthread_mutex_lock(&g->nap_lock);
	atomic_store(&g->stop, 1);
	pthread_cond_signal(&g->nap);
	pthread_mutex_unlock(&g->nap_lock);
	pthread_join(g->drainer, NULL);
	g->draining = 0;
}

/*
 * A thread inside an allocator call, seen in its lane: calls nest, so
 * every call begun before the outermost open one has returned. Since when:
 * that call's stamp, converted by the reader (so the lock is taken).
 */
static size_t busy_tids(struct hl_ebpf_engine *g, struct hl_merge_busy *busy,
			size_t max)
{
	struct hl_tap_reader *tap = g->o.tap;
	size_t n = 0;

	pthread_mutex_lock(&g->lock);
	for (uint32_t i = 0; i < tap->hdr->nlanes && n < max; i++) {
		struct hl_tap_lane *l = hl_tap_lane(tap->hdr, i);
		uint32_t owner = atomic_load_explicit(&l->owner,
						      memory_order_acquire);
		uint32_t d = l->depth;

		if (owner && d && d < 1u << 20) {
			busy[n].tid = owner;
			busy[n++].since = hl_tap_stamp_ns(tap, l->open[0].stamp);
		}
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

/*
 * Everything the lanes hold now, and the lanes of threads that are gone
 * (drained, then freed), after what the drain thread took before. FINAL:
 * every thread is gone, every lane is freed.
 */
static void take_tap(struct hl_ebpf_engine *g, int final)
{
	hl_tap_fn fn = g->raw ? on_pack : on_stage;
	struct hl_tap_reader *tap = g->o.tap;
	struct stage_blk *chain;
	size_t n;

	pthread_mutex_lock(&g->lock);
	drain(g, &n);
	/* Dead: what their lanes hold is all there will be. */
	for (size_t i = 0; i < g->ngone; i++)
		hl_tap_release_tid(tap, g->gone[i], fn, g);
	g->ngone = 0;
	for (uint32_t i = 0; final && i < tap->hdr->nlanes; i++) {
		uint32_t owner = atomic_load(&hl_tap_lane(tap->hdr, i)->owner);

		if (owner)
			hl_tap_release_tid(tap, owner, fn, g);
	}
	chain = take_chain(g);
	if (g->stage_err && !g->err)
		g->err = g->stage_err;
	pthread_mutex_unlock(&g->lock);
	unstage(g, chain);
}

/*
 * One drain cycle: take the time and note which threads are inside a call,
 * take in everything published since, then the merge moves the frontiers
 * and passes on what they allow (or the file notes the cycle).
 */
static void cycle(struct hl_ebpf_engine *g, int final)
{
	struct hl_merge_busy busy[HL_TAP_LANES * 4];
	uint64_t r = now_ns();
	size_t nbusy = 0;

	if (g->o.tap)
		nbusy = busy_tids(g, busy, sizeof(busy) / sizeof(busy[0]));
	if (hl_ebpf_poll(g->e, 0) < 0 && errno != EINTR && !g->err)
		g->err = errno;
	if (g->o.tap)
		take_tap(g, final);
	else
		g->ngone = 0;
	if (g->raw)
		hlt_raw_cycle(g->raw, r, busy, nbusy, final);
	else
		hl_merge_cycle(g->m, r, busy, nbusy, final);
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
 * EXE's path as kept for good when it is statically linked (it has its
 * own malloc: uprobes on it too), else NULL. WHY says when it cannot be.
 */
static const char *static_image(struct hl_ebpf_engine *g, const char *exe,
				char *why, size_t len)
{
	char *dup;

	for (size_t i = 0; i < g->nstatic; i++)
		if (!strcmp(g->statics[i], exe))
			return g->statics[i];
	if (!is_static(exe))
		return NULL;
	if (g->nstatic == sizeof(g->statics) / sizeof(g->statics[0]) ||
	    !(dup = strdup(exe))) {
		snprintf(why, len, "too many statically linked programs (%zu)",
			 g->nstatic);
		return NULL;
	}
	g->statics[g->nstatic++] = dup;
	return dup;
}

/*
 * Raising the soft limit on open files to the hard one: every traced
 * process holds two links (fds) per allocator function while it lives,
 * and a gone one's until the reaper has closed them. heaplab's own: the
 * target runs with the limit it would have had (child()).
 */
static void raise_nofile(struct hl_ebpf_engine *g)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &g->nofile) == 0 &&
	    g->nofile.rlim_cur < g->nofile.rlim_max) {
		rl = g->nofile;
		rl.rlim_cur = rl.rlim_max;
		g->nofile_raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
	}
}

/* OBJ's malloc family for PID, unless it has them. Returns what
 * hl_ebpf_attach_calls() does, 0 also when attached before. */
static int attach_obj(struct hl_ebpf_engine *g, pid_t pid, const char *obj,
		      char *why, size_t len)
{
	struct hl_ebpf_probe p[HL_EV_NKINDS];
	size_t n = call_probes(p);
	int got;

	if (hl_ebpf_attached(g->e, pid, obj))
		return 0;
	got = hl_ebpf_attach_calls(g->e, obj, pid, p, n, why, len);
	if (got < 0 && strstr(why, "Too many open files") && !g->fd_warned++)
		hl_warn(g->o.cmd, "--uprobes: out of file descriptors "
			"(RLIMIT_NOFILE) with %zu uprobe links open",
			hl_ebpf_nlinks(g->e));
	return got;
}

/*
 * --uprobes, for process PID whose image is EXE: the object that defines
 * malloc for it (the preloaded allocator, else libc), and EXE itself when
 * statically linked. By pid: only the traced tree takes the traps (the
 * uprobes of a file would stop every process on the machine that calls
 * malloc there). Returns how many functions were attached, -1 with WHY.
 */
static int attach_proc(struct hl_ebpf_engine *g, pid_t pid, const char *exe,
		       char *why, size_t len)
{
	const char *st;
	int got, sgot = 0;

	why[0] = '\0';
	got = attach_obj(g, pid, g->call_obj, why, len);
	if (got < 0)
		return -1;
	st = static_image(g, exe, why, len);
	if (!st && why[0])
		return -1;
	if (st) {
		sgot = attach_obj(g, pid, st, why, len);
		if (sgot < 0)
			return -1;
		if (sgot == 0 && !hl_ebpf_attached(g->e, pid, st)) {
			snprintf(why, len, "'%s' is statically linked and has "
				 "no malloc symbol for uprobes (stripped?)", exe);
			return -1;
		}
	}
	return got + sgot;
}

/*
 * --uprobes: the root, forked and not yet released to exec, gets its
 * uprobes by pid; they follow it across exec (the preloaded allocator is
 * mapped by the new image, and the kernel puts the breakpoints in then).
 * Each forked child is held at its return from fork and attached
 * (on_hold), each exec'd image at its exec (exec_uprobes), so no call of
 * the tree is missed and no other process pays for a probe.
 */
static int attach_calls(struct hl_ebpf_engine *g, char *why, size_t len)
{
	const char *obj = g->call_obj;
	int got;

	got = attach_proc(g, g->root, g->o.path, why, len);
	if (got < 0)
		return -1;
	if (got == 0) {
		if (obj == g->o.alloc_path)
			snprintf(why, len, "'%s' defines no malloc to put "
				 "uprobes on", obj);
		else
			snprintf(why, len, "no malloc to put uprobes on in %s", obj);
		return -1;
	}
	return got;
}

/* ---- life cycle ---- */

static void locks_init(struct hl_ebpf_engine *g)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->nap_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);	/* as nap() reads */
	pthread_cond_init(&g->nap, &ca);
	pthread_condattr_destroy(&ca);
}

static void locks_fini(struct hl_ebpf_engine *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->nap_lock);
	pthread_cond_destroy(&g->nap);
}

struct hl_ebpf_engine *hl_ebpf_engine_open(const struct hl_ebpf_run_opts *o,
					   char *why, size_t len)
{
	struct hl_ebpf_engine *g = calloc(1, sizeof(*g));
	struct hl_ebpf_opts eo = {
		.syscalls = o->syscalls,
		.calls = o->uprobes,
		.usdt = o->alloc_path && o->alloc_path[0],	/* see attach_usdt */
		.tap_path = o->tap_path,
		/* --uprobes: an exec'd image, a forked child, is attached
		 * to before it runs (see on_exec, on_hold). */
		.hold_execs = o->uprobes,
		.hold_forks = o->uprobes,
	};

	if (!g) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	g->o = *o;
	g->raw = o->hlt;
	g->call_obj = o->alloc_path && o->alloc_path[0] ? o->alloc_path :
		      libc_path();
	if (o->uprobes)
		raise_nofile(g);
	locks_init(g);
	g->m = hl_merge_new(o->tl, o->tap != NULL);
	if (!g->m) {
		snprintf(why, len, "out of memory");
		locks_fini(g);
		free(g);
		return NULL;
	}
	g->e = hl_ebpf_open(&eo, on_record, g, why, len);
	if (!g->e) {
		hl_merge_free(g->m);
		locks_fini(g);
		free(g);
		return NULL;
	}
	return g;
}

int hl_ebpf_engine_procs_fd(const struct hl_ebpf_engine *g)
{
	return hl_ebpf_procs_fd(g->e);
}

void hl_ebpf_engine_close(struct hl_ebpf_engine *g)
{
	if (!g)
		return;
	drainer_stop(g);
	unstage(g, take_chain(g));
	for (size_t i = 0; i < g->nstatic; i++)
		free(g->statics[i]);
	free(g->gone);
	hl_merge_free(g->m);
	locks_fini(g);
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
	if (g->raw)
		hlt_raw_early(g->raw);
	else
		hl_merge_out(g->m);
	hl_tl_flush(g->o.tl);
	if (g->o.on_interrupt)
		g->o.on_interrupt(g->o.ctx);
	g->o.tl->recording = 0;
	hl_warn(g->o.cmd, "%s: trace ended, marked incomplete; waiting for "
		"'%s' to exit (%s)", sig == SIGINT ? "interrupted" : strsignal(sig),
		g->o.argv[0], sig == SIGINT ? "Ctrl-C again kills it" :
		"signal passed on to it");
}

/*
 * The target, held on HOLD until the parent has put it in the filter;
 * NOFILE, if not NULL, is the open-file limit to give it back.
 */
static _Noreturn void child(const struct hl_ebpf_run_opts *o, int hold,
			    const struct rlimit *nofile)
{
	char go;

	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	/* As ptrace's EXITKILL: a tracer that dies takes the target along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(hold, &go, 1) != 1)
		_exit(127);	/* the tracer gave up */
	close(hold);
	if (nofile)
		setrlimit(RLIMIT_NOFILE, nofile);
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
	if (g->raw)
		hlt_raw_start(g->raw, g->o.tap != NULL);
	/* Causes are joined by time here: the tap need not note open calls'
	 * kind and args (ring.h), only their stamps. */
	if (g->o.tap)
		g->o.tap->hdr->open_args = 0;
	{
		r->usdt_probes = attach_usdt(g, why, sizeof(why));
		if (r->usdt_probes < 0) {
			hl_warn(g->o.cmd, "USDT probes: %s", why);
			r->usdt_probes = 0;
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
		child(&g->o, hold[0], g->nofile_raised ? &g->nofile : NULL);
	}
	close(hold[0]);
	if (hl_ebpf_follow(g->e, g->root) < 0) {
		hl_warn(g->o.cmd, "cannot follow pid %d: %s", g->root, strerror(errno));
		close(hold[1]);	/* the child reads EOF and leaves */
		waitpid(g->root, NULL, 0);
		hl_ebpf_engine_close(g);
		return -1;
	}
	if (g->o.uprobes) {
		r->call_probes = attach_calls(g, why, sizeof(why));
		if (r->call_probes < 0) {
			hl_warn(g->o.cmd, "--uprobes: %s", why);
			close(hold[1]);
			waitpid(g->root, NULL, 0);
			hl_ebpf_engine_close(g);
			return -1;
		}
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
		/*
		 * Once the tree's last exit is in (its record woke the poll),
		 * the root's zombie follows at once: wait for it here, not a
		 * whole poll (DRAIN_MS) later.
		 */
		if (!reaped && waitpid(g->root, &wstatus, hl_ebpf_live(g->e) > 0 ?
				       WNOHANG : 0) == g->root)
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
	if (r->lost)
		hl_warn(g->o.cmd, "%llu records lost: the BPF ring (%zu KiB) "
			"was full (the reader could not keep up), or the "
			"kernel side had no room for a thread or process",
			(unsigned long long)r->lost, hl_ebpf_ring_bytes(g->e) >> 10);
	if (!g->err)
		g->err = hl_merge_err(g->m);
	if (g->err)
		hl_warn(g->o.cmd, "ebpf engine: %s", strerror(g->err));
	r->err = g->err;
	hl_ebpf_engine_close(g);
	return 0;
}
