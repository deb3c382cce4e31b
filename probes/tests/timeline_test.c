// SPDX-License-Identifier: MIT
/*
 * timeline_test.c — the timeline's ordering and cause rules, fed by hand:
 * a call open around a syscall, nested calls, a lost call record, a thread
 * that dies inside a call, process events inside a hold.  Output is jsonl
 * into a pipe-less temp file, read back line by line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/tests/tap.h"
#include "probes/sink.h"
#include "probes/timeline.h"

static struct hl_sink sink;
static struct hl_timeline tl;
static FILE *out;

static void begin(void)
{
	out = tmpfile();
	if (!out || hl_sink_open(&sink, fileno(out), HL_FMT_JSONL) < 0)
		exit(2);
	hl_tl_init(&tl, &sink);
}

/* The lines written since begin(), NULL-terminated (static storage). */
static char **end(void)
{
	static char buf[65536], *lines[256];
	size_t n;
	int i = 0;

	hl_tl_fini(&tl);
	hl_sink_close(&sink);
	rewind(out);
	n = fread(buf, 1, sizeof(buf) - 1, out);
	buf[n] = '\0';
	fclose(out);
	for (char *p = strtok(buf, "\n"); p && i < 255; p = strtok(NULL, "\n"))
		lines[i++] = p;
	lines[i] = NULL;
	return lines;
}

static int count(char **l)
{
	int n = 0;

	while (l[n])
		n++;
	return n;
}

static int has(const char *line, const char *s)
{
	return line && strstr(line, s) != NULL;
}

static void call(uint32_t tid, uint16_t kind, uint64_t t0, uint64_t t1,
		 uint64_t a0, int64_t ret, uint16_t depth)
{
	struct hl_tap_rec r = {
		.ts_ns = t0, .end_ns = t1, .kind = kind, .depth = depth,
		.args = { a0 }, .ret = ret,
	};

	hl_tl_call(&tl, 1, tid, &r);
}

static void syscall_in(uint32_t tid, uint64_t t, const struct hl_tap_open *o,
		       uint64_t outer)
{
	struct hl_event ev = {
		.ts_ns = t, .end_ns = t + 1, .pid = 1, .tid = tid,
		.kind = HL_EV_MMAP, .args = { 0, 4096 }, .ret = 0x1000,
	};

	hl_tl_syscall(&tl, &ev, o, outer);
}

int main(void)
{
	struct hl_tap_open o = { .ts_ns = 100, .kind = HL_EV_MALLOC,
				 .args = { 200000 } };
	char **l;

	/* A syscall inside malloc: the call goes out first, then the mmap
	 * naming it, though the call's record arrives last. */
	begin();
	syscall_in(7, 150, &o, 100);
	call(7, HL_EV_MALLOC, 100, 200, 200000, 0x2000, 0);
	l = end();
	ok(count(l) == 2, "call + syscall: two events");
	ok(has(l[0], "\"seq\":1,") && has(l[0], "\"kind\":\"malloc\""),
	   "the call is #1");
	ok(has(l[1], "\"kind\":\"mmap\"") &&
	   has(l[1], "\"cause\":{\"seq\":1,\"kind\":\"malloc\",\"args\":{\"size\":200000}}"),
	   "the mmap is #2 and names #1 malloc(200000)");

	/* Nested calls: the inner one's record comes first, but the outer
	 * started first and goes out first. */
	begin();
	call(7, HL_EV_REALLOC, 120, 130, 0, 0x3000, 1);
	ok(sink.nevents == 0, "an inner call is held until its outer call is back");
	call(7, HL_EV_REALLOCARRAY, 110, 140, 0, 0x3000, 0);
	l = end();
	ok(count(l) == 2 && has(l[0], "reallocarray") && has(l[1], "\"realloc\""),
	   "nested: reallocarray, then the realloc inside it");

	/* The same, both begun in the same ns: still the outer one first. */
	begin();
	call(7, HL_EV_REALLOC, 110, 130, 0, 0x3000, 1);
	call(7, HL_EV_REALLOCARRAY, 110, 140, 0, 0x3000, 0);
	l = end();
	ok(count(l) == 2 && has(l[0], "reallocarray") && has(l[1], "\"realloc\""),
	   "nested and stamped the same ns: reallocarray, then the realloc inside it");

	/* Another thread is not held back by a thread in a call. */
	begin();
	syscall_in(7, 150, &o, 100);
	call(8, HL_EV_FREE, 160, 170, 0x5000, 0, 0);
	ok(sink.nevents == 1, "another thread's call goes straight out");
	call(7, HL_EV_MALLOC, 100, 200, 200000, 0x2000, 0);
	l = end();
	ok(count(l) == 3 && has(l[0], "\"tid\":8"), "three events, tid 8 first");

	/* The call's record was lost (a full lane): the next syscall outside
	 * any call releases the held one, whose cause has no seq. */
	begin();
	syscall_in(7, 150, &o, 100);
	syscall_in(7, 300, NULL, 0);
	l = end();
	ok(count(l) == 2, "lost record: both syscalls out");
	ok(has(l[0], "\"cause\":{\"seq\":null,\"kind\":\"malloc\""),
	   "lost record: the cause names malloc, seq null");
	ok(has(l[1], "\"cause\":null"), "the later syscall has no cause");

	/* The thread dies inside the call: an unfinished call is written,
	 * then its syscall, then the exit. */
	begin();
	syscall_in(7, 150, &o, 100);
	{
		struct hl_event ex = { .ts_ns = 400, .end_ns = 400, .pid = 1,
				       .tid = 7, .kind = HL_EV_EXIT,
				       .args = { 0, 9 }, .ret = 137 };

		hl_tl_process(&tl, &ex, NULL);
	}
	ok(sink.nevents == 0, "an exit inside a held call waits too");
	hl_tl_thread_gone(&tl, 7);
	l = end();
	ok(count(l) == 3, "dead inside a call: three events");
	ok(has(l[0], "\"kind\":\"malloc\"") && has(l[0], "\"ret\":null") &&
	   has(l[0], "\"unfinished\":true"), "the call is written unfinished");
	ok(has(l[1], "\"cause\":{\"seq\":1,"), "its syscall names it");
	ok(has(l[2], "\"kind\":\"exit\""), "the exit comes last");

	/* The open call read from the target's lane has a kind no call has
	 * (the target wrote over its lane): no cause, and no crash when the
	 * thread goes (it was written as a call that never returned). */
	begin();
	{
		struct hl_tap_open bad = { .ts_ns = 100, .kind = 200 };

		syscall_in(7, 150, &bad, 100);
		hl_tl_thread_gone(&tl, 7);
	}
	l = end();
	ok(count(l) == 1 && has(l[0], "\"kind\":\"mmap\"") &&
	   has(l[0], "\"cause\":null"), "an open call of an unknown kind: no cause");

	/* Loader and tap causes need no call. */
	begin();
	{
		struct hl_event ev = { .ts_ns = 5, .end_ns = 6, .pid = 1,
				       .tid = 7, .kind = HL_EV_BRK,
				       .cause = HL_CAUSE_LOADER };

		hl_tl_syscall(&tl, &ev, NULL, 0);
	}
	l = end();
	ok(count(l) == 1 && has(l[0], "\"cause\":\"loader\""), "loader cause");

	/* A call that never comes back does not hold its thread's events
	 * for ever: past the cap they go out. */
	begin();
	for (uint64_t i = 0; i < 70000; i++)
		call(7, HL_EV_MALLOC, 1000 + i, 1000 + i, 16, 0x10, 1);
	ok(sink.nevents == 65536, "held events are bounded (%llu out at the cap)",
	   (unsigned long long)sink.nevents);
	end();

	/* Not recording (after Ctrl-C): nothing is written. */
	begin();
	tl.recording = 0;
	call(7, HL_EV_MALLOC, 1, 2, 10, 0x10, 0);
	l = end();
	ok(count(l) == 0, "after the trace ended nothing more is written");
	return tap_done();
}
