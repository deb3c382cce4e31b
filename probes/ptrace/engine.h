/* SPDX-License-Identifier: MIT */
/*
 * engine.h — heaplab's ptrace engine.
 *
 * The child asks to be traced (PTRACE_TRACEME + SIGSTOP), so the tracer can
 * set PTRACE_O_TRACESECCOMP and friends before the child loads a seccomp
 * filter (built with libseccomp) that returns SECCOMP_RET_TRACE for the
 * memory syscalls only and then execs CMD: the tracee stops nowhere else.
 * At each seccomp stop the engine reads the arguments, lets the syscall run
 * to its exit stop for the return value, and asks the tap which allocator
 * call is open on the thread.  fork, vfork, clone and exec are followed.
 * No privilege is needed: only one's own children are traced.
 */
#ifndef HEAPLAB_PROBES_PTRACE_ENGINE_H
#define HEAPLAB_PROBES_PTRACE_ENGINE_H

#include "probes/tap/reader.h"
#include "probes/timeline.h"

struct hl_ptrace_opts {
	const char *cmd;		/* for messages: "trace" */
	const char *path;		/* the program, already resolved */
	char **argv;
	int syscalls;			/* stop at the memory syscalls */
	struct hl_tap_reader *tap;	/* NULL: no allocator calls */
	const char *tap_path;		/* real path of the tap, for cause "tap" */
	struct hl_timeline *tl;
	/* First Ctrl-C: the caller ends the trace as incomplete. */
	void (*on_interrupt)(void *ctx);
	void *ctx;
};

struct hl_ptrace_result {
	int status;		/* CMD's status as a shell reports it */
	int interrupted;	/* Ctrl-C (or SIGTERM/SIGHUP) arrived */
	int started;		/* CMD was exec'd */
};

/* Runs and traces until every tracee is gone. Returns 0, or -1 after
 * printing why the trace could not start. */
int hl_ptrace_run(const struct hl_ptrace_opts *o, struct hl_ptrace_result *r);

#endif
