// SPDX-License-Identifier: MIT
/*
 * sinkfmt.c — the sinks alone, without a tracer: events in, one of
 * heaplab trace's formats out.  For the sink tests and the sink benchmark.
 *
 *	sinkfmt [-f text|jsonl|perfetto|summary] [-o FILE] [-b] synth N
 *	sinkfmt [-f text|jsonl|perfetto|summary] [-o FILE] FILE.jsonl
 *	sinkfmt numbers
 *
 * synth N: N deterministic synthetic events, first a fixed list that
 * visits every kind, argument format, cause and escape, then a malloc-heavy
 * mix (malloc/free pairs on three threads, with brk/mmap/munmap inside
 * them), ending with a trace_end record.
 *
 * FILE.jsonl: a recorded `heaplab trace -f jsonl` stream, parsed back into
 * event records (the causes from the calls already read, by seq) and
 * formatted again: formatting it as jsonl must give the same bytes.
 *
 * numbers: the sinks' decimal and hex formatting against printf's.
 *
 * -b: the events are made first, then only the formatting is timed (CPU
 * time of the process, write(2) included); ns per event goes to stderr.
 *
 * It uses only the sinks' public calls, so the same file builds against an
 * older sink.c, perfetto.c and summary.c for a byte comparison.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lab/xorshift.h"
#include "probes/event.h"
#include "probes/perfetto.h"
#include "probes/sink.h"
#include "probes/summary.h"

struct item {
	struct hl_event ev;
	const char *str;		/* side string (exec) */
	int has_cause;
	struct hl_event cause;
};

static struct item *items;
static size_t nitems, capitems;
static struct hl_trace_end end_rec;
static char engine[64] = "synth", reason[256];

static void die(const char *what)
{
	fprintf(stderr, "sinkfmt: %s\n", what);
	exit(2);
}

static struct item *push(void)
{
	if (nitems == capitems) {
		capitems = capitems ? capitems * 2 : 4096;
		items = realloc(items, capitems * sizeof(*items));
		if (!items)
			die("out of memory");
	}
	memset(&items[nitems], 0, sizeof(items[0]));
	return &items[nitems++];
}

/* ---- synthetic events ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t clock_ns = 1700000000123ull;
static uint64_t seq;

static struct item *ev_new(unsigned kind, uint32_t pid, uint32_t tid)
{
	struct item *it = push();

	clock_ns += 40 + hl_xorshift(&rng) % 400;
	it->ev.ts_ns = clock_ns;
	it->ev.end_ns = clock_ns + 20 + hl_xorshift(&rng) % 300;
	it->ev.seq = ++seq;
	it->ev.pid = pid;
	it->ev.tid = tid;
	it->ev.kind = (uint16_t)kind;
	if (hl_kinds[kind].flags & HL_KF_RET_NONE)
		it->ev.flags |= HL_EVF_RET_NONE;
	return it;
}

static void set_cause(struct item *it, const struct item *call)
{
	it->ev.cause = HL_CAUSE_CALL;
	it->ev.cause_seq = call->ev.seq;
	it->has_cause = 1;
	it->cause = call->ev;
}

/* Every kind, argument format, cause and escape, once at least. */
static void synth_fixed(void)
{
	const uint32_t P = 4242;
	struct item *c, *e;

	e = ev_new(HL_EV_EXEC, P, P);
	e->str = "/usr/bin/prog \"quoted\" back\\slash\ttab\x01\x1f\x7f \xc3\xa9t\xc3\xa9";
	e->ev.end_ns = e->ev.ts_ns;
	e = ev_new(HL_EV_BRK, P, P);
	e->ev.ret = 0x555555559000;
	e->ev.cause = HL_CAUSE_LOADER;
	e = ev_new(HL_EV_MMAP, P, P);	/* a file mapping of the loader */
	e->ev.args[1] = 8192; e->ev.args[2] = PROT_READ | PROT_EXEC;
	e->ev.args[3] = MAP_PRIVATE | MAP_DENYWRITE | MAP_FIXED;
	e->ev.args[0] = 0x7ffff7dc0000; e->ev.args[4] = 3;
	e->ev.args[5] = 0x26000; e->ev.ret = 0x7ffff7dc0000;
	e->ev.cause = HL_CAUSE_LOADER;
	e = ev_new(HL_EV_MMAP, P, P);	/* the tap's ring */
	e->ev.args[1] = 1 << 20; e->ev.args[2] = PROT_READ | PROT_WRITE;
	e->ev.args[3] = MAP_SHARED; e->ev.args[4] = 3;
	e->ev.ret = 0x7ffff7a00000; e->ev.cause = HL_CAUSE_TAP;
	e = ev_new(HL_EV_MMAP, P, P);	/* every flag, odd bits, failed */
	e->ev.args[1] = ~0ull; e->ev.args[2] = 0xff;
	e->ev.args[3] = 0x3 | 0xfffff0; e->ev.args[4] = (uint32_t)-1;
	e->ev.ret = -ENOMEM;
	e = ev_new(HL_EV_MMAP, P, P);	/* PROT_NONE, type 0 */
	e->ev.args[1] = 4096; e->ev.args[3] = 0; e->ev.args[4] = (uint32_t)-1;
	e->ev.ret = -EINVAL;
	e = ev_new(HL_EV_MPROTECT, P, P);
	e->ev.args[0] = 0x7ffff7dc2000; e->ev.args[1] = 4096;
	e->ev.args[2] = PROT_READ; e->ev.cause = HL_CAUSE_LOADER;
	e = ev_new(HL_EV_MPROTECT, P, P);
	e->ev.args[0] = 0x7ffff7dc2000; e->ev.args[1] = 4096;
	e->ev.args[2] = PROT_NONE | PROT_GROWSDOWN | 0x100;
	e->ev.ret = -EACCES;
	for (unsigned a = 0; a < 26; a++) {	/* every advice, and unknown */
		e = ev_new(HL_EV_MADVISE, P, P);
		e->ev.args[0] = 0x7ffff0000000 + a * 4096;
		e->ev.args[1] = 4096 * a;
		e->ev.args[2] = a < 22 ? a : 100 + a;
	}
	c = ev_new(HL_EV_REALLOC, P, P);
	c->ev.args[0] = 0x7ffff0000010; c->ev.args[1] = 300000;
	c->ev.ret = 0x7fffe0000010;
	for (unsigned f = 0; f < 8; f++) {	/* mremap: every flag set */
		e = ev_new(HL_EV_MREMAP, P, P);
		e->ev.args[0] = 0x7ffff0000000; e->ev.args[1] = 266240;
		e->ev.args[2] = 303104; e->ev.args[3] = f | (f == 7 ? 8 : 0);
		e->ev.args[4] = f & 2 ? 0x7fffe0000000 : 0;
		e->ev.ret = f == 5 ? -EFAULT : 0x7fffe0000000;
		set_cause(e, c);
	}
	e = ev_new(HL_EV_MUNMAP, P, P);
	e->ev.args[0] = 0x7ffff7a00000; e->ev.args[1] = 1 << 20;
	e = ev_new(HL_EV_MUNMAP, P, P);
	e->ev.args[0] = 0; e->ev.args[1] = 0; e->ev.ret = -EINVAL;
	e = ev_new(HL_EV_BRK, P, P);	/* an errno with no name */
	e->ev.ret = -4095;
	e = ev_new(HL_EV_BRK, P, P);	/* not an error: below -4095 */
	e->ev.ret = -4096;
	/* every call kind, with a syscall each */
	for (unsigned k = HL_EV_MALLOC; k <= HL_EV_PVALLOC; k++) {
		c = ev_new(k, P, P);
		for (unsigned i = 0; i < hl_kinds[k].nargs; i++)
			c->ev.args[i] = hl_kinds[k].fmt[i] == HL_AF_ADDR ?
				0x555555560000 + 16 * i : 64 << i;
		c->ev.ret = k == HL_EV_POSIX_MEMALIGN ? 0 : 0x555555570010;
		e = ev_new(HL_EV_BRK, P, P);
		e->ev.args[0] = 0x55555557a000; e->ev.ret = 0x55555557a000;
		set_cause(e, c);
	}
	c = ev_new(HL_EV_POSIX_MEMALIGN, P, P);	/* failed: ENOMEM */
	c->ev.args[0] = 0x7fffffffe000; c->ev.args[1] = 3; c->ev.args[2] = 100;
	c->ev.ret = ENOMEM;
	c = ev_new(HL_EV_MALLOC, P, P);	/* returned NULL */
	c->ev.args[0] = ~0ull; c->ev.ret = 0;
	/* the allocator's USDT events */
	for (unsigned k = HL_EV_HEAP_GROW; k <= HL_EV_THRESHOLD; k++) {
		e = ev_new(k, P, P);
		e->ev.end_ns = e->ev.ts_ns;
		for (unsigned i = 0; i < hl_kinds[k].nargs; i++)
			e->ev.args[i] = 1000 * (i + 1) + k;
	}
	/* a cause whose record was lost: a stand-in with seq 0 */
	e = ev_new(HL_EV_MMAP, P, P);
	e->ev.args[1] = 139264; e->ev.args[2] = PROT_READ | PROT_WRITE;
	e->ev.args[3] = MAP_PRIVATE | MAP_ANONYMOUS; e->ev.args[4] = (uint32_t)-1;
	e->ev.ret = 0x7ffff7d9e000; e->ev.cause = HL_CAUSE_CALL;
	e->has_cause = 1;
	e->cause.kind = HL_EV_MALLOC; e->cause.args[0] = 135000;
	e->cause.ts_ns = e->cause.end_ns = e->ev.ts_ns - 10;
	e->cause.pid = P; e->cause.tid = P;
	/* unfinished: a call and a syscall that never returned */
	c = ev_new(HL_EV_MALLOC, P, P);
	c->ev.args[0] = 200000; c->ev.flags |= HL_EVF_UNFINISHED;
	e = ev_new(HL_EV_MMAP, P, P);
	e->ev.args[1] = 204800; e->ev.args[3] = MAP_PRIVATE | MAP_ANONYMOUS;
	e->ev.args[4] = (uint32_t)-1; e->ev.flags |= HL_EVF_UNFINISHED;
	set_cause(e, c);
	e = ev_new(HL_EV_FREE, P, P);
	e->ev.flags |= HL_EVF_UNFINISHED; e->ev.args[0] = 0x555555570010;
	/* process life: a thread, a fork, a vfork, exec by a thread, exits */
	e = ev_new(HL_EV_FORK, P, P);
	e->ev.args[0] = P + 1; e->ev.args[2] = 1;
	e = ev_new(HL_EV_FORK, P, P);
	e->ev.args[0] = P + 10;
	e = ev_new(HL_EV_FORK, P, P);
	e->ev.args[0] = P + 11; e->ev.args[1] = 1;
	e = ev_new(HL_EV_EXEC, P + 10, P + 10);
	e->str = "/bin/sh";
	e = ev_new(HL_EV_EXEC, P + 11, P + 11);
	e->ev.args[0] = P + 12; e->str = "";
	e = ev_new(HL_EV_EXEC, P + 11, P + 11);
	e->str = NULL;			/* a path that was not read */
	e = ev_new(HL_EV_EXIT, P + 10, P + 10);
	e->ev.args[0] = 3; e->ev.ret = 3;
	e = ev_new(HL_EV_EXIT, P + 11, P + 11);
	e->ev.args[1] = 11; e->ev.ret = 139;
	e = ev_new(HL_EV_EXIT, P + 11, P + 11);
	e->ev.args[1] = 200; e->ev.ret = 128 + 200;	/* no such signal */
	e = ev_new(HL_EV_BRK, P + 1, P + 1);	/* a thread: [pid P/T] */
	e->ev.args[0] = 0; e->ev.ret = 0x555555559000;
	e = ev_new(HL_EV_BRK, P + 10, P + 10);	/* the child: [pid P] */
	e->ev.ret = 0x555555600000;
}

/* What mt_target heavy makes: malloc/free pairs, now and then a syscall. */
static void synth_mix(size_t n)
{
	const uint32_t P = 4242, tids[3] = { P, P + 1, P + 2 };
	uint64_t top = 0x555555600000;

	while (nitems < n) {
		uint64_t r = hl_xorshift(&rng);
		uint32_t tid = tids[r % 3];
		uint64_t size = 16 + (r >> 8) % 4000;
		struct item *c = ev_new(HL_EV_MALLOC, P, tid), *e;

		c->ev.args[0] = size;
		c->ev.ret = (int64_t)(0x555555560000 + ((r >> 20) & 0xffff0));
		if ((r >> 40) % 200 == 0) {	/* the heap grows */
			e = ev_new(HL_EV_BRK, P, tid);
			top += 135168;
			e->ev.args[0] = top;
			e->ev.ret = (int64_t)top;
			set_cause(e, c);
		} else if ((r >> 40) % 200 == 1) {	/* a large chunk */
			c->ev.args[0] = 135000 + (r >> 50);
			e = ev_new(HL_EV_MMAP, P, tid);
			e->ev.args[1] = 139264; e->ev.args[2] = PROT_READ | PROT_WRITE;
			e->ev.args[3] = MAP_PRIVATE | MAP_ANONYMOUS;
			e->ev.args[4] = (uint32_t)-1;
			e->ev.ret = 0x7ffff7d9e000 - (int64_t)((r >> 30) & 0xfff000);
			set_cause(e, c);
			c->ev.ret = e->ev.ret + 16;
			c = ev_new(HL_EV_FREE, P, tid);
			c->ev.args[0] = (uint64_t)e->ev.ret + 16;
			e = ev_new(HL_EV_MUNMAP, P, tid);
			e->ev.args[0] = c->ev.args[0] - 16; e->ev.args[1] = 139264;
			set_cause(e, c);
			continue;
		}
		e = ev_new(HL_EV_FREE, P, tid);
		e->ev.args[0] = (uint64_t)c->ev.ret;
	}
	nitems = n < nitems ? n : nitems;
}

static void synth(size_t n)
{
	/* All the room first: the generators hold pointers into items. */
	capitems = n + 1024;
	items = malloc(capitems * sizeof(*items));
	if (!items)
		die("out of memory");
	synth_fixed();
	synth_mix(n);
	end_rec = (struct hl_trace_end){
		.seq = nitems + 1, .ts_ns = clock_ns + 1000, .complete = 1,
		.status = 0, .engine = engine,
	};
}

/* ---- a recorded jsonl stream ---- */

/* Calls by seq, for the causes: the calls of the last 64k events. */
#define CALLS_KEPT 65536
static struct hl_event *calls;

static const char *lp;		/* parse position */
static size_t lineno;

static void bad(const char *what)
{
	fprintf(stderr, "sinkfmt: line %zu: %s at '%.40s'\n", lineno, what, lp);
	exit(2);
}

static void expect(char c)
{
	if (*lp != c)
		bad("unexpected text");
	lp++;
}

static int accept(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(lp, s, n))
		return 0;
	lp += n;
	return 1;
}

/* A JSON number, exactly (no doubles): -?[0-9]+. */
static uint64_t num(void)
{
	int neg = *lp == '-';
	uint64_t v = 0;

	lp += neg;
	if (*lp < '0' || *lp > '9')
		bad("number expected");
	while (*lp >= '0' && *lp <= '9')
		v = v * 10 + (uint64_t)(*lp++ - '0');
	return neg ? -v : v;
}

/* A JSON string into OUT (at most LEN bytes with the NUL). */
static void str(char *out, size_t len)
{
	size_t n = 0;

	expect('"');
	while (*lp != '"') {
		int c = (unsigned char)*lp++;

		if (!c)
			bad("unterminated string");
		if (c == '\\') {
			c = *lp++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				c = (int)strtol((char[]){ lp[0], lp[1], lp[2], lp[3], 0 },
						NULL, 16);
				lp += 4;
				break;
			}
		}
		if (n + 1 < len)
			out[n++] = (char)c;
	}
	lp++;
	out[n] = '\0';
}

static void key(char *out, size_t len)
{
	str(out, len);
	expect(':');
}

/* "args":{...} of KIND into ARGS (and the exec path into PATH). */
static void args(unsigned kind, uint64_t *a, char *path, size_t plen)
{
	char k[64];

	expect('{');
	while (*lp != '}') {
		unsigned i;

		key(k, sizeof(k));
		if (!strcmp(k, "path")) {
			str(path, plen);
		} else {
			for (i = 0; i < hl_kinds[kind].nargs; i++)
				if (!strcmp(hl_kinds[kind].arg[i], k))
					break;
			if (i == hl_kinds[kind].nargs)
				bad("unknown argument");
			a[i] = num();
		}
		if (*lp == ',')
			lp++;
	}
	lp++;
}

static unsigned kind_of(const char *name)
{
	unsigned k = hl_kind_by_name(name);

	if (!k)
		bad("unknown kind");
	return k;
}

static void trace_end_line(void)
{
	char k[64];

	while (*lp != '}') {
		key(k, sizeof(k));
		if (!strcmp(k, "seq"))
			end_rec.seq = num();
		else if (!strcmp(k, "ts_ns"))
			end_rec.ts_ns = num();
		else if (!strcmp(k, "kind"))
			str(k, sizeof(k));
		else if (!strcmp(k, "complete"))
			end_rec.complete = accept("true") ? 1 : (accept("false"), 0);
		else if (!strcmp(k, "dropped"))
			end_rec.dropped = num();
		else if (!strcmp(k, "events"))
			num();		/* the sink counts them again */
		else if (!strcmp(k, "status"))
			end_rec.status = (int)num();
		else if (!strcmp(k, "engine"))
			str(engine, sizeof(engine));
		else if (!strcmp(k, "reason"))
			str(reason, sizeof(reason)), end_rec.reason = reason;
		else
			bad("unknown trace_end field");
		if (*lp == ',')
			lp++;
	}
	end_rec.engine = engine;
}

static void event_line(void)
{
	struct item *it = push();
	struct hl_event *ev = &it->ev;
	char k[64], path[8192] = "";
	int has_path = 0;

	while (*lp != '}') {
		key(k, sizeof(k));
		if (!strcmp(k, "seq")) ev->seq = num();
		else if (!strcmp(k, "ts_ns")) ev->ts_ns = num();
		else if (!strcmp(k, "end_ns")) ev->end_ns = num();
		else if (!strcmp(k, "pid")) ev->pid = (uint32_t)num();
		else if (!strcmp(k, "tid")) ev->tid = (uint32_t)num();
		else if (!strcmp(k, "kind")) {
			str(k, sizeof(k));
			ev->kind = (uint16_t)kind_of(k);
			if (hl_kinds[ev->kind].flags & HL_KF_RET_NONE)
				ev->flags |= HL_EVF_RET_NONE;
		} else if (!strcmp(k, "args")) {
			args(ev->kind, ev->args, path, sizeof(path));
			has_path = hl_kinds[ev->kind].flags & HL_KF_STR;
		} else if (!strcmp(k, "ret")) {
			if (!accept("null"))
				ev->ret = (int64_t)num();
		} else if (!strcmp(k, "errno")) {
			str(k, sizeof(k));	/* follows from ret */
		} else if (!strcmp(k, "unfinished")) {
			expect('t'), accept("rue");
			ev->flags |= HL_EVF_UNFINISHED;
		} else if (!strcmp(k, "cause")) {
			if (accept("null")) {
				ev->cause = HL_CAUSE_NONE;
			} else if (accept("\"loader\"")) {
				ev->cause = HL_CAUSE_LOADER;
			} else if (accept("\"tap\"")) {
				ev->cause = HL_CAUSE_TAP;
			} else {
				struct hl_event *c = &it->cause;
				uint64_t cseq = 0;

				expect('{');
				ev->cause = HL_CAUSE_CALL;
				it->has_cause = 1;
				key(k, sizeof(k));
				if (!accept("null"))
					cseq = num();
				expect(',');
				key(k, sizeof(k));
				str(k, sizeof(k));
				c->kind = (uint16_t)kind_of(k);
				expect(',');
				key(k, sizeof(k));
				args(c->kind, c->args, path, sizeof(path));
				expect('}');
				if (cseq && calls[cseq % CALLS_KEPT].seq == cseq) {
					*c = calls[cseq % CALLS_KEPT];
				} else {	/* a stand-in, as the timeline makes */
					c->ts_ns = c->end_ns = ev->ts_ns;
					c->pid = ev->pid;
					c->tid = ev->tid;
				}
				ev->cause_seq = c->seq;
			}
		} else {
			bad("unknown field");
		}
		if (*lp == ',')
			lp++;
	}
	if (has_path)
		it->str = strdup(path);
	if (hl_kinds[ev->kind].class == HL_KC_CALL)
		calls[ev->seq % CALLS_KEPT] = *ev;
}

static void read_jsonl(const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		die(strerror(errno));
	calls = calloc(CALLS_KEPT, sizeof(*calls));
	if (!calls)
		die("out of memory");
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		lp = line;
		expect('{');
		if (strstr(line, "\"kind\":\"trace_end\""))
			trace_end_line();
		else
			event_line();
	}
	free(line);
	fclose(f);
}

/* ---- the number formatting against printf ---- */

static int check_one(uint64_t v)
{
	char a[64], b[64], *e;

	e = hl_fmt_u64(a, v);
	*e = '\0';
	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	if (strcmp(a, b))
		return fprintf(stderr, "u64 %s: %s\n", b, a), 1;
	e = hl_fmt_i64(a, (int64_t)v);
	*e = '\0';
	snprintf(b, sizeof(b), "%lld", (long long)v);
	if (strcmp(a, b))
		return fprintf(stderr, "i64 %s: %s\n", b, a), 1;
	e = hl_fmt_hex(a, v);
	*e = '\0';
	snprintf(b, sizeof(b), "0x%llx", (unsigned long long)v);
	if (strcmp(a, b))
		return fprintf(stderr, "hex %s: %s\n", b, a), 1;
	return 0;
}

/*
 * Every n below 1,000,000, around every power of ten and of two, and 1M
 * values spread over all digit counts: hl_fmt_u64/i64/hex print what printf
 * prints.  Exits 0 when all agree.
 */
static int check_numbers(void)
{
	uint64_t v, p10 = 1;
	int bad = 0;

	for (v = 0; v < 1000000; v++)
		bad |= check_one(v);
	for (int i = 0; i < 20; i++, p10 *= 10)
		for (int d = -3; d <= 3; d++)
			bad |= check_one(p10 + (uint64_t)d) | check_one(-(p10 + (uint64_t)d));
	for (int i = 0; i < 64; i++)
		for (int d = -2; d <= 2; d++)
			bad |= check_one((1ull << i) + (uint64_t)d);
	for (int i = 0; i < 1000000; i++)
		bad |= check_one(hl_xorshift(&rng) >> (hl_xorshift(&rng) % 64));
	return bad;
}

/* ---- formatting ---- */

static struct hl_summary summary;

static void summary_event(void *s, const struct hl_event *ev, const char *str,
			  const struct hl_event *cause)
{
	hl_summary_event(s, ev, str, cause);
}

static void perfetto_event(void *p, const struct hl_event *ev, const char *str,
			   const struct hl_event *cause)
{
	hl_perfetto_event(p, ev, str, cause);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *format = "jsonl", *outfile = NULL;
	struct hl_perfetto *perfetto = NULL;
	struct hl_sink sink;
	int fd = STDOUT_FILENO, bench = 0, c, err;
	double t0;

	while ((c = getopt(argc, argv, "f:o:b")) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': outfile = optarg; break;
		case 'b': bench = 1; break;
		default: die("usage: sinkfmt [-f FORMAT] [-o FILE] [-b] synth N | FILE.jsonl");
		}
	}
	if (optind < argc && !strcmp(argv[optind], "numbers"))
		return check_numbers();
	if (optind < argc && !strcmp(argv[optind], "synth") && optind + 1 < argc)
		synth(strtoull(argv[optind + 1], NULL, 0));
	else if (optind + 1 == argc)
		read_jsonl(argv[optind]);
	else
		die("usage: sinkfmt [-f FORMAT] [-o FILE] [-b] synth N | FILE.jsonl");
	if (outfile) {
		fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die(strerror(errno));
	}
	if (hl_sink_open(&sink, fd, strcmp(format, "text") ? HL_FMT_JSONL :
			 HL_FMT_TEXT) < 0)
		die("out of memory");
	if (!strcmp(format, "summary")) {
		hl_summary_init(&summary);
		sink.ext_event = summary_event;
		sink.ext = &summary;
	} else if (!strcmp(format, "perfetto")) {
		perfetto = hl_perfetto_open(fd);
		if (!perfetto)
			die("out of memory");
		sink.ext_event = perfetto_event;
		sink.ext = perfetto;
	} else if (strcmp(format, "text") && strcmp(format, "jsonl")) {
		die("unknown format");
	}
	t0 = cpu_s();
	for (size_t i = 0; i < nitems; i++)
		hl_sink_event(&sink, &items[i].ev, items[i].str,
			      items[i].has_cause ? &items[i].cause : NULL);
	if (perfetto) {
		hl_perfetto_end(perfetto, &end_rec);
	} else if (!strcmp(format, "summary")) {
		FILE *out = fdopen(dup(fd), "w");

		if (!out)
			die(strerror(errno));
		hl_summary_print(&summary, out, &end_rec);
		fclose(out);
		hl_summary_fini(&summary);
	} else {
		hl_sink_end(&sink, &end_rec);
	}
	if (bench)
		fprintf(stderr, "%s: %zu events, %.1f ns/event (CPU)\n", format,
			nitems, (cpu_s() - t0) * 1e9 / (double)(nitems ? nitems : 1));
	err = sink.err;
	hl_sink_close(&sink);
	if (perfetto && !err)
		err = hl_perfetto_close(perfetto);
	if (err) {
		fprintf(stderr, "sinkfmt: writing: %s\n", strerror(err));
		return 1;
	}
	return 0;
}
