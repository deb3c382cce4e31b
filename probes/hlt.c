// SPDX-License-Identifier: MIT
/*
 * hlt.c — the compact binary trace: writer (a sink consumer, like perfetto
 * and the summary) and reader (back into any sink).  The layout is drawn in
 * hlt.h.  Both sides keep the same per-thread state (last address) and the
 * same previous event (seq, ts), so every delta decodes exactly.
 */
#include "probes/hlt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probes/merge.h"
#include "probes/tidmap.h"

#define HLT_BUF		(1u << 20)
#define HLT_MAX_EVENT	512	/* an event with its cause, without its string */
#define HLT_MAX_STR	65536

enum {
	HLT_TAG_THREAD = 0xF0,
	HLT_TAG_END = 0xF1,
	HLT_KIND_MASK = 0x3F,
	HLT_NEW_THREAD = 0x40,
	HLT_EXTRA = 0x80,
};

/* The extra byte: cause in the low two bits, then what follows. */
enum {
	HLT_X_CAUSE = 0x03,
	HLT_X_FLAGS = 0x04,
	HLT_X_STR = 0x08,
	HLT_X_SEQ = 0x10,
	HLT_X_ALLARGS = 0x20,	/* all six args, not only the kind's own */
};

struct hlt_thread {
	uint32_t pid, tid;
	uint64_t last_addr;
};

/* What writer and reader both track, so that deltas decode. */
struct hlt_state {
	uint64_t seq, ts;
	uint32_t cur, nthreads, cap;	/* cur: thread of the previous event */
	struct hlt_thread *threads;
};

struct hlt_writer {
	struct hl_sink out;		/* the sinks' buffer and writes */
	struct hlt_state st;
	struct hl_tidmap index;		/* tid -> thread index + 1 */
	int started;			/* the magic is out */
	int raw;			/* HLTRACE3: the engine's inputs */
	int ended;			/* the end record is out: no more */
};

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int is_addr_arg(const struct hl_kind_info *ki, unsigned i)
{
	return ki && i < ki->nargs && ki->fmt[i] == HL_AF_ADDR;
}

static int ret_is_addr(const struct hl_kind_info *ki)
{
	return ki && (ki->flags & HL_KF_RET_ADDR);
}

static int nargs_of(const struct hl_kind_info *ki)
{
	return ki ? ki->nargs : HL_EV_ARGS;
}

static int add_thread(struct hlt_state *st, uint32_t pid, uint32_t tid)
{
	if (st->nthreads == st->cap) {
		uint32_t cap = st->cap ? st->cap * 2 : 64;
		struct hlt_thread *t = realloc(st->threads, cap * sizeof(*t));

		if (!t)
			return -1;
		st->threads = t;
		st->cap = cap;
	}
	st->threads[st->nthreads] = (struct hlt_thread){ pid, tid, 0 };
	return (int)st->nthreads++;
}

/* ---- writer: records go through the sink's reserve/commit cursor ---- */

static char *put_byte(char *c, unsigned v)
{
	*c = (char)v;
	return c + 1;
}

static char *put_varint(char *c, uint64_t v)
{
	while (v >= 0x80) {
		*c++ = (char)(v | 0x80);
		v >>= 7;
	}
	*c++ = (char)v;
	return c;
}

static size_t str_len(const char *s)
{
	return s ? strnlen(s, HLT_MAX_STR - 1) : 0;
}

static char *put_str(char *c, const char *s)
{
	size_t n = str_len(s);

	c = put_varint(c, s ? n + 1 : 0);
	return hl_fmt_mem(c, s ? s : "", n);
}

struct hlt_writer *hlt_open(int fd)
{
	struct hlt_writer *w = calloc(1, sizeof(*w));

	if (!w || hl_sink_open(&w->out, fd, HL_FMT_JSONL) < 0) {
		free(w);
		return NULL;
	}
	w->st.cur = UINT32_MAX;
	return w;
}

/* The magic goes out with the first record: which one, the engine decides
 * (hlt_raw_start) before anything is written. */
static void start(struct hlt_writer *w, const char *magic)
{
	char *c;

	if (w->started)
		return;
	w->started = 1;
	if ((c = hl_sink_reserve(&w->out, 8)))
		hl_sink_commit(&w->out, hl_fmt_mem(c, magic, 8));
}

/* The thread index of EV, defined at *C when new; -1: no memory. */
static int64_t thread_of(struct hlt_writer *w, const struct hl_event *ev,
			 char **c)
{
	struct hlt_state *st = &w->st;
	uintptr_t i;
	int n;

	if (st->cur < st->nthreads && st->threads[st->cur].tid == ev->tid &&
	    st->threads[st->cur].pid == ev->pid)
		return st->cur;
	i = (uintptr_t)hl_tidmap_get(&w->index, ev->tid);
	if (i && st->threads[i - 1].pid == ev->pid)
		return (int64_t)i - 1;
	n = add_thread(st, ev->pid, ev->tid);
	if (n < 0 || hl_tidmap_put(&w->index, ev->tid,
				   (void *)(uintptr_t)(n + 1)) < 0)
		return -1;
	*c = put_byte(*c, HLT_TAG_THREAD);
	*c = put_varint(*c, ev->pid);
	*c = put_varint(*c, ev->tid);
	return n;
}

/* An address as a delta from *BASE, which then becomes it. */
static char *put_addr(char *c, uint64_t *base, uint64_t a)
{
	c = put_varint(c, zigzag((int64_t)(a - *base)));
	*base = a;
	return c;
}

/* ts (as a delta from BASE), duration, args and ret of EV. */
static char *put_body(char *c, struct hlt_thread *t, const struct hl_event *ev,
		      uint64_t base, int allargs)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);
	int n = allargs ? HL_EV_ARGS : nargs_of(ki);

	c = put_varint(c, zigzag((int64_t)(ev->ts_ns - base)));
	c = put_varint(c, zigzag((int64_t)(ev->end_ns - ev->ts_ns)));
	for (int i = 0; i < n; i++) {
		if (is_addr_arg(ki, (unsigned)i))
			c = put_addr(c, &t->last_addr, ev->args[i]);
		else
			c = put_varint(c, zigzag((int64_t)ev->args[i]));
	}
	if (ret_is_addr(ki))
		return put_addr(c, &t->last_addr, (uint64_t)ev->ret);
	return put_varint(c, zigzag(ev->ret));
}

/* Args beyond the kind's own are zero in every event the engines make;
 * a file must still hold whatever it is given. */
static int needs_allargs(const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	for (int i = nargs_of(ki); i < HL_EV_ARGS; i++)
		if (ev->args[i])
			return 1;
	return !ki;
}

/* The cause of a syscall, whole (kind 0: the engine named none). */
static char *put_cause(char *c, struct hlt_thread *t, const struct hl_event *ev,
		       const struct hl_event *cause, int allargs)
{
	c = put_varint(c, zigzag((int64_t)(ev->seq - ev->cause_seq)));
	c = put_byte(c, cause ? cause->kind & HLT_KIND_MASK : 0);
	if (!cause)
		return c;
	c = put_varint(c, cause->seq);
	c = put_byte(c, cause->flags);
	return put_body(c, t, cause, ev->ts_ns, allargs);
}

void hlt_event(struct hlt_writer *w, const struct hl_event *ev,
	       const char *str, const struct hl_event *cause)
{
	unsigned extra = ev->cause & HLT_X_CAUSE;
	unsigned tag = ev->kind & HLT_KIND_MASK;
	struct hlt_thread *t;
	int64_t ti;
	char *c;

	start(w, HLT_MAGIC);
	if (w->out.err || w->raw || w->ended ||
	    !(c = hl_sink_reserve(&w->out, HLT_MAX_EVENT + str_len(str))))
		return;
	ti = thread_of(w, ev, &c);
	if (ti < 0) {
		w->out.err = ENOMEM;
		return;
	}
	if (ev->flags)
		extra |= HLT_X_FLAGS;
	if (str)
		extra |= HLT_X_STR;
	if (ev->seq != w->st.seq + 1)
		extra |= HLT_X_SEQ;
	if (needs_allargs(ev) || (cause && needs_allargs(cause)))
		extra |= HLT_X_ALLARGS;
	if ((uint32_t)ti != w->st.cur)
		tag |= HLT_NEW_THREAD;
	if (extra)
		tag |= HLT_EXTRA;
	c = put_byte(c, tag);
	if (tag & HLT_NEW_THREAD)
		c = put_varint(c, (uint64_t)ti);
	if (extra)
		c = put_byte(c, extra);
	if (extra & HLT_X_SEQ)
		c = put_varint(c, zigzag((int64_t)(ev->seq - w->st.seq)));
	t = &w->st.threads[ti];
	c = put_body(c, t, ev, w->st.ts, !!(extra & HLT_X_ALLARGS));
	if (ev->cause == HL_CAUSE_CALL)
		c = put_cause(c, t, ev, cause, !!(extra & HLT_X_ALLARGS));
	if (extra & HLT_X_FLAGS)
		c = put_byte(c, ev->flags);
	if (str)
		c = put_str(c, str);
	hl_sink_commit(&w->out, c);
	w->st.seq = ev->seq;
	w->st.ts = ev->ts_ns;
	w->st.cur = (uint32_t)ti;
}

void hlt_end(struct hlt_writer *w, const struct hl_trace_end *e)
{
	char *c;

	start(w, HLT_MAGIC);
	if (w->ended)
		return;
	w->ended = 1;
	c = hl_sink_reserve(&w->out, 64 + str_len(e->engine) +
			    str_len(e->reason));
	if (!c)
		return;
	c = put_byte(c, HLT_TAG_END);
	c = put_varint(c, e->seq);
	c = put_varint(c, e->ts_ns);
	c = put_byte(c, !!e->complete);
	c = put_varint(c, e->dropped);
	c = put_varint(c, zigzag(e->status));
	c = put_str(c, e->engine);
	c = put_str(c, e->reason);
	hl_sink_commit(&w->out, c);
	hl_sink_flush(&w->out);
}

int hlt_close(struct hlt_writer *w)
{
	int err;

	if (!w)
		return 0;
	hl_sink_close(&w->out);
	err = w->out.err;
	free(w->st.threads);
	hl_tidmap_free(&w->index);
	free(w);
	return err;
}

/* ---- raw writer (HLTRACE3): the ebpf engine's inputs, joined when read ---- */

enum {
	HLT_TAG_CALLS = 0xE0,		/* pid, tid, calls..., 0 */
	HLT_TAG_KERNEL = 0xE1,
	HLT_TAG_GONE = 0xE2,
	HLT_TAG_CYCLE = 0xE3,
	HLT_TAG_EARLY = 0xE4,
	HLT_C_KIND_ESC = 0x3F,		/* the kind follows as a varint */
	HLT_C_ALLARGS = 0x40,		/* all four args, not the kind's own */
	HLT_C_DEPTH = 0x80,		/* nested: the depth follows (HLTRACE3) */
	HLT_RAW_TAP = 0x01,		/* header flag: calls come from the tap */
};

void hlt_raw_start(struct hlt_writer *w, int tap)
{
	char *c;

	if (w->started)
		return;
	w->raw = 1;
	start(w, HLT_MAGIC_RAW);
	if ((c = hl_sink_reserve(&w->out, 1)))
		hl_sink_commit(&w->out, put_byte(c, tap ? HLT_RAW_TAP : 0));
}

char *hlt_calls_begin(char *c, struct hlt_calls *s, uint32_t pid, uint32_t tid)
{
	s->ts = s->addr = 0;
	c = put_byte(c, HLT_TAG_CALLS);
	c = put_varint(c, pid);
	return put_varint(c, tid);
}

/* The args of a call record of kind KI unless it carries all four. */
static int own_nargs(const struct hl_kind_info *ki)
{
	return ki && ki->nargs < HL_TAP_ARGS ? ki->nargs : HL_TAP_ARGS;
}

/*
 * What a call record of each kind carries, worked out once from hl_kinds[]
 * with own_nargs(), is_addr_arg() and ret_is_addr(): the drain thread packs
 * millions of records a second, and these are its questions for each.
 * call_shapes[HL_EV_NONE] stands for every kind without an entry (no
 * kind info: all four args, none an address).
 */
struct call_shape {
	uint64_t past[HL_TAP_ARGS];	/* ~0 for an arg past the kind's own */
	uint8_t nargs;			/* own_nargs() */
	uint8_t addr;			/* bit i: is_addr_arg(i) */
	uint8_t ret_addr;		/* ret_is_addr() */
	uint8_t known;			/* a kind with info: may carry fewer */
};

static struct call_shape call_shapes[HL_EV_NKINDS];

__attribute__((constructor)) static void call_shapes_init(void)
{
	for (unsigned k = 0; k < HL_EV_NKINDS; k++) {
		const struct hl_kind_info *ki = hl_kind_info(k);
		struct call_shape *sh = &call_shapes[k];

		sh->nargs = (uint8_t)own_nargs(ki);
		sh->ret_addr = (uint8_t)ret_is_addr(ki);
		sh->known = ki != NULL;
		for (unsigned i = 0; i < HL_TAP_ARGS; i++) {
			sh->past[i] = i >= sh->nargs ? ~0ull : 0;
			if (is_addr_arg(ki, i))
				sh->addr |= (uint8_t)(1u << i);
		}
	}
}

/*
 * A call record: the kind's own args, or all four when one past them is
 * set (or the kind has no info); addresses as deltas.
 */
char *hlt_calls_put(char *c, struct hlt_calls *s, const struct hl_tap_rec *r)
{
	unsigned kind = r->kind;
	const struct call_shape *sh = &call_shapes[kind < HL_EV_NKINDS ? kind :
						   HL_EV_NONE];
	uint64_t past = (r->args[0] & sh->past[0]) | (r->args[1] & sh->past[1]) |
			(r->args[2] & sh->past[2]) | (r->args[3] & sh->past[3]);
	int all = !sh->known || past;
	int n = all ? HL_TAP_ARGS : sh->nargs;
	unsigned lead = kind && kind < HLT_C_KIND_ESC ? kind : HLT_C_KIND_ESC;
	char *at = c;

	c = put_byte(c, lead | (all ? HLT_C_ALLARGS : 0));
	if (lead == HLT_C_KIND_ESC)
		c = put_varint(c, kind);
	if (__builtin_expect(r->depth != 0, 0)) {	/* nested: rare */
		*at = (char)(*at | HLT_C_DEPTH);
		c = put_varint(c, r->depth);
	}
	c = put_varint(c, zigzag((int64_t)(r->ts_ns - s->ts)));
	c = put_varint(c, zigzag((int64_t)(r->end_ns - r->ts_ns)));
	s->ts = r->ts_ns;
	for (int i = 0; i < n; i++)
		c = sh->addr >> i & 1 ? put_addr(c, &s->addr, r->args[i]) :
		    put_varint(c, zigzag((int64_t)r->args[i]));
	if (sh->ret_addr)
		return put_addr(c, &s->addr, (uint64_t)r->ret);
	return put_varint(c, zigzag(r->ret));
}

char *hlt_calls_end(char *c)
{
	return put_byte(c, 0);
}

void hlt_raw_bytes(struct hlt_writer *w, const void *p, size_t n)
{
	char *c;

	if (w->out.err || w->ended || !(c = hl_sink_reserve(&w->out, n)))
		return;
	hl_sink_commit(&w->out, hl_fmt_mem(c, p, n));
}

void hlt_raw_call(struct hlt_writer *w, uint32_t pid, uint32_t tid,
		  const struct hl_tap_rec *rec)
{
	char buf[HLT_CALLS_HEAD_MAX + HLT_CALL_MAX + 1], *c;
	struct hlt_calls s;

	c = hlt_calls_begin(buf, &s, pid, tid);
	c = hlt_calls_put(c, &s, rec);
	c = hlt_calls_end(c);
	hlt_raw_bytes(w, buf, (size_t)(c - buf));
}

/* Room for a raw record of NEED bytes (NULL: the file is done or failed). */
static char *raw_reserve(struct hlt_writer *w, size_t need)
{
	if (w->out.err || w->ended)
		return NULL;
	return hl_sink_reserve(&w->out, need);
}

void hlt_raw_kernel(struct hlt_writer *w, uint32_t tid, uint32_t pid,
		    const struct hl_merge_kin *k)
{
	const struct hl_event *ev = &k->ev;
	char *c = raw_reserve(w, 256 + str_len(k->str));

	if (!c)
		return;
	c = put_byte(c, HLT_TAG_KERNEL);
	c = put_varint(c, tid);
	c = put_varint(c, pid);
	c = put_byte(c, k->type);
	c = put_varint(c, k->key);
	c = put_varint(c, ev->ts_ns);
	c = put_varint(c, zigzag((int64_t)(ev->end_ns - ev->ts_ns)));
	c = put_varint(c, ev->pid);
	c = put_varint(c, ev->tid);
	c = put_varint(c, ev->kind);
	for (int i = 0; i < HL_EV_ARGS; i++)
		c = put_varint(c, zigzag((int64_t)ev->args[i]));
	c = put_varint(c, zigzag(ev->ret));
	c = put_byte(c, ev->cause);
	c = put_byte(c, ev->flags);
	c = put_byte(c, !!k->inner);
	if (k->inner) {
		c = put_varint(c, k->inner->ts_ns);
		c = put_varint(c, k->inner->kind);
		for (int i = 0; i < HL_TAP_ARGS; i++)
			c = put_varint(c, k->inner->args[i]);
		c = put_varint(c, k->outer_ts);
	}
	c = put_str(c, k->str);
	hl_sink_commit(&w->out, c);
}

void hlt_raw_gone(struct hlt_writer *w, uint32_t tid, uint64_t at)
{
	char *c = raw_reserve(w, 32);

	if (!c)
		return;
	c = put_byte(c, HLT_TAG_GONE);
	c = put_varint(c, tid);
	hl_sink_commit(&w->out, put_varint(c, at));
}

void hlt_raw_cycle(struct hlt_writer *w, uint64_t r,
		   const struct hl_merge_busy *busy, size_t n, int final)
{
	char *c = raw_reserve(w, 32 + n * 20);

	if (!c)
		return;
	c = put_byte(c, HLT_TAG_CYCLE);
	c = put_varint(c, r);
	c = put_byte(c, !!final);
	c = put_varint(c, n);
	for (size_t i = 0; i < n; i++) {
		c = put_varint(c, busy[i].tid);
		c = put_varint(c, busy[i].since);
	}
	hl_sink_commit(&w->out, c);
}

void hlt_raw_early(struct hlt_writer *w)
{
	char *c = raw_reserve(w, 1);

	if (c)
		hl_sink_commit(&w->out, put_byte(c, HLT_TAG_EARLY));
}

/* ---- reader ---- */

struct cursor {
	const unsigned char *p, *end, *start;
	int short_read;		/* a record ran past the end of the file */
};

static int get_byte(struct cursor *c, unsigned *v)
{
	if (c->p >= c->end) {
		c->short_read = 1;
		return -1;
	}
	*v = *c->p++;
	return 0;
}

static int get_varint(struct cursor *c, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end) {
			c->short_read = 1;
			return -1;
		}
		x |= (uint64_t)(*c->p & 0x7f) << shift;
		if (!(*c->p++ & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;		/* longer than any u64: corrupt */
}

static int get_signed(struct cursor *c, int64_t *v)
{
	uint64_t u;

	if (get_varint(c, &u) < 0)
		return -1;
	*v = unzigzag(u);
	return 0;
}

/* A string into BUF (HLT_MAX_STR); *S is NULL for none. */
static int get_str(struct cursor *c, char *buf, const char **s)
{
	uint64_t n;

	if (get_varint(c, &n) < 0 || n > HLT_MAX_STR)
		return -1;
	*s = NULL;
	if (!n)
		return 0;
	if ((uint64_t)(c->end - c->p) < n - 1) {
		c->short_read = 1;
		return -1;
	}
	memcpy(buf, c->p, n - 1);
	buf[n - 1] = '\0';
	c->p += n - 1;
	*s = buf;
	return 0;
}

/* An address stored as a delta from *BASE, which then becomes it. */
static int get_addr(struct cursor *c, uint64_t *base, uint64_t *a)
{
	int64_t d;

	if (get_signed(c, &d) < 0)
		return -1;
	*a = *base + (uint64_t)d;
	*base = *a;
	return 0;
}

static int get_body(struct cursor *c, struct hlt_thread *t,
		    struct hl_event *ev, uint64_t base, int allargs)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);
	int n = allargs ? HL_EV_ARGS : nargs_of(ki);
	int64_t d, dur;

	if (get_signed(c, &d) < 0 || get_signed(c, &dur) < 0)
		return -1;
	ev->ts_ns = base + (uint64_t)d;
	ev->end_ns = ev->ts_ns + (uint64_t)dur;
	for (int i = 0; i < n; i++) {
		if (is_addr_arg(ki, (unsigned)i) ?
		    get_addr(c, &t->last_addr, &ev->args[i]) :
		    get_signed(c, (int64_t *)&ev->args[i]))
			return -1;
	}
	if (ret_is_addr(ki))
		return get_addr(c, &t->last_addr, (uint64_t *)&ev->ret);
	return get_signed(c, &ev->ret);
}

/* The cause of EV into CAUSE; *NONE set when the writer had none. */
static int get_cause(struct cursor *c, struct hlt_thread *t,
		     struct hl_event *ev, struct hl_event *cause, int allargs,
		     int *none)
{
	int64_t d;
	unsigned kind, flags;

	if (get_signed(c, &d) < 0 || get_byte(c, &kind) < 0)
		return -1;
	ev->cause_seq = ev->seq - (uint64_t)d;
	*none = !kind;
	if (!kind)
		return 0;
	if (!hl_kind_info(kind) || get_varint(c, &cause->seq) < 0 ||
	    get_byte(c, &flags) < 0)
		return -1;
	cause->kind = (uint16_t)kind;
	cause->flags = (uint8_t)flags;
	cause->pid = ev->pid;
	cause->tid = ev->tid;
	cause->cause = HL_CAUSE_NONE;
	return get_body(c, t, cause, ev->ts_ns, allargs);
}

struct reader {
	struct cursor c;
	struct hlt_state st;
	struct hl_sink *sink;
	struct hl_trace_end end;	/* the file's end record, once read */
	char str[HLT_MAX_STR], str2[HLT_MAX_STR];
};

static int read_thread(struct reader *r)
{
	uint64_t pid, tid;

	if (get_varint(&r->c, &pid) < 0 || get_varint(&r->c, &tid) < 0)
		return -1;
	return add_thread(&r->st, (uint32_t)pid, (uint32_t)tid) < 0 ? -1 : 0;
}

static int read_event(struct reader *r, unsigned tag)
{
	struct hl_event ev = { .kind = tag & HLT_KIND_MASK }, cause = { 0 };
	struct hlt_state *st = &r->st;
	unsigned extra = 0, flags;
	const char *str = NULL;
	uint64_t ti = st->cur;
	int64_t dseq = 1;
	struct hlt_thread *t;
	int no_cause = 1;

	if ((tag & HLT_NEW_THREAD) && get_varint(&r->c, &ti) < 0)
		return -1;
	if (ti >= st->nthreads || !hl_kind_info(ev.kind))
		return -1;
	if ((tag & HLT_EXTRA) && get_byte(&r->c, &extra) < 0)
		return -1;
	if ((extra & HLT_X_SEQ) && get_signed(&r->c, &dseq) < 0)
		return -1;
	t = &st->threads[ti];
	ev.seq = st->seq + (uint64_t)dseq;
	ev.pid = t->pid;
	ev.tid = t->tid;
	ev.cause = extra & HLT_X_CAUSE;
	if (get_body(&r->c, t, &ev, st->ts, !!(extra & HLT_X_ALLARGS)) < 0)
		return -1;
	if (ev.cause == HL_CAUSE_CALL &&
	    get_cause(&r->c, t, &ev, &cause, !!(extra & HLT_X_ALLARGS),
		      &no_cause) < 0)
		return -1;
	if ((extra & HLT_X_FLAGS) && get_byte(&r->c, &flags) < 0)
		return -1;
	ev.flags = (extra & HLT_X_FLAGS) ? (uint8_t)flags : 0;
	if ((extra & HLT_X_STR) && get_str(&r->c, r->str, &str) < 0)
		return -1;
	st->seq = ev.seq;
	st->ts = ev.ts_ns;
	st->cur = (uint32_t)ti;
	hl_sink_event(r->sink, &ev, str, no_cause ? NULL : &cause);
	return 0;
}

static int read_end(struct reader *r)
{
	struct hl_trace_end *e = &r->end;
	int64_t status;
	unsigned b;

	if (get_varint(&r->c, &e->seq) < 0 || get_varint(&r->c, &e->ts_ns) < 0 ||
	    get_byte(&r->c, &b) < 0 || get_varint(&r->c, &e->dropped) < 0 ||
	    get_signed(&r->c, &status) < 0 ||
	    get_str(&r->c, r->str2, &e->engine) < 0 ||
	    get_str(&r->c, r->str, &e->reason) < 0)
		return -1;
	e->complete = b != 0;
	e->status = (int)status;
	return 0;
}

/* ---- raw reader (HLTRACE3, 2): the inputs replayed through the merge ---- */

struct replay {
	struct hl_merge *m;
	struct hl_timeline tl;
	uint64_t last_r;		/* the last cycle's time */
	int v3;				/* HLTRACE3: depths, gone times */
};

static int get_u32(struct cursor *c, uint32_t *v)
{
	uint64_t x;

	if (get_varint(c, &x) < 0 || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* A kind the tap writes: only those can be a syscall's cause. */
static int is_call_kind(uint64_t kind)
{
	return kind < HL_EV_NKINDS && hl_kind_info((unsigned)kind) &&
	       hl_kind_info((unsigned)kind)->class == HL_KC_CALL;
}

/* One call record after its lead byte (DEPTHS: HLTRACE3, it may say). */
static int get_call(struct cursor *c, struct hlt_calls *s, unsigned lead,
		    int depths, struct hl_tap_rec *r)
{
	const struct hl_kind_info *ki;
	uint64_t kind = lead & HLT_C_KIND_ESC, depth = 0;
	int64_t d, dur;
	int n;

	memset(r, 0, sizeof(*r));
	if (kind == HLT_C_KIND_ESC && get_varint(c, &kind) < 0)
		return -1;
	if (kind > UINT16_MAX)
		return -1;
	if ((lead & HLT_C_DEPTH) &&
	    (!depths || get_varint(c, &depth) < 0 || !depth || depth > UINT16_MAX))
		return -1;
	/* Only the tap's kinds: another would become a syscall's cause. */
	if (!is_call_kind(kind))
		return -1;
	r->kind = (uint16_t)kind;
	r->depth = (uint16_t)depth;
	ki = hl_kind_info(r->kind);
	if (get_signed(c, &d) < 0 || get_signed(c, &dur) < 0)
		return -1;
	r->ts_ns = s->ts + (uint64_t)d;
	r->end_ns = r->ts_ns + (uint64_t)dur;
	s->ts = r->ts_ns;
	n = lead & HLT_C_ALLARGS ? HL_TAP_ARGS : own_nargs(ki);
	for (int i = 0; i < n; i++)
		if (is_addr_arg(ki, (unsigned)i) ? get_addr(c, &s->addr, &r->args[i]) :
		    get_signed(c, (int64_t *)&r->args[i]))
			return -1;
	if (ret_is_addr(ki))
		return get_addr(c, &s->addr, (uint64_t *)&r->ret);
	return get_signed(c, &r->ret);
}

static int read_calls(struct reader *r, struct replay *p)
{
	struct hlt_calls s = { 0, 0 };
	struct hl_tap_rec rec;
	uint32_t pid, tid;
	unsigned lead;

	if (get_u32(&r->c, &pid) < 0 || get_u32(&r->c, &tid) < 0)
		return -1;
	for (;;) {
		if (get_byte(&r->c, &lead) < 0)
			return -1;
		if (!lead)
			return 0;
		if (get_call(&r->c, &s, lead, p->v3, &rec) < 0)
			return -1;
		hl_merge_call(p->m, pid, tid, &rec);
	}
}

static int read_kernel(struct reader *r, struct replay *p)
{
	struct hl_merge_kin k = { 0 };
	struct hl_event *ev = &k.ev;
	struct hl_tap_open inner = { 0 };
	uint64_t kind, key, ts, v;
	uint32_t tid, pid, epid, etid;
	unsigned type, cause, flags, has;
	int64_t dur;

	if (get_u32(&r->c, &tid) < 0 || get_u32(&r->c, &pid) < 0 ||
	    get_byte(&r->c, &type) < 0 || get_varint(&r->c, &key) < 0 ||
	    get_varint(&r->c, &ts) < 0 || get_signed(&r->c, &dur) < 0 ||
	    get_u32(&r->c, &epid) < 0 || get_u32(&r->c, &etid) < 0 ||
	    get_varint(&r->c, &kind) < 0 || kind > UINT16_MAX ||
	    !hl_kind_info((unsigned)kind) || type > HL_MERGE_OTHER)
		return -1;
	k.type = (uint8_t)type;
	k.key = key;
	ev->ts_ns = ts;
	ev->end_ns = ts + (uint64_t)dur;
	ev->pid = epid;
	ev->tid = etid;
	ev->kind = (uint16_t)kind;
	for (int i = 0; i < HL_EV_ARGS; i++)
		if (get_signed(&r->c, (int64_t *)&ev->args[i]) < 0)
			return -1;
	if (get_signed(&r->c, &ev->ret) < 0 || get_byte(&r->c, &cause) < 0 ||
	    get_byte(&r->c, &flags) < 0 || get_byte(&r->c, &has) < 0)
		return -1;
	ev->cause = (uint8_t)cause;
	ev->flags = (uint8_t)flags;
	if (has) {
		if (get_varint(&r->c, &inner.ts_ns) < 0 ||
		    get_varint(&r->c, &v) < 0 || !is_call_kind(v))
			return -1;
		inner.kind = (uint32_t)v;
		for (int i = 0; i < HL_TAP_ARGS; i++)
			if (get_varint(&r->c, &inner.args[i]) < 0)
				return -1;
		if (get_varint(&r->c, &k.outer_ts) < 0)
			return -1;
		k.inner = &inner;
	}
	if (get_str(&r->c, r->str, &k.str) < 0)
		return -1;
	hl_merge_kernel(p->m, tid, pid, &k);
	return 0;
}

static int read_cycle(struct reader *r, struct replay *p)
{
	struct hl_merge_busy busy[HL_TAP_LANES * 4];
	uint64_t t, n;
	unsigned final;

	if (get_varint(&r->c, &t) < 0 || get_byte(&r->c, &final) < 0 ||
	    get_varint(&r->c, &n) < 0 || n > sizeof(busy) / sizeof(busy[0]))
		return -1;
	for (uint64_t i = 0; i < n; i++)
		if (get_u32(&r->c, &busy[i].tid) < 0 ||
		    get_varint(&r->c, &busy[i].since) < 0)
			return -1;
	hl_merge_cycle(p->m, t, busy, n, final);
	p->last_r = t;
	return 0;
}

/*
 * The records of a raw file, each applied to the merge as the engine did.
 * What goes out at each cycle is what went out live; a file cut short
 * stops after its last whole cycle (what the merge still held then is not
 * passed on, so the output is a prefix of the whole file's).
 */
static int replay_records(struct reader *r, struct replay *p, const char **why)
{
	unsigned tag;
	uint64_t at = UINT64_MAX;
	uint32_t tid;
	int rc;

	while (r->c.p < r->c.end) {
		tag = *r->c.p++;
		switch (tag) {
		case HLT_TAG_CALLS:
			rc = read_calls(r, p);
			break;
		case HLT_TAG_KERNEL:
			rc = read_kernel(r, p);
			break;
		case HLT_TAG_GONE:
			/* HLTRACE2 has no time: all of TID is the old one's */
			rc = get_u32(&r->c, &tid);
			if (!rc && p->v3)
				rc = get_varint(&r->c, &at);
			if (!rc)
				hl_merge_gone(p->m, tid, at);
			break;
		case HLT_TAG_CYCLE:
			rc = read_cycle(r, p);
			break;
		case HLT_TAG_EARLY:
			/* Ctrl-C while tracing: what the engine knew went out. */
			hl_merge_out(p->m);
			hl_tl_flush(&p->tl);
			rc = 0;
			break;
		case HLT_TAG_END:
			if (read_end(r) < 0)
				break;
			return r->c.p == r->c.end ? 0 :
			       (*why = "data after the end record", -1);
		default:
			rc = -1;
		}
		if (rc < 0)
			break;
		if (hl_merge_err(p->m)) {
			*why = "out of memory";
			return -1;
		}
	}
	*why = r->c.short_read || r->c.p >= r->c.end ?
	       "the file ends early (cut short while it was written)" :
	       "the file is corrupt";
	return -1;
}

static int replay_raw(struct reader *r, int v3, const char **why)
{
	struct replay p = { .v3 = v3 };
	unsigned flags;
	int rc;

	if (get_byte(&r->c, &flags) < 0) {
		*why = "the file ends early (cut short while it was written)";
		flags = 0;
	}
	hl_tl_init(&p.tl, r->sink);
	if (!(p.m = hl_merge_new(&p.tl, flags & HLT_RAW_TAP))) {
		*why = "out of memory";
		return -1;
	}
	rc = replay_records(r, &p, why);
	if (rc == 0) {
		/* As the tracer did before writing its end. */
		hl_tl_flush(&p.tl);
		r->end.seq = p.tl.seq + 1;
		hl_sink_end(r->sink, &r->end);
	} else {
		struct hl_trace_end e = {
			.seq = p.tl.seq + 1, .ts_ns = p.last_r, .complete = 0,
			.status = -1, .engine = "ebpf", .reason = *why,
		};

		p.tl.recording = 0;	/* what was held stays held */
		hl_sink_end(r->sink, &e);
	}
	hl_tl_fini(&p.tl);
	hl_merge_free(p.m);
	return rc;
}

/* The whole file in memory: mapped when it is a regular file, else read. */
static void *load(int fd, size_t *len, int *mapped)
{
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*mapped = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);

		if (p != MAP_FAILED) {
			madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
			*mapped = 1;
			*len = (size_t)st.st_size;
			return p;
		}
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : HLT_BUF);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			free(buf);
			return NULL;
		}
		if (!got)
			break;
		n += (size_t)got;
	}
	*len = n;
	return buf ? buf : malloc(1);
}

static int read_records(struct reader *r, const char **why)
{
	unsigned tag;

	while (r->c.p < r->c.end) {
		tag = *r->c.p++;
		if (tag == HLT_TAG_END) {
			if (read_end(r) == 0)
				return r->c.p == r->c.end ? 0 :
				       (*why = "data after the end record", -1);
		} else if (tag == HLT_TAG_THREAD) {
			if (read_thread(r) == 0)
				continue;
		} else if (read_event(r, tag) == 0) {
			continue;
		}
		break;
	}
	*why = r->c.short_read || r->c.p >= r->c.end ?
	       "the file ends early (cut short while it was written)" :
	       "the file is corrupt";
	return -1;
}

int hlt_read(int fd, struct hl_sink *sink, const char **why)
{
	struct reader *r = calloc(1, sizeof(*r));
	size_t len = 0;
	int mapped, rc = -1;
	void *data;

	*why = "out of memory";
	if (!r)
		return -1;
	data = load(fd, &len, &mapped);
	if (!data) {
		*why = errno == ENOMEM ? "out of memory" : strerror(errno);
		free(r);
		return -1;
	}
	if (len < 8 || (memcmp(data, HLT_MAGIC, 8) &&
			memcmp(data, HLT_MAGIC_RAW, 8) &&
			memcmp(data, HLT_MAGIC_RAW2, 8))) {
		*why = len >= 7 && !memcmp(data, "HLTRACE", 7) ?
		       "a heaplab trace of a format version this heaplab does "
		       "not read (it reads HLTRACE1, HLTRACE2 and HLTRACE3)" :
		       "not a heaplab trace (-f hlt) file";
		goto out;
	}
	r->sink = sink;
	r->st.cur = UINT32_MAX;
	r->c.start = data;
	r->c.p = r->c.start + 8;
	r->c.end = r->c.start + len;
	if (!memcmp(data, HLT_MAGIC_RAW, 8) || !memcmp(data, HLT_MAGIC_RAW2, 8)) {
		rc = replay_raw(r, !memcmp(data, HLT_MAGIC_RAW, 8), why);
		goto out;
	}
	rc = read_records(r, why);
	if (rc == 0) {
		hl_sink_end(sink, &r->end);
	} else {
		struct hl_trace_end e = {
			.seq = r->st.seq + 1, .ts_ns = r->st.ts, .complete = 0,
			.status = -1, .engine = "unknown", .reason = *why,
		};

		hl_sink_end(sink, &e);
	}
out:
	if (mapped)
		munmap(data, len);
	else
		free(data);
	free(r->st.threads);
	free(r);
	return rc;
}
