/* SPDX-License-Identifier: MIT */
/*
 * sink.h — where events go: text (strace-like lines) or jsonl (one JSON
 * object per line), buffered and written out in whole lines only, so that a
 * file cut short by a crash is still valid to its last line.
 */
#ifndef HEAPLAB_PROBES_SINK_H
#define HEAPLAB_PROBES_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "probes/event.h"

enum hl_format { HL_FMT_TEXT, HL_FMT_JSONL };

struct hl_trace_end;

struct hl_sink {
	int fd;
	enum hl_format format;
	char *buf;
	size_t len, cap;
	int err;		/* errno of the first failed write, then quiet */
	uint32_t first_tid;	/* text shows [pid] once a second tid appears */
	int multi;
	uint64_t nevents;
	/* Another consumer in place of text/jsonl (-f perfetto, -c). */
	void (*ext_event)(void *ext, const struct hl_event *ev,
			  const char *str, const struct hl_event *cause);
	void (*ext_end)(void *ext, const struct hl_trace_end *e);
	void *ext;
	/*
	 * What reached FD: bytes, and up to the end of the last whole line
	 * (offsets from where FD was at open, base; -1: not seekable), with
	 * the events in those lines.  After a failed write the trace_end
	 * record goes after the last whole line (sink.c: recover).
	 */
	int64_t base;
	uint64_t out, out_whole, events_whole;
};

/* The last record of a trace: jsonl {"kind":"trace_end", ...}. */
struct hl_trace_end {
	uint64_t seq, ts_ns;
	int complete;		/* 0: interrupted, or records were dropped */
	uint64_t dropped;	/* tap records lost */
	int status;		/* CMD's exit status as a shell reports it */
	const char *engine;
	const char *reason;	/* why incomplete, or NULL */
};

/*
 * Output is kept in a 1 MiB buffer and written with write(2) once that much
 * has gathered, in whole records.  A write that fails (ENOSPC, EIO, EPIPE)
 * sets err; the events after it are counted, not formatted, and the
 * trace_end record says the trace is incomplete and why, written after the
 * last whole line when FD is a file that can be cut back there.
 */
int hl_sink_open(struct hl_sink *s, int fd, enum hl_format format);
/*
 * One event. STR is its side string (exec: the path) or NULL; CAUSE the
 * call event named by ev->cause_seq (may be a stand-in with seq 0 when the
 * call's own record was lost), NULL otherwise.
 */
void hl_sink_event(struct hl_sink *s, const struct hl_event *ev,
		   const char *str, const struct hl_event *cause);
void hl_sink_end(struct hl_sink *s, const struct hl_trace_end *e);
/*
 * After a failed write: the record that ends the trace where the kept part
 * of the file ends (its s->events_whole lines), written at P (room for
 * HL_SINK_REC_MAX); returns the end.
 */
typedef char *hl_sink_end_fn(char *p, const struct hl_sink *s,
			     const struct hl_trace_end *e);
/*
 * Cuts the file back to its last whole line (and to at most s->nevents
 * lines) and ends it there with PUT_END's record; nothing when FD cannot be
 * cut (a pipe, a terminal, stdout).
 */
void hl_sink_recover(struct hl_sink *s, const struct hl_trace_end *e,
		     hl_sink_end_fn *put_end);
/* "writing the trace failed (No space left on device) after KEPT" at P
 * (the caller says of what); returns the end.  HL_SINK_REASON_MAX holds it
 * with 100 bytes to spare. */
#define HL_SINK_REASON_MAX 256
char *hl_sink_fail_reason(char *p, const struct hl_sink *s, uint64_t kept);
/* Writes out what is buffered; returns 0 or the errno of a failed write. */
int hl_sink_flush(struct hl_sink *s);
void hl_sink_close(struct hl_sink *s);

/*
 * ---- writing records, for the formats (sink.c, perfetto.c) ----
 *
 * A record is written through a cursor: hl_sink_reserve() gives room for
 * NEED bytes at the end of the buffer (writing out what is there first if
 * needed), the hl_fmt_* helpers write at the cursor and return its new
 * place, and hl_sink_commit() takes the record in.  No bounds checks in
 * between: NEED must cover the record (HL_SINK_REC_MAX for one without
 * strings; a string takes at most 6 bytes per byte, JSON-escaped).
 */
#define HL_SINK_BUF (1u << 20)		/* written out at this much */
#define HL_SINK_REC_MAX 4096		/* a record, without its strings */

char *hl_sink_reserve(struct hl_sink *s, size_t need);

static inline void hl_sink_commit(struct hl_sink *s, char *p)
{
	s->len = (size_t)(p - s->buf);
	if (s->len >= HL_SINK_BUF)
		hl_sink_flush(s);
}

static inline char *hl_fmt_mem(char *p, const void *src, size_t n)
{
	__builtin_memcpy(p, src, n);
	return p + n;
}

/* A string literal: a copy of fixed size. */
#define HL_FMT_LIT(p, lit) hl_fmt_mem(p, "" lit, sizeof(lit) - 1)

static inline char *hl_fmt_str(char *p, const char *str)
{
	return hl_fmt_mem(p, str, __builtin_strlen(str));
}

extern const char hl_fmt_pairs[200];	/* "00" "01" ... "99" */

/*
 * Two digits per multiplication: x * ceil(2^32 / 100) holds x / 100 in
 * its upper 32 bits and the rest as a binary fraction, which times 100
 * gives the next two digits in the upper bits again.  Exact for every
 * x < 10^4 (checked against printf for all n < 10^8, with hl_fmt_u32).
 */
#define HL_FMT_DIV100 42949673ull

static inline char *hl_fmt_pair(char *p, uint64_t d)
{
	__builtin_memcpy(p, hl_fmt_pairs + 2 * d, 2);
	return p + 2;
}

/* Exactly four digits, leading zeros kept: x < 10^4. */
static inline char *hl_fmt_4(char *p, uint32_t x)
{
	uint64_t t = x * HL_FMT_DIV100;

	p = hl_fmt_pair(p, t >> 32);
	return hl_fmt_pair(p, ((uint32_t)t * 100ull) >> 32);
}

/* x < 10^4, without leading zeros. */
static inline char *hl_fmt_small(char *p, uint32_t x)
{
	uint64_t t;

	if (x < 100) {
		if (x < 10) {
			*p = (char)('0' + x);
			return p + 1;
		}
		return hl_fmt_pair(p, x);
	}
	t = x * HL_FMT_DIV100;
	if (x < 1000)
		*p++ = (char)('0' + (t >> 32));
	else
		p = hl_fmt_pair(p, t >> 32);
	return hl_fmt_pair(p, ((uint32_t)t * 100ull) >> 32);
}

/* n < 10^8, without leading zeros. */
static inline char *hl_fmt_u32(char *p, uint32_t n)
{
	uint32_t hi;

	if (n < 10000)
		return hl_fmt_small(p, n);
	hi = n / 10000;
	return hl_fmt_4(hl_fmt_small(p, hi), n - hi * 10000);
}

/* Exactly eight digits, leading zeros kept: n < 10^8. */
static inline char *hl_fmt_8(char *p, uint32_t n)
{
	uint32_t hi = n / 10000;

	return hl_fmt_4(hl_fmt_4(p, hi), n - hi * 10000);
}

/* Unsigned decimal: the trace is mostly numbers (times, addresses). */
static inline char *hl_fmt_u64(char *p, uint64_t v)
{
	if (v < 100000000)
		return hl_fmt_u32(p, (uint32_t)v);
	if (v < 10000000000000000ull) {
		p = hl_fmt_u32(p, (uint32_t)(v / 100000000));
		return hl_fmt_8(p, (uint32_t)(v % 100000000));
	}
	p = hl_fmt_u32(p, (uint32_t)(v / 10000000000000000ull));
	v %= 10000000000000000ull;
	p = hl_fmt_8(p, (uint32_t)(v / 100000000));
	return hl_fmt_8(p, (uint32_t)(v % 100000000));
}

static inline char *hl_fmt_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return hl_fmt_u64(p, -(uint64_t)v);
	}
	return hl_fmt_u64(p, (uint64_t)v);
}

/* Lower-case hexadecimal with "0x", no leading zeros. */
static inline char *hl_fmt_hex(char *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	unsigned n = (67 - (unsigned)__builtin_clzll(v | 1)) / 4;
	char *e;

	p[0] = '0';
	p[1] = 'x';
	e = p + 2 + n;
	for (char *q = e; q > p + 2; v >>= 4)
		*--q = digits[v & 15];
	return e;
}

/* A JSON string with its quotes; at most 6 * strlen(str) + 2 bytes. */
char *hl_fmt_json_str(char *p, const char *str);

#endif
