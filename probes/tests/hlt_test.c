// SPDX-License-Identifier: MIT
/*
 * hlt_test.c — the compact binary trace gives back exactly what went in:
 * random events (every kind, threads that come back under another pid,
 * time going backwards between threads, gaps in seq, causes with and
 * without their call, args past a kind's own, exec paths) written as hlt,
 * read back and formatted, must equal the same events formatted directly,
 * byte for byte, as text and as jsonl.  A file cut short anywhere reads as
 * a prefix marked incomplete; a damaged or foreign file is refused.
 *
 * HLTRACE3, the ebpf engine's inputs joined when read: a random run of
 * threads (calls that span drain cycles, nested calls, syscalls inside and
 * outside calls, --uprobes causes, fork/exec/exit, tids gone) fed to the
 * merge directly, as the live engine does, must give the same bytes as the
 * same inputs recorded (the calls packed as the engine's drain thread
 * packs them) and read back; also when the trace ends early (Ctrl-C), and
 * a cut file reads as a prefix marked incomplete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/tests/tap.h"
#include "lab/xorshift.h"
#include "probes/hlt.h"
#include "probes/merge.h"
#include "probes/sink.h"
#include "probes/timeline.h"

#define NEVENTS 100000

static uint64_t rng = 88172645463325252ull;

static uint64_t pick(uint64_t n)
{
	return hl_xorshift(&rng) % n;
}

struct gen {
	uint64_t seq, ts, addr[4];
	char path[400];
};

static uint64_t gen_arg(struct gen *g, int tiny)
{
	switch (pick(5)) {
	case 0: return 0;
	case 1: return pick(200);
	case 2: return (uint64_t)-(int64_t)pick(40);	/* -errno, fd -1 */
	case 3: return tiny ? pick(70000) : hl_xorshift(&rng);
	default: return g->addr[pick(4)] += pick(8192) * 16 - 65536;
	}
}

static void gen_event(struct gen *g, struct hl_event *ev, struct hl_event *cause,
		      const char **str, const struct hl_event **cp)
{
	static const uint32_t pids[] = { 100, 100, 100, 200, 300 };
	static const uint32_t tids[] = { 100, 101, 102, 200, 101 };
	unsigned t = (unsigned)pick(5);
	const struct hl_kind_info *ki;

	memset(ev, 0, sizeof(*ev));
	memset(cause, 0, sizeof(*cause));
	ev->kind = (uint16_t)(1 + pick(HL_EV_NKINDS - 1));
	ki = hl_kind_info(ev->kind);
	ev->seq = g->seq += pick(50) ? 1 : 1 + pick(1000);
	ev->ts_ns = g->ts += pick(20) ? pick(500) : -(uint64_t)pick(100000);
	ev->end_ns = ev->ts_ns + (pick(10) ? pick(3000) : 0);
	ev->pid = pids[t];
	ev->tid = tids[t];
	ev->flags = (uint8_t)(pick(8) ? 0 : pick(4));
	for (int i = 0; i < ki->nargs; i++)
		ev->args[i] = gen_arg(g, 0);
	if (!pick(100))
		ev->args[HL_EV_ARGS - 1] = hl_xorshift(&rng);	/* past the kind's own */
	ev->ret = (int64_t)gen_arg(g, 0);
	ev->cause = (uint8_t)pick(4);
	*cp = NULL;
	if (ev->cause == HL_CAUSE_CALL) {
		ev->cause_seq = ev->seq - pick(30);
		if (pick(10)) {
			cause->kind = (uint16_t)(HL_EV_MALLOC + pick(4));
			cause->seq = pick(5) ? ev->cause_seq : 0;
			cause->pid = ev->pid;
			cause->tid = ev->tid;
			cause->ts_ns = ev->ts_ns - pick(1000);
			cause->end_ns = ev->ts_ns + pick(1000);
			cause->args[0] = gen_arg(g, 1);
			cause->args[1] = gen_arg(g, 1);
			cause->ret = (int64_t)gen_arg(g, 0);
			*cp = cause;
		}
	}
	*str = NULL;
	if (ki->flags & HL_KF_STR) {
		size_t n = pick(sizeof(g->path));

		for (size_t i = 0; i < n; i++)
			g->path[i] = (char)(' ' + pick(94));
		g->path[n] = '\0';
		*str = g->path;
	}
}

static const struct hl_trace_end the_end = {
	.seq = 1, .ts_ns = 5, .complete = 1, .dropped = 3, .status = 137,
	.engine = "ptrace", .reason = "a \"reason\"",
};

/* The same events formatted straight into DIRECT and written as hlt. */
static void record(enum hl_format fmt, FILE *direct, FILE *hlt)
{
	struct gen g = { .ts = 1000000, .addr = { 0x5555000000, 0x7f0000000000,
						  1 << 20, 0 } };
	struct hlt_writer *w = hlt_open(fileno(hlt));
	struct hl_event ev, cause;
	const struct hl_event *cp;
	struct hl_sink s;
	const char *str;

	if (!w || hl_sink_open(&s, fileno(direct), fmt) < 0)
		exit(2);
	for (int i = 0; i < NEVENTS; i++) {
		gen_event(&g, &ev, &cause, &str, &cp);
		hl_sink_event(&s, &ev, str, cp);
		hlt_event(w, &ev, str, cp);
	}
	hl_sink_end(&s, &the_end);
	hlt_end(w, &the_end);
	hl_sink_close(&s);
	ok(hlt_close(w) == 0, "hlt written without error");
}

/* All of F, written through its fd (the sinks and the writer use it). */
static char *slurp(FILE *f, size_t *len)
{
	off_t end = lseek(fileno(f), 0, SEEK_END);
	char *buf = malloc((size_t)end + 1);

	if (end < 0 || !buf || pread(fileno(f), buf, (size_t)end, 0) != end)
		exit(2);
	*len = (size_t)end;
	buf[*len] = '\0';
	return buf;
}

/* Reads the hlt in FD into a new sink of FMT; the output, *RC, *WHY. */
static char *replay(int fd, enum hl_format fmt, int *rc, const char **why,
		    size_t *len)
{
	FILE *out = tmpfile();
	struct hl_sink s;
	char *buf;

	if (!out || hl_sink_open(&s, fileno(out), fmt) < 0)
		exit(2);
	lseek(fd, 0, SEEK_SET);
	*rc = hlt_read(fd, &s, why);
	hl_sink_close(&s);
	buf = slurp(out, len);
	fclose(out);
	return buf;
}

/* Occurrences of NEEDLE in S, by hand: ASan checks a whole haystack per
 * strstr call, which over megabytes of output is quadratic. */
static int count(const char *s, const char *needle)
{
	size_t k = strlen(needle);
	int n = 0;

	for (; *s; s++)
		if (*s == *needle && !strncmp(s, needle, k))
			n++;
	return n;
}

/* Cut short at AT bytes: a prefix of the whole, then an incomplete end. */
static void check_cut(FILE *hlt, size_t at, const char *whole, size_t wlen)
{
	FILE *part = tmpfile();
	size_t hlen, len;
	char *h = slurp(hlt, &hlen), *out, *last;
	const char *why;
	int rc;

	if (!part || write(fileno(part), h, at) != (ssize_t)at)
		exit(2);
	out = replay(fileno(part), HL_FMT_JSONL, &rc, &why, &len);
	last = len ? strrchr(out, '\n') : NULL;
	while (last && last > out && last[-1] != '\n')
		last--;
	ok(rc == -1 && strstr(why, "ends early") && last &&
	   strstr(last, "\"complete\":false") &&
	   (size_t)(last - out) <= wlen && !memcmp(out, whole, (size_t)(last - out)),
	   "cut at byte %zu of %zu: a prefix, then an incomplete end (%s)",
	   at, hlen, rc ? why : "read as complete");
	free(out);
	free(h);
	fclose(part);
}

/*
 * The file cut short at FIRST, a third or half way (MID), one byte before
 * its end and at five random places from FIRST + 1 on.
 */
static void check_cuts(FILE *hlt, size_t first, size_t mid, size_t hlen,
		       const char *want, size_t wlen)
{
	check_cut(hlt, first, want, wlen);
	check_cut(hlt, mid, want, wlen);
	check_cut(hlt, hlen - 1, want, wlen);
	for (int i = 0; i < 5; i++)
		check_cut(hlt, first + 1 + pick(hlen - first - 2), want, wlen);
}


/* ---- HLTRACE3: the merge's inputs, live and replayed ---- */

#define RAW_STEPS 60000
#define RAW_THREADS 5

struct sim_thread {
	uint32_t pid, tid;
	int gone;
	unsigned depth;			/* calls open */
	struct hl_tap_rec open[3];	/* begun, not returned */
};

/* Both paths: the merge with its timeline and sink, and the file. */
struct raw_run {
	struct hl_timeline tl;
	struct hl_sink sink;
	struct hl_merge *m;
	struct hlt_writer *w;
	/* the calls drained since the last cycle, packed as on_pack does */
	char pack[1 << 16];
	size_t npack;
	struct hlt_calls pc;
	uint32_t pc_tid;
	int packing;
};

static void raw_call(struct raw_run *x, uint32_t pid, uint32_t tid,
		     const struct hl_tap_rec *rec)
{
	char *c;

	hl_merge_call(x->m, pid, tid, rec);
	if (x->packing && x->pc_tid != tid) {
		x->npack = (size_t)(hlt_calls_end(x->pack + x->npack) - x->pack);
		x->packing = 0;
	}
	if (x->npack + HLT_CALLS_HEAD_MAX + HLT_CALL_MAX + 1 > sizeof(x->pack)) {
		if (x->packing)
			x->npack = (size_t)(hlt_calls_end(x->pack + x->npack) -
					    x->pack);
		hlt_raw_bytes(x->w, x->pack, x->npack);
		x->npack = 0;
		x->packing = 0;
	}
	c = x->pack + x->npack;
	if (!x->packing) {
		c = hlt_calls_begin(c, &x->pc, pid, tid);
		x->packing = 1;
		x->pc_tid = tid;
	}
	x->npack = (size_t)(hlt_calls_put(c, &x->pc, rec) - x->pack);
}

static void raw_flush_calls(struct raw_run *x)
{
	if (x->packing)
		x->npack = (size_t)(hlt_calls_end(x->pack + x->npack) - x->pack);
	hlt_raw_bytes(x->w, x->pack, x->npack);
	x->npack = 0;
	x->packing = 0;
}

static void raw_kernel(struct raw_run *x, uint32_t tid, uint32_t pid,
		       const struct hl_merge_kin *k)
{
	hl_merge_kernel(x->m, tid, pid, k);
	hlt_raw_kernel(x->w, tid, pid, k);
}

/* A call's record: kind and args as the tap writes them. */
static void sim_call(struct gen *g, struct hl_tap_rec *r, uint64_t ts)
{
	static const uint16_t kinds[] = {
		HL_EV_MALLOC, HL_EV_FREE, HL_EV_CALLOC, HL_EV_REALLOC,
		HL_EV_REALLOCARRAY, HL_EV_POSIX_MEMALIGN, HL_EV_MALLOC,
		HL_EV_FREE, HL_EV_ALIGNED_ALLOC, HL_EV_VALLOC,
	};
	const struct hl_kind_info *ki;

	memset(r, 0, sizeof(*r));
	r->kind = kinds[pick(sizeof(kinds) / sizeof(kinds[0]))];
	ki = hl_kind_info(r->kind);
	r->ts_ns = ts;
	for (int i = 0; i < ki->nargs && i < HL_TAP_ARGS; i++)
		r->args[i] = gen_arg(g, 0);
	if (!pick(200))
		r->args[HL_TAP_ARGS - 1] = hl_xorshift(&rng);	/* past its own */
	r->ret = r->kind == HL_EV_FREE ? 0 : (int64_t)gen_arg(g, 0);
}

/* A kernel record of T at time TS: a syscall (inside its open call, if
 * any), or sometimes a USDT event, a fork or an exec. */
static void sim_kernel(struct raw_run *x, struct gen *g, struct sim_thread *t,
		       uint64_t ts)
{
	struct hl_merge_kin k = { .type = HL_MERGE_SYSCALL, .key = ts };
	struct hl_tap_open inner = { 0 };
	unsigned what = (unsigned)pick(40);
	const struct hl_kind_info *ki;

	k.ev.ts_ns = ts;
	k.ev.pid = t->pid;
	k.ev.tid = t->tid;
	if (what == 0) {
		k.type = HL_MERGE_OTHER;
		k.ev.kind = HL_EV_EXEC;
		k.ev.end_ns = ts;
		for (size_t i = 0, n = 1 + pick(60); i < n; i++)
			g->path[i] = (char)(' ' + pick(94)), g->path[i + 1] = 0;
		k.str = g->path;
	} else if (what == 1) {
		k.type = HL_MERGE_OTHER;
		k.ev.kind = HL_EV_FORK;
		k.ev.end_ns = ts;
		k.ev.args[0] = 1000 + pick(100);
		k.ev.ret = (int64_t)k.ev.args[0];
	} else if (what == 2) {
		k.type = HL_MERGE_OTHER;
		k.ev.kind = HL_EV_HEAP_GROW;
		k.ev.end_ns = ts;
		k.ev.args[0] = gen_arg(g, 0);
		k.ev.args[1] = gen_arg(g, 1);
	} else {
		k.ev.kind = (uint16_t)(HL_EV_BRK + pick(6));
		ki = hl_kind_info(k.ev.kind);
		k.ev.end_ns = ts + pick(2000);
		for (int i = 0; i < ki->nargs; i++)
			k.ev.args[i] = gen_arg(g, 0);
		k.ev.ret = (int64_t)gen_arg(g, 0);
		if (!t->depth && !pick(8))
			k.ev.cause = (uint8_t)(HL_CAUSE_LOADER + pick(2));
		if (!pick(30))
			k.ev.flags = HL_EVF_UNFINISHED;
		if (!pick(25)) {	/* --uprobes: the kernel saw the call */
			inner.ts_ns = ts - pick(500);
			inner.kind = HL_EV_MALLOC;
			inner.args[0] = gen_arg(g, 1);
			k.inner = &inner;
			k.outer_ts = inner.ts_ns - pick(100);
		}
	}
	raw_kernel(x, t->tid, t->pid, &k);
}

/* The run: RAW_STEPS steps of random threads, a drain cycle now and then
 * (kernel records, then calls, then the cycle, as the engine takes them).
 * EARLY: Ctrl-C two thirds in. */
static void raw_record(struct raw_run *x, int early)
{
	struct gen g = { .ts = 5000000, .addr = { 0x5555000000, 0x7f0000000000,
						  1 << 20, 0 } };
	struct sim_thread th[RAW_THREADS] = {
		{ .pid = 100, .tid = 100 }, { .pid = 100, .tid = 101 },
		{ .pid = 100, .tid = 102 }, { .pid = 200, .tid = 200 },
		{ .pid = 300, .tid = 300 },
	};
	struct hl_tap_rec pend[4096];
	size_t npend = 0;
	struct hl_trace_end end = {
		.ts_ns = 7, .complete = !early, .dropped = 2, .status = 3,
		.engine = "ebpf", .reason = early ? "interrupted" : NULL,
	};
	uint32_t ptid[4096], ppid[4096];

	hlt_raw_start(x->w, 1);
	for (int step = 0; step < RAW_STEPS; step++) {
		struct sim_thread *t = &th[pick(RAW_THREADS)];
		unsigned what = (unsigned)pick(10);

		g.ts += 1 + pick(300);
		if (early && step == RAW_STEPS * 2 / 3) {
			hl_merge_out(x->m);
			hl_tl_flush(&x->tl);
			hlt_raw_early(x->w);
			end.seq = x->tl.seq + 1;
			hl_sink_end(&x->sink, &end);
			hlt_end(x->w, &end);
			return;
		}
		if (!pick(50) || npend + 8 > sizeof(pend) / sizeof(pend[0])) {
			/* A drain cycle: the calls, then who is inside one. */
			struct hl_merge_busy busy[RAW_THREADS];
			size_t nb = 0;

			for (size_t i = 0; i < npend; i++)
				raw_call(x, ppid[i], ptid[i], &pend[i]);
			npend = 0;
			raw_flush_calls(x);
			for (int i = 0; i < RAW_THREADS; i++)
				if (th[i].depth && !th[i].gone)
					busy[nb++] = (struct hl_merge_busy){
						th[i].tid, th[i].open[0].ts_ns };
			hl_merge_cycle(x->m, g.ts, busy, nb, 0);
			hlt_raw_cycle(x->w, g.ts, busy, nb, 0);
			continue;
		}
		if (t->gone) {
			if (!pick(20)) {	/* the tid comes back */
				t->gone = 0;
				t->depth = 0;
			}
			continue;
		}
		if (what < 3 && t->depth < 3) {
			sim_call(&g, &t->open[t->depth], g.ts);
			t->open[t->depth].depth = (uint16_t)t->depth;
			t->depth++;
		} else if (what < 6 && t->depth) {
			struct hl_tap_rec *r = &t->open[--t->depth];

			r->end_ns = g.ts;
			ppid[npend] = t->pid;
			ptid[npend] = t->tid;
			pend[npend++] = *r;
		} else if (what < 9) {
			sim_kernel(x, &g, t, g.ts);
		} else if (!pick(30) && !t->depth) {
			struct hl_merge_kin k = { .type = HL_MERGE_OTHER,
						  .key = g.ts };

			k.ev.ts_ns = k.ev.end_ns = g.ts;
			k.ev.pid = t->pid;
			k.ev.tid = t->tid;
			k.ev.kind = HL_EV_EXIT;
			raw_kernel(x, t->tid, t->pid, &k);
			hl_merge_gone(x->m, t->tid, g.ts);
			hlt_raw_gone(x->w, t->tid, g.ts);
			t->gone = 1;
		}
	}
	for (size_t i = 0; i < npend; i++)
		raw_call(x, ppid[i], ptid[i], &pend[i]);
	raw_flush_calls(x);
	hl_merge_cycle(x->m, g.ts, NULL, 0, 1);
	hlt_raw_cycle(x->w, g.ts, NULL, 0, 1);
	hl_tl_flush(&x->tl);
	end.seq = x->tl.seq + 1;
	hl_sink_end(&x->sink, &end);
	hlt_end(x->w, &end);
}

static void check_raw(enum hl_format fmt, int early)
{
	static const char *const names[] = { "text", "jsonl" };
	FILE *direct = tmpfile(), *hlt = tmpfile();
	struct raw_run *x = calloc(1, sizeof(*x));
	char *want, *got;
	size_t wlen, glen, hlen;
	const char *why;
	int rc;

	if (!direct || !hlt || !x || hl_sink_open(&x->sink, fileno(direct), fmt) < 0 ||
	    !(x->w = hlt_open(fileno(hlt))))
		exit(2);
	hl_tl_init(&x->tl, &x->sink);
	if (!(x->m = hl_merge_new(&x->tl, 1)))
		exit(2);
	raw_record(x, early);
	hl_tl_fini(&x->tl);
	hl_merge_free(x->m);
	hl_sink_close(&x->sink);
	ok(hlt_close(x->w) == 0, "raw%s: written without error",
	   early ? ", ended early" : "");
	want = slurp(direct, &wlen);
	got = replay(fileno(hlt), fmt, &rc, &why, &glen);
	free(slurp(hlt, &hlen));
	ok(rc == 0, "raw%s, %s: reads back complete%s%s", early ? " (early)" : "",
	   names[fmt], rc ? ": " : "", rc ? why : "");
	ok(glen == wlen && !memcmp(want, got, wlen),
	   "raw%s, %s: joined when read, the same %zu bytes as joined live "
	   "(%d events, %zu bytes of hlt)", early ? " (early)" : "", names[fmt],
	   wlen, count(want, fmt == HL_FMT_JSONL ? "\"seq\"" : "\n") - 1, hlen);
	ok(count(want, "malloc") > 1000 &&
	   count(want, fmt == HL_FMT_JSONL ? "\"cause\":{" : "<- #") > 500 &&
	   (fmt != HL_FMT_JSONL || count(want, "\"unfinished\":true")),
	   "raw%s, %s: the run has calls, causes and unfinished calls",
	   early ? " (early)" : "", names[fmt]);
	if (fmt == HL_FMT_JSONL && !early) {
		check_cuts(hlt, 9, hlen / 3, hlen, want, wlen);
	}
	free(want);
	free(got);
	fclose(direct);
	fclose(hlt);
	free(x);
}

/* ---- the merge's order, case by case ---- */

/*
 * One step of a hand-made run of thread 7: a call at its return as the tap
 * writes it ('c': kind, enter, exit, depth), a syscall at its entry ('s':
 * at t0), its exit ('e': at t0, then gone), a drain cycle ('y': at t0, the
 * thread inside a call since t1 when t1 is set), a mark ('m': the summary
 * shows "|" after what had gone out by then).
 */
struct step {
	char what;
	uint16_t kind;
	uint64_t t0, t1;
	uint16_t depth;
};

/* "kind kind<-N ..." for a jsonl trace: each event's kind, and for a
 * syscall with a cause, the seq it names (0: the call's seq is null);
 * " |" after the first MARK events, when MARK is not 0. */
static void summarize(const char *j, char *out, size_t len, uint64_t mark)
{
	uint64_t seen = 0;
	size_t n = 0;

	out[0] = '\0';
	for (const char *l = j; *l; l = strchr(l, '\n') + 1) {
		const char *k = strstr(l, "\"kind\":\""), *c = strstr(l, "\"cause\":{\"seq\":");
		const char *eol = strchr(l, '\n');

		if (!eol)
			break;
		if (!k || k > eol || !strncmp(k, "\"kind\":\"trace_end\"", 18))
			continue;
		k += 8;
		n += (size_t)snprintf(out + n, len - n, "%s%.*s", n ? " " : "",
				      (int)(strchr(k, '"') - k), k);
		if (c && c < eol)
			n += (size_t)snprintf(out + n, len - n, "<-%d", atoi(c + 15));
		if (n < len && mark && ++seen == mark)
			n += (size_t)snprintf(out + n, len - n, " |");
		if (n >= len)
			break;
	}
}

/*
 * STEPS fed to the merge as the live engine does and through a file; SAME
 * tells whether both gave the same bytes, OUT the summary of the live one.
 * MAGIC: the file's, when not what the writer wrote (an older version).
 */
static void run_case(const struct step *steps, size_t n, char *out, size_t len,
		     int *same, const char *magic)
{
	FILE *direct = tmpfile(), *hlt = tmpfile();
	struct raw_run *x = calloc(1, sizeof(*x));
	struct hl_trace_end end = { .complete = 1, .engine = "ebpf" };
	uint64_t mark = 0;
	char *want, *got;
	size_t wlen, glen;
	const char *why;
	int rc;

	if (!direct || !hlt || !x || hl_sink_open(&x->sink, fileno(direct),
						  HL_FMT_JSONL) < 0 ||
	    !(x->w = hlt_open(fileno(hlt))))
		exit(2);
	hl_tl_init(&x->tl, &x->sink);
	if (!(x->m = hl_merge_new(&x->tl, 1)))
		exit(2);
	hlt_raw_start(x->w, 1);
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];

		if (s->what == 'c') {
			struct hl_tap_rec r = {
				.ts_ns = s->t0, .end_ns = s->t1, .kind = s->kind,
				.depth = s->depth, .args = { 100 + i },
				.ret = 0x1000 + 16 * (int64_t)i,
			};

			raw_call(x, 1, 7, &r);
		} else if (s->what == 's') {
			struct hl_merge_kin k = { .type = HL_MERGE_SYSCALL,
						  .key = s->t0 };

			k.ev.ts_ns = s->t0;
			k.ev.end_ns = s->t0 + 1;
			k.ev.pid = 1;
			k.ev.tid = 7;
			k.ev.kind = s->kind;
			raw_kernel(x, 7, 1, &k);
		} else if (s->what == 'e') {
			struct hl_merge_kin k = { .type = HL_MERGE_OTHER,
						  .key = s->t0 };

			k.ev.ts_ns = k.ev.end_ns = s->t0;
			k.ev.pid = 1;
			k.ev.tid = 7;
			k.ev.kind = HL_EV_EXIT;
			raw_kernel(x, 7, 1, &k);
			hl_merge_gone(x->m, 7, s->t0);
			hlt_raw_gone(x->w, 7, s->t0);
		} else if (s->what == 'm') {
			mark = x->tl.seq;
		} else {
			struct hl_merge_busy b = { 7, s->t1 };

			raw_flush_calls(x);
			hl_merge_cycle(x->m, s->t0, &b, s->t1 != 0, 0);
			hlt_raw_cycle(x->w, s->t0, &b, s->t1 != 0, 0);
		}
	}
	raw_flush_calls(x);
	hl_merge_cycle(x->m, UINT64_MAX - 1, NULL, 0, 1);
	hlt_raw_cycle(x->w, UINT64_MAX - 1, NULL, 0, 1);
	hl_tl_flush(&x->tl);
	end.seq = x->tl.seq + 1;
	hl_sink_end(&x->sink, &end);
	hlt_end(x->w, &end);
	hl_tl_fini(&x->tl);
	hl_merge_free(x->m);
	hl_sink_close(&x->sink);
	if (hlt_close(x->w) || (magic && pwrite(fileno(hlt), magic, 8, 0) != 8))
		exit(2);
	want = slurp(direct, &wlen);
	got = replay(fileno(hlt), HL_FMT_JSONL, &rc, &why, &glen);
	*same = rc == 0 && glen == wlen && !memcmp(want, got, wlen);
	summarize(want, out, len, mark);
	free(want);
	free(got);
	fclose(direct);
	fclose(hlt);
	free(x);
}

/* Runs STEPS and checks the summary, live and replayed alike (from a
 * file of version MAGIC, when not NULL). */
#define check_case_v(magic, want, what, ...) do {			\
	static const struct step st_[] = { __VA_ARGS__ };		\
	char got_[512];							\
	int same_;							\
									\
	run_case(st_, sizeof(st_) / sizeof(st_[0]), got_, sizeof(got_),	\
		 &same_, magic);					\
	ok(same_ && !strcmp(got_, want), "merge: %s: %s%s", what, got_,	\
	   same_ ? "" : " (the file gave other bytes)");		\
	if (strcmp(got_, want))						\
		diag("want %s", want);					\
} while (0)
#define check_case(want, what, ...) check_case_v(NULL, want, what, __VA_ARGS__)

static void check_order(void)
{
	/* glibc's reallocarray calls realloc through the PLT: the tap sees
	 * it inside, and its record arrives first. */
	check_case("reallocarray realloc", "a nested call goes out after the call around it",
		   { 'c', HL_EV_REALLOC, 120, 130, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("reallocarray realloc mremap<-2",
		   "a syscall inside a nested call names the inner call",
		   { 's', HL_EV_MREMAP, 125, 0, 0 },
		   { 'c', HL_EV_REALLOC, 120, 130, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("malloc reallocarray realloc free",
		   "nested calls between others, over two cycles",
		   { 'c', HL_EV_MALLOC, 100, 105, 0 },
		   { 'c', HL_EV_REALLOC, 120, 130, 1 },
		   { 'y', 0, 135, 110, 0 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 },
		   { 'y', 0, 150, 0, 0 },
		   { 'c', HL_EV_FREE, 160, 170, 0 });

	/* Stamped the same ns (the clock's resolution): still the call
	 * around first, and a syscall's cause the innermost call open. */
	check_case("reallocarray realloc", "nested, begun the same ns",
		   { 'c', HL_EV_REALLOC, 110, 130, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("reallocarray realloc mremap<-2",
		   "nested, begun the same ns: a syscall inside names the inner call",
		   { 's', HL_EV_MREMAP, 120, 0, 0 },
		   { 'c', HL_EV_REALLOC, 110, 130, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("reallocarray realloc mremap<-1",
		   "nested, begun the same ns: a syscall after the inner call names the outer",
		   { 'c', HL_EV_REALLOC, 110, 130, 1 },
		   { 's', HL_EV_MREMAP, 135, 0, 0 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("reallocarray realloc", "nested, begun and the inner one back the same ns",
		   { 'c', HL_EV_REALLOC, 110, 110, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case("free malloc", "one after the other, the first back the ns the next begins",
		   { 'c', HL_EV_FREE, 110, 110, 0 },
		   { 'c', HL_EV_MALLOC, 110, 140, 0 });
	check_case("realloc reallocarray calloc malloc",
		   "two levels, begun the same ns, after another call",
		   { 'c', HL_EV_REALLOC, 90, 100, 0 },
		   { 'c', HL_EV_MALLOC, 110, 120, 2 },
		   { 'c', HL_EV_CALLOC, 110, 130, 1 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	/* Thread 7 exits and, before the next cycle, a new thread gets tid 7
	 * (or the leader's tid goes to the thread that exec'd): the new one
	 * waits for its frontier like any other, its syscall for its call. */
	check_case("malloc exit malloc mmap<-3",
		   "a tid reused in the cycle it went: the new thread's syscall names its call",
		   { 'c', HL_EV_MALLOC, 100, 110, 0 },
		   { 'e', 0, 120, 0, 0 },
		   { 's', HL_EV_MMAP, 150, 0, 0 },
		   { 'y', 0, 155, 140, 0 },
		   { 'c', HL_EV_MALLOC, 140, 160, 0 },
		   { 'y', 0, 200, 0, 0 });
	check_case("malloc mmap<-1 exit malloc mmap<-4",
		   "... and the old thread's syscall in a call still names it",
		   { 's', HL_EV_MMAP, 105, 0, 0 },
		   { 'c', HL_EV_MALLOC, 100, 110, 0 },
		   { 'e', 0, 120, 0, 0 },
		   { 's', HL_EV_MMAP, 150, 0, 0 },
		   { 'y', 0, 155, 140, 0 },
		   { 'c', HL_EV_MALLOC, 140, 160, 0 },
		   { 'y', 0, 200, 0, 0 });
	/* A longjmp out of a signal handler inside malloc: the tap shows the
	 * thread inside it from then on. Past a second (trace time) it counts
	 * as left, and what the thread did since goes out while it runs. */
	check_case("malloc mmap free |",
		   "a call never left (longjmp out of it) holds the records back a second at most",
		   { 'c', HL_EV_MALLOC, 50, 60, 0 },
		   { 'y', 0, 100, 90, 0 },
		   { 's', HL_EV_MMAP, 200, 0, 0 },
		   { 'c', HL_EV_FREE, 300, 310, 1 },
		   { 'y', 0, 1000, 90, 0 },
		   { 'y', 0, 900000000, 90, 0 },
		   { 'y', 0, 1500000000, 90, 0 },
		   { 'm', 0, 0, 0, 0 });
	check_case("free | malloc mmap<-2",
		   "... a call that does last long is waited for until then",
		   { 'c', HL_EV_FREE, 50, 60, 0 },
		   { 'y', 0, 100, 90, 0 },
		   { 's', HL_EV_MMAP, 200, 0, 0 },
		   { 'y', 0, 500000000, 90, 0 },
		   { 'c', HL_EV_MALLOC, 90, 600000000, 0 },
		   { 'y', 0, 700000000, 0, 0 },
		   { 'm', 0, 0, 0, 0 });
	/* No depths (--uprobes, or a HLTRACE2 file): the one that lasted
	 * past the ns both began in was inside the other. */
	check_case("reallocarray realloc", "nested, begun the same ns, no depths",
		   { 'c', HL_EV_REALLOC, 110, 130, 0 },
		   { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
	check_case_v(HLT_MAGIC_RAW2, "reallocarray realloc mremap<-2",
		     "a HLTRACE2 file (no depths): read, nested calls begun the same ns ordered",
		     { 's', HL_EV_MREMAP, 120, 0, 0 },
		     { 'c', HL_EV_REALLOC, 110, 130, 0 },
		     { 'c', HL_EV_REALLOCARRAY, 110, 140, 0 });
}

int main(void)
{
	static const char *const names[] = { "text", "jsonl" };
	char *want, *got, *h;
	size_t wlen, glen, hlen;
	const char *why;
	int rc;

	for (int f = HL_FMT_TEXT; f <= HL_FMT_JSONL; f++) {
		FILE *direct = tmpfile(), *hlt = tmpfile();

		if (!direct || !hlt)
			return 2;
		record(f, direct, hlt);
		want = slurp(direct, &wlen);
		got = replay(fileno(hlt), f, &rc, &why, &glen);
		ok(rc == 0, "%s: the file reads back complete%s%s", names[f],
		   rc ? ": " : "", rc ? why : "");
		ok(glen == wlen && !memcmp(want, got, wlen),
		   "%s: %d events read back give the same %zu bytes", names[f],
		   NEVENTS, wlen);
		h = slurp(hlt, &hlen);
		diag("%s: %zu bytes direct, %zu as hlt (%.1f bytes an event)",
		     names[f], wlen, hlen, (double)hlen / NEVENTS);
		if (f == HL_FMT_JSONL) {
			check_cuts(hlt, 8, hlen / 2, hlen, want, wlen);
		}
		free(h);
		free(want);
		free(got);
		fclose(direct);
		fclose(hlt);
	}
	{
		FILE *junk = tmpfile();

		if (write(fileno(junk), "{\"seq\":1}\n", 10) != 10)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "not a heaplab trace") && !glen,
		   "a jsonl file is refused: %s", why);
		free(got);
		if (pwrite(fileno(junk), HLT_MAGIC "\x3f\x01", 10, 0) != 10)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "corrupt"),
		   "an unknown record is refused: %s", why);
		free(got);
		if (pwrite(fileno(junk), "HLTRACE9\x01", 9, 0) != 9)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "format version") && !glen,
		   "a later format version is refused, by name: %s", why);
		free(got);
		/* A nested call's depth is HLTRACE3's: in HLTRACE2, corrupt. */
		if (pwrite(fileno(junk), HLT_MAGIC_RAW2 "\x01\xe0\x01\x07\x87\x01"
			   "\x02\x02\x00\x00\x00", 19, 0) != 19)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "corrupt"),
		   "HLTRACE2: a call with a depth is refused: %s", why);
		free(got);
		if (pwrite(fileno(junk), HLT_MAGIC_RAW, 8, 0) != 8)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "ends early"),
		   "HLTRACE3: the same call reads (the file then ends early): %s", why);
		free(got);
		fclose(junk);
	}
	{
		/* A syscall whose open call has a kind no call has (200), then
		 * the final cycle: refused, not joined (it crashed, writing the
		 * call as never returned); the same with a call record of a
		 * syscall's kind, and a kernel record of kind 200. */
		static const char bad[] = HLT_MAGIC_RAW "\x00"
			"\xe1\x07\x01\x00\x64\x64\x02\x01\x07\x02"
			"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x5a\xc8\x01"
			"\x00\x00\x00\x00\x50\x00\xe3\xe8\x07\x01\x00";
		FILE *junk = tmpfile();

		if (!junk || pwrite(fileno(junk), bad, sizeof(bad) - 1, 0) != 43)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "corrupt") && strstr(got, "\"complete\":false"),
		   "HLTRACE3: a cause of no call's kind is refused: %s", why);
		free(got);
		/* the open call's kind: 200 -> 7 (as two bytes), a malloc:
		 * it reads */
		if (pwrite(fileno(junk), "\x87\x00", 2, 30) != 2)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(strstr(why, "ends early") &&
		   strstr(got, "\"cause\":{\"seq\":1,\"kind\":\"malloc\""),
		   "... with a malloc there, it reads (to its end, not written): %s", why);
		free(got);
		/* the syscall's kind: mmap -> 127 */
		if (pwrite(fileno(junk), "\x7f", 1, 18) != 1)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "corrupt"),
		   "HLTRACE3: a kernel record of an unknown kind is refused: %s", why);
		free(got);
		/* a call record of mmap's kind (2) */
		if (pwrite(fileno(junk), "\x00\xe0\x01\x07\x02\x02\x02"
			   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 17, 8) != 17)
			return 2;
		got = replay(fileno(junk), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "corrupt"),
		   "HLTRACE3: a call record of a syscall's kind is refused: %s", why);
		free(got);
		fclose(junk);
	}
	{
		/* A whole file with a byte after its end: one end, incomplete. */
		FILE *f = tmpfile();
		struct hlt_writer *w = hlt_open(fileno(f));
		struct hl_event ev = { .kind = HL_EV_MALLOC, .seq = 1, .pid = 1,
				       .tid = 1, .args = { 10 } };

		hlt_event(w, &ev, NULL, NULL);
		hlt_end(w, &the_end);
		if (hlt_close(w) || write(fileno(f), "", 1) != 1)
			return 2;
		got = replay(fileno(f), HL_FMT_JSONL, &rc, &why, &glen);
		ok(rc == -1 && strstr(why, "data after the end record") &&
		   count(got, "trace_end") == 1 &&
		   strstr(got, "\"complete\":false"),
		   "bytes after the end record: one end, incomplete (%s)", why);
		free(got);
		fclose(f);
	}
	for (int f = HL_FMT_TEXT; f <= HL_FMT_JSONL; f++) {
		check_raw(f, 0);
		check_raw(f, 1);
	}
	check_order();
	return tap_done();
}
