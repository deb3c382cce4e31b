/* SPDX-License-Identifier: MIT */
/*
 * run.h — `heaplab trace -e ebpf|ptrace|auto`: picks the engine and runs
 * the target under it. auto takes ebpf when its programs load here, else
 * ptrace, and says on stderr which and why.
 */
#ifndef HEAPLAB_PROBES_EBPF_RUN_H
#define HEAPLAB_PROBES_EBPF_RUN_H

#include <stdint.h>

#include "probes/hlt.h"
#include "probes/ptrace/engine.h"

struct hl_engine_run {
	const char *engine;	/* "ebpf", "ptrace" or "auto" */
	const char *alloc_path;	/* the preloaded allocator, "" for glibc */
	int uprobes;		/* allocator calls by uprobes (ebpf only) */
	/* -f hlt: the ebpf engine records its inputs there, joined when
	 * the file is read (hlt.h); the ptrace engine writes events. */
	struct hlt_writer *hlt;
	/* filled in: */
	const char *used;	/* the engine that ran */
	uint64_t lost;		/* kernel records the ebpf ring had no room for */
	int err;		/* the ebpf engine's errno (no memory to join,
				 * a failed poll): events are missing */
};

/*
 * Runs PO's command under the chosen engine. Returns 0, or -1 after
 * printing why the trace could not start (RES->started tells whether the
 * target ran at all).
 */
int hl_engine_run(struct hl_engine_run *er, const struct hl_ptrace_opts *po,
		  struct hl_ptrace_result *res);

#endif
