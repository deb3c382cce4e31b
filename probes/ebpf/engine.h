/* SPDX-License-Identifier: MIT */
/*
 * engine.h — heaplab's ebpf engine: memtrace.bpf.c's records and the tap's
 * allocator calls, merged into the timeline (probes/timeline.h) as the
 * ptrace engine does, so both engines feed the same causes and sinks.
 *
 * The target is forked and held on a pipe before exec until the programs
 * are attached and its pid is in the kernel's filter: nothing it does at
 * start-up is missed. Needs root (CAP_BPF and CAP_PERFMON).
 */
#ifndef HEAPLAB_PROBES_EBPF_ENGINE_H
#define HEAPLAB_PROBES_EBPF_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "probes/hlt.h"
#include "probes/tap/reader.h"
#include "probes/timeline.h"

struct hl_ebpf_run_opts {
	const char *cmd;		/* for messages: "trace" */
	const char *path;		/* the program, already resolved */
	char **argv;
	int syscalls;			/* record the memory syscalls */
	struct hl_tap_reader *tap;	/* NULL: no tap (see uprobes) */
	const char *tap_path;		/* real path of the tap, for cause "tap" */
	const char *alloc_path;		/* the preloaded allocator ("" or NULL:
					 * glibc): its heaplab USDT probes */
	int uprobes;			/* allocator calls by uprobes, not the tap */
	struct hl_timeline *tl;
	/* -f hlt: the merge's inputs go to this file (hlt.h, HLTRACE2), to
	 * be joined when it is read; the timeline gets nothing. */
	struct hlt_writer *hlt;
	/* First Ctrl-C: the caller ends the trace as incomplete. */
	void (*on_interrupt)(void *ctx);
	void *ctx;
};

struct hl_ebpf_result {
	int status;		/* CMD's status as a shell reports it */
	int interrupted;	/* Ctrl-C (or SIGTERM/SIGHUP) arrived */
	int started;		/* CMD was exec'd */
	uint64_t lost;		/* records the kernel could not queue */
	int err;		/* 0, or the engine's errno: records it lost
				 * (no memory to join them, a failed poll) */
	int usdt_probes;	/* USDT probes attached */
	int call_probes;	/* functions with uprobes attached */
};

struct hl_ebpf_engine;

/*
 * Loads and attaches everything. NULL, with a one-line reason in WHY, when
 * eBPF cannot be used here (not root, no BTF, a kernel without the needed
 * tracepoints): `-e auto` then falls back to ptrace and says why.
 */
struct hl_ebpf_engine *hl_ebpf_engine_open(const struct hl_ebpf_run_opts *o,
					   char *why, size_t len);
/*
 * Runs CMD and traces it until its whole process tree is gone, then frees
 * G. Returns 0, or -1 after printing why the trace could not start.
 */
int hl_ebpf_engine_run(struct hl_ebpf_engine *g, struct hl_ebpf_result *r);
/* Frees G without running (when the caller gives up after open). */
void hl_ebpf_engine_close(struct hl_ebpf_engine *g);
/* The fd of G's map of the traced tree's processes (see hl_ebpf_procs_fd). */
int hl_ebpf_engine_procs_fd(const struct hl_ebpf_engine *g);

#endif
