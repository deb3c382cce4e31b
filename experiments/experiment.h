/* SPDX-License-Identifier: MIT */
/*
 * experiment.h — the experiment drivers.
 *
 * An experiment is a subcommand like any other (struct hl_cmd): it parses
 * its own options, runs its targets, prints a readable account, or with
 * --json the measured data as one JSON document on stdout. This file's
 * list is what `heaplab experiment --list` shows and what the report runs.
 *
 * Target programs live in experiments/targets/, are built without
 * sanitizers (they run with an allocator preloaded) and are found with
 * hl_libpath("experiments/targets/NAME").
 */
#ifndef HEAPLAB_EXPERIMENT_H
#define HEAPLAB_EXPERIMENT_H

#include <stdint.h>

#include "lab/heaplab.h"
#include "lab/json.h"

/* Every experiment, in the order a lab report presents them. */
extern const struct hl_cmd *const hl_experiments[];

const struct hl_cmd *hl_experiment_find(const char *name);

/*
 * Parses the options of an experiment that takes only -a ALLOC, --json and
 * --help: *ALLOC keeps its default unless -a is given. Returns -1 to go on,
 * else the exit status to return (help printed, or a usage error).
 */
int hl_exp_parse(const char *cmd, int argc, char **argv,
		 void (*help)(FILE *), const char **alloc, int *json);

/* The path of target program NAME into buf (dies if it is not built). */
char *hl_target_path(char *buf, size_t len, const char *name);

/*
 * Runs target ARGV (argv[0] a path) with ALLOC preloaded (NULL: nothing),
 * its stdout collected into *OUT (malloc'd, NUL-terminated), its stderr
 * passed through. Returns its exit status as a shell reports it.
 */
int hl_target_capture(const struct hl_alloc *alloc, char *const argv[],
		      char **out);

/*
 * Targets report "KEY VALUE" lines; the value of KEY in OUT (decimal or
 * 0x hex), or DFLT when the line is missing.
 */
long long hl_out_value(const char *out, const char *key, long long dflt);

/*
 * A target run under `heaplab trace -e ptrace -f jsonl`: its events (the
 * trace_end record taken out into complete/dropped) and its exit status.
 */
struct hl_trace {
	struct json **ev;
	size_t n, cap;
	int complete;
	int64_t dropped;
	int status;
};

/* Runs ARGV traced with ALLOC; *OUT (if not NULL) gets its stdout. */
int hl_trace_run(const struct hl_alloc *alloc, char *const argv[],
		 struct hl_trace *t, char **out);
/* The same with `--events EVENTS` (all, syscalls, calls). */
int hl_trace_run_events(const struct hl_alloc *alloc, char *const argv[],
			const char *events, struct hl_trace *t, char **out);
void hl_trace_free(struct hl_trace *t);

/*
 * Reading events: kind name, a numeric argument, the causing call's seq
 * and kind ("" when the cause is no call: none, "loader", "tap").
 */
const char *hl_ev_kind(const struct json *ev);
int64_t hl_ev_arg(const struct json *ev, const char *name, int64_t dflt);
int64_t hl_ev_cause_seq(const struct json *ev);
const char *hl_ev_cause_kind(const struct json *ev);

/*
 * Single measurements the fingerprint reuses, each defined beside the
 * experiment it comes from.
 */
/* threshold.c: smallest request mapped per allocation, -1 if none. */
long hl_measure_threshold(const struct hl_alloc *alloc);
/* recon.c: how far the first malloc(1000) moves the break. */
long hl_measure_break_move(const struct hl_alloc *alloc);
/* arenas.c: distinct heaps holding the blocks of THREADS threads. */
int hl_measure_heaps(const struct hl_alloc *alloc, int threads);
/* bins.c: freed blocks of SIZE held back from coalescing, -1 if none. */
int hl_measure_held_back(const struct hl_alloc *alloc, size_t size);

#endif
