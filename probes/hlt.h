/* SPDX-License-Identifier: MIT */
/*
 * hlt.h — heaplab's compact binary trace (`heaplab trace -f hlt`): every
 * event in about ten bytes instead of jsonl's 150, so that recording every
 * allocator call costs the tracer little more than reading it.
 * `heaplab trace -i FILE` turns such a file into text, jsonl, perfetto or
 * a summary, event for event as if it had been written so at the time.
 *
 * Two kinds of file, told apart by the magic; numbers are LEB128 varints,
 * signed ones zigzag-encoded, strings length + 1 (0: none) then the bytes.
 *
 * "HLTRACE1": the events, joined (the ptrace engine writes this).
 *
 *   thread  0xF0, pid, tid              defines the next thread index
 *   end     0xF1, seq, ts_ns, complete (byte), dropped, status (signed),
 *           engine, reason
 *   event   kind | 0x40 (thread changes) | 0x80 (extra byte follows)
 *           [thread index] [extra] [seq delta, when not 1]
 *           ts delta from the previous event (signed), end_ns - ts_ns,
 *           args (addresses as signed deltas from the thread's last
 *           address, others as they are), ret (the same),
 *           [cause: cause_seq delta, then the cause event in full]
 *           [flags byte] [string]
 *
 * "HLTRACE3": the ebpf engine's inputs, not yet joined (record now, join
 * later, as perf record / perf script). The tracer only converts the tap's
 * records to ns and packs them, a few ns each; the merge, the cause join
 * and the numbering (merge.h, timeline.h) run when the file is read, on
 * exactly these inputs in this order, so the output is the live one.
 *
 *   header  flags byte (0x01: calls come from the tap)
 *   calls   0xE0, pid, tid, then records until a 0 byte; each record:
 *           lead byte: kind (0x3F: kind follows as a varint) | 0x40 (all
 *           four args follow, not only the kind's own) | 0x80 (a nested
 *           call: its depth follows, the calls open around it),
 *           [kind] [depth],
 *           ts delta from the block's previous record (0 at its start),
 *           end - ts, args (addresses as deltas from the block's last
 *           address, others as they are), ret (the same)
 *   kernel  0xE1, tid, pid, type (0 syscall, 1 other), key, ts,
 *           end - ts, ev pid, ev tid, kind, 6 args, ret, cause byte,
 *           flags byte, inner byte [inner ts, kind, 4 args, outer ts],
 *           string (exec: the path)
 *   gone    0xE2, tid, time             the thread did nothing after time
 *                                       (HLTRACE2: no time)
 *   cycle   0xE3, time, final byte, n, n x (tid, since)
 *                                       a drain cycle: which threads the
 *                                       tap showed inside a call, since when
 *   early   0xE4                        the trace was ended early (Ctrl-C):
 *                                       everything known goes out
 *   end     0xF1, as above (its seq is the reader's count)
 *
 * "HLTRACE2" is HLTRACE3 without depths (no 0x80 in a lead byte) and
 * without the time in gone: still read, two calls stamped the same ns
 * then ordered as merge.c can tell, a tid never taken as reused.
 *
 * A file without its end record was cut short: the reader says so and
 * marks the trace incomplete, after the events read (HLTRACE1) or the
 * events that had gone out by the last whole cycle (HLTRACE3): either way
 * a prefix of what the whole file gives.
 */
#ifndef HEAPLAB_PROBES_HLT_H
#define HEAPLAB_PROBES_HLT_H

#include "probes/event.h"
#include "probes/merge.h"
#include "probes/sink.h"

#define HLT_MAGIC "HLTRACE1"
#define HLT_MAGIC_RAW "HLTRACE3"
#define HLT_MAGIC_RAW2 "HLTRACE2"	/* read, no longer written */

struct hlt_writer;

/* A writer on FD (NULL: out of memory); the magic goes out with the
 * first record, HLTRACE3 if hlt_raw_start() came first. */
struct hlt_writer *hlt_open(int fd);
void hlt_event(struct hlt_writer *w, const struct hl_event *ev,
	       const char *str, const struct hl_event *cause);
void hlt_end(struct hlt_writer *w, const struct hl_trace_end *e);
/* Flushes and frees; returns 0 or the errno of the first failed write. */
int hlt_close(struct hlt_writer *w);

/*
 * HLTRACE3, the ebpf engine's inputs (see above). hlt_raw_start() before
 * anything else; after the end record (hlt_end) nothing more is written.
 * The calls are packed by the engine's drain thread into blocks of its own
 * (hlt_calls_*: at most HLT_CALLS_HEAD_MAX and HLT_CALL_MAX bytes, one for
 * the end) and passed on whole with hlt_raw_bytes().
 */
#define HLT_CALLS_HEAD_MAX	12
#define HLT_CALL_MAX		80

struct hlt_calls {
	uint64_t ts, addr;		/* the block's previous record's */
};

void hlt_raw_start(struct hlt_writer *w, int tap);
char *hlt_calls_begin(char *c, struct hlt_calls *s, uint32_t pid, uint32_t tid);
char *hlt_calls_put(char *c, struct hlt_calls *s, const struct hl_tap_rec *rec);
char *hlt_calls_end(char *c);
void hlt_raw_bytes(struct hlt_writer *w, const void *p, size_t n);
/* One call (--uprobes: the kernel's records carry them). */
void hlt_raw_call(struct hlt_writer *w, uint32_t pid, uint32_t tid,
		  const struct hl_tap_rec *rec);
void hlt_raw_kernel(struct hlt_writer *w, uint32_t tid, uint32_t pid,
		    const struct hl_merge_kin *k);
void hlt_raw_gone(struct hlt_writer *w, uint32_t tid, uint64_t at);
void hlt_raw_cycle(struct hlt_writer *w, uint64_t r,
		   const struct hl_merge_busy *busy, size_t n, int final);
void hlt_raw_early(struct hlt_writer *w);

/*
 * Reads the hlt file on FD into SINK (events, then its end); HLTRACE3 is
 * joined on the way (merge.h).  Returns 0
 * for a complete file; -1 with *WHY set when the file is not hlt, is
 * corrupt or was cut short (what was read went to the sink, followed by
 * an end marked incomplete).
 */
int hlt_read(int fd, struct hl_sink *sink, const char **why);

#endif
