/* SPDX-License-Identifier: MIT */
/*
 * phaselib.h — what the phase experiments (preload, magic, fragment,
 * split, coalesce, progression) share: their options, running the
 * phaseprobe target, and reading the heap walks it prints.
 */
#ifndef HEAPLAB_PHASELIB_H
#define HEAPLAB_PHASELIB_H

#include "experiments/experiment.h"
#include "lab/json.h"

#define PL_MAX_ALLOCS 16

/* The options of every phase experiment: -a ALLOC..., --json, --quick. */
struct pl_opts {
	const char *cmd;
	int json, quick;
	size_t nalloc;
	struct hl_alloc alloc[PL_MAX_ALLOCS];
};

/*
 * Parses the options; DEFAULTS (NULL-terminated) are used when no -a is
 * given, skipping the ones not installed. Returns -1 to go on, else the
 * exit status to return (help printed, or a usage error).
 */
int pl_parse(struct pl_opts *o, const char *cmd, int argc, char **argv,
	     void (*help)(FILE *), const char *const *defaults);

/* Is ALLOC one of the teaching allocators (phase1 ... phase6)? */
int pl_is_phase(const struct hl_alloc *a);

/*
 * Runs phaseprobe ARGS... with ALLOC preloaded and HEAPLAB_OPTIONS set to
 * OPTIONS (NULL: as inherited); returns its stdout (malloc'd); dies on
 * failure, naming the probe and allocator.
 */
char *pl_probe(const char *cmd, const struct hl_alloc *alloc,
	       const char *options, const char *const *args);

/*
 * The chunks the probe walked under LABEL ("chunk LABEL ADDR SIZE STATE
 * MAGIC" lines), as a JSON array of {offset (from BASE), size, state,
 * magic}; *NFREE gets how many are free.
 */
struct json *pl_chunks(const char *out, const char *label, long long base,
		       int *nfree);

/* "list LABEL TOTAL BEFORE": the whole list's length, chunks before. */
long long pl_list_len(const char *out, const char *label, long long *before);

/* The value of KEY in OUT, dying when the probe did not print it. */
long long pl_value(const char *cmd, const char *out, const char *key);

/*
 * Finishes: DOC to stdout as JSON when --json was given, else PRINT(PART)
 * as text (PART is DOC or a member of it); DOC is freed either way.
 */
void pl_output(const struct pl_opts *o, struct json *doc,
	       void (*print)(const struct json *), const struct json *part);

/* Reading results back for the text: a member as a number or a string. */
static inline long long pl_int(const struct json *o, const char *key)
{
	return json_as_int(json_get(o, key), 0);
}

static inline const char *pl_str(const struct json *o, const char *key)
{
	return json_as_str(json_get(o, key), "?");
}

/* A ratio rounded to DIGITS decimals, so the text and the JSON agree. */
double pl_round(double v, int digits);

#endif
