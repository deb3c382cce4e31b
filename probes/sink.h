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

int hl_sink_open(struct hl_sink *s, int fd, enum hl_format format);
/*
 * One event. STR is its side string (exec: the path) or NULL; CAUSE the
 * call event named by ev->cause_seq (may be a stand-in with seq 0 when the
 * call's own record was lost), NULL otherwise.
 */
void hl_sink_event(struct hl_sink *s, const struct hl_event *ev,
		   const char *str, const struct hl_event *cause);
void hl_sink_end(struct hl_sink *s, const struct hl_trace_end *e);
/* Writes out what is buffered; returns 0 or the errno of a failed write. */
int hl_sink_flush(struct hl_sink *s);
void hl_sink_close(struct hl_sink *s);

#endif
