/* SPDX-License-Identifier: MIT */
/*
 * hlt.h — heaplab's compact binary trace (`heaplab trace -f hlt`): the same
 * events as jsonl, each in about ten bytes instead of 150, so that recording
 * every allocator call costs the tracer little more than reading it.
 * `heaplab trace -i FILE` turns such a file into text, jsonl, perfetto or
 * a summary, event for event as if it had been written so at the time.
 *
 * The file: the magic "HLTRACE1", then records, each starting with a tag
 * byte; numbers are LEB128 varints, signed ones zigzag-encoded.
 *
 *   thread  0xF0, pid, tid              defines the next thread index
 *   end     0xF1, seq, ts_ns, complete (byte), dropped, status (signed),
 *           engine, reason              strings: length + 1 (0: none), bytes
 *   event   kind | 0x40 (thread changes) | 0x80 (extra byte follows)
 *           [thread index] [extra] [seq delta, when not 1]
 *           ts delta from the previous event (signed), end_ns - ts_ns,
 *           args (addresses as signed deltas from the thread's last
 *           address, others as they are), ret (the same),
 *           [cause: cause_seq delta, then the cause event in full]
 *           [flags byte] [string]
 *
 * A file without its end record was cut short: the reader says so and
 * marks the trace incomplete.
 */
#ifndef HEAPLAB_PROBES_HLT_H
#define HEAPLAB_PROBES_HLT_H

#include "probes/event.h"
#include "probes/sink.h"

#define HLT_MAGIC "HLTRACE1"

struct hlt_writer;

/* A writer on FD (NULL: out of memory); the magic is written first. */
struct hlt_writer *hlt_open(int fd);
void hlt_event(struct hlt_writer *w, const struct hl_event *ev,
	       const char *str, const struct hl_event *cause);
void hlt_end(struct hlt_writer *w, const struct hl_trace_end *e);
/* Flushes and frees; returns 0 or the errno of the first failed write. */
int hlt_close(struct hlt_writer *w);

/*
 * Reads the hlt file on FD into SINK (events, then its end).  Returns 0
 * for a complete file; -1 with *WHY set when the file is not hlt, is
 * corrupt or was cut short (what was read went to the sink, followed by
 * an end marked incomplete).
 */
int hlt_read(int fd, struct hl_sink *sink, const char **why);

#endif
