// SPDX-License-Identifier: MIT
/*
 * hlt_test.c — the compact binary trace gives back exactly what went in:
 * random events (every kind, threads that come back under another pid,
 * time going backwards between threads, gaps in seq, causes with and
 * without their call, args past a kind's own, exec paths) written as hlt,
 * read back and formatted, must equal the same events formatted directly,
 * byte for byte, as text and as jsonl.  A file cut short anywhere reads as
 * a prefix marked incomplete; a damaged or foreign file is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/tests/tap.h"
#include "lab/xorshift.h"
#include "probes/hlt.h"
#include "probes/sink.h"

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

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)); s++)
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
			check_cut(hlt, 8, want, wlen);
			check_cut(hlt, hlen / 2, want, wlen);
			check_cut(hlt, hlen - 1, want, wlen);
			for (int i = 0; i < 5; i++)
				check_cut(hlt, 9 + pick(hlen - 10), want, wlen);
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
	return tap_done();
}
