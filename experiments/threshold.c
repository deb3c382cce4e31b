// SPDX-License-Identifier: MIT
/*
 * threshold.c — `heaplab threshold [-a ALLOC|all] [--json]`: where does
 * malloc switch to mmap? Found to the byte by a binary search over request
 * sizes, each step a traced run of threshprobe: a size counts as
 * mmap-served when every malloc of it after the first (which may still fit
 * in the top) caused an mmap of its own, at least as long as the request.
 */
#include <stdlib.h>
#include <string.h>

#include "experiments/experiment.h"

#define SEARCH_MAX	(64L << 20)	/* no per-allocation mmap above: none */
#define PROBE_COUNT	6
#define MAX_STEPS	64

struct step {
	long size;
	int mmap;
};

struct search {
	long found;			/* smallest size served; -1 none */
	const char *why;		/* when found < 0 */
	int nsteps;
	struct step steps[MAX_STEPS];
};

struct thr_result {
	const char *alloc;
	int moves_break;		/* malloc(1000)s moved the break */
	int maps_small;			/* ... or grew the heap with mmap */
	struct search first;		/* fresh process, nothing freed */
	long map_len;			/* mmap length for malloc(first.found) */
	int dynamic;			/* a free raised the threshold */
	struct search cap;		/* after a free of the same size */
	long cap_len, below_cap_len;	/* mapping sizes at and below the cap */
	int has_knobs;			/* glibc: tunable and mallopt tried */
	long knob;			/* the threshold they set */
	struct search tunable, mallopt;
	int tunable_dynamic, mallopt_dynamic;
};

static char probe_path[4096];

/*
 * What one traced run of threshprobe showed: the mallocs of SIZE, how many
 * of those after the first (or after the freed one) caused an mmap at
 * least SIZE long, and what the mallocs did to the break.
 */
struct probe_out {
	int calls;			/* mallocs of SIZE (after a freed one) */
	int tail_mapped;		/* how many of the last ones were mapped */
	int brk_moves, mmaps;		/* break moves, mmaps caused by mallocs */
	long first_len;			/* length of the first caused mmap */
};

/* The mmap of at least SIZE that the call SEQ caused, or 0. */
static long mapped_by(const struct hl_trace *t, size_t from, int64_t seq,
		      long size, struct probe_out *po)
{
	long len = 0;

	for (size_t j = from; j < t->n; j++) {
		const struct json *sc = t->ev[j];

		if (hl_ev_cause_seq(sc) != seq)
			continue;
		if (!strcmp(hl_ev_kind(sc), "brk") &&
		    hl_ev_arg(sc, "addr", 0) != 0)
			po->brk_moves++;
		if (!strcmp(hl_ev_kind(sc), "mmap")) {
			po->mmaps++;
			if (!po->first_len)
				po->first_len = hl_ev_arg(sc, "length", 0);
			if (hl_ev_arg(sc, "length", 0) >= size)
				len = hl_ev_arg(sc, "length", 0);
		}
	}
	return len;
}

static void probe(const struct hl_alloc *alloc, const char *mode, long size,
		  int count, long mallopt_n, struct probe_out *po)
{
	char sz[32], cnt[16], mn[32];
	char *argv[8];
	struct hl_trace t;
	int argc = 0, skip = !strcmp(mode, "free");

	snprintf(sz, sizeof(sz), "%ld", size);
	snprintf(cnt, sizeof(cnt), "%d", count);
	argv[argc++] = probe_path;
	if (mallopt_n > 0) {
		snprintf(mn, sizeof(mn), "%ld", mallopt_n);
		argv[argc++] = "-m";
		argv[argc++] = mn;
	}
	argv[argc++] = (char *)mode;
	argv[argc++] = sz;
	argv[argc++] = cnt;
	argv[argc] = NULL;
	if (hl_trace_run(alloc, argv, &t, NULL) != 0)
		hl_die("threshold", "threshprobe %s %ld failed under %s (exit "
		       "status %d)", mode, size, alloc->name, t.status);
	if (!t.complete)
		hl_die("threshold", "the trace of threshprobe %s %ld under %s "
		       "is incomplete (%lld records dropped)", mode, size,
		       alloc->name, (long long)t.dropped);
	memset(po, 0, sizeof(*po));
	for (size_t i = 0; i < t.n; i++) {
		const struct json *ev = t.ev[i];

		if (strcmp(hl_ev_kind(ev), "malloc") ||
		    hl_ev_arg(ev, "size", -1) != size)
			continue;
		/* In free mode the first malloc of SIZE is the one freed. */
		if (skip) {
			skip = 0;
			mapped_by(&t, i + 1, json_as_int(json_get(ev, "seq"), 0),
				  size, po);
			continue;
		}
		po->calls++;
		if (mapped_by(&t, i + 1, json_as_int(json_get(ev, "seq"), 0),
			      size, po))
			po->tail_mapped++;
		else
			po->tail_mapped = 0;
	}
	hl_trace_free(&t);
}

/*
 * Served by mmap: once the top could no longer hold SIZE, every further
 * malloc of it got a mapping of its own — the last ones are all mapped,
 * at least two of them, so one lucky mapping (a heap grown by mmap) is
 * not taken for the rule.
 */
static int served(const struct hl_alloc *alloc, const char *mode, long size,
		  long mallopt_n, struct search *s, long *len)
{
	struct probe_out po;
	int yes;

	probe(alloc, mode, size, PROBE_COUNT, mallopt_n, &po);
	yes = po.calls == PROBE_COUNT && po.tail_mapped >= 2;
	if (s && s->nsteps < MAX_STEPS)
		s->steps[s->nsteps++] = (struct step){ size, yes };
	if (len)
		*len = po.first_len;
	return yes;
}

/* The smallest size in [lo, SEARCH_MAX] that MODE serves with mmap. */
static void search(const struct hl_alloc *alloc, const char *mode, long lo,
		   long mallopt_n, struct search *s)
{
	long hi = SEARCH_MAX;

	memset(s, 0, sizeof(*s));
	s->found = -1;
	if (!served(alloc, mode, hi, mallopt_n, s, NULL)) {
		s->why = "no request up to 64 MiB got a mapping of its own";
		return;
	}
	if (served(alloc, mode, lo, mallopt_n, s, NULL)) {
		s->found = lo;
		return;
	}
	while (hi - lo > 1) {
		long mid = lo + (hi - lo) / 2;

		if (served(alloc, mode, mid, mallopt_n, s, NULL))
			hi = mid;
		else
			lo = mid;
	}
	/* Check the boundary once more: a non-monotone allocator fails here. */
	if (!served(alloc, mode, hi, mallopt_n, NULL, NULL) ||
	    served(alloc, mode, hi - 1, mallopt_n, NULL, NULL)) {
		s->why = "the search did not converge: mmap use is not "
			 "monotone in the request size";
		return;
	}
	s->found = hi;
}

long hl_measure_threshold(const struct hl_alloc *alloc)
{
	struct search s;

	hl_target_path(probe_path, sizeof(probe_path), "threshprobe");
	search(alloc, "first", 1, 0, &s);
	return s.found;
}

static int is_glibc(const struct hl_alloc *a)
{
	return !a->path[0];
}

/*
 * glibc's two knobs set to half the default, so the move is plain to see:
 * the tunable (environment, replacing any other tunables for this search)
 * and mallopt(M_MMAP_THRESHOLD) inside the target.
 */
static void knob_searches(const struct hl_alloc *alloc, struct thr_result *r)
{
	const char *old = getenv("GLIBC_TUNABLES");
	char *saved = old ? strdup(old) : NULL;
	char env[64];

	r->has_knobs = 1;
	r->knob = 64 * 1024;
	snprintf(env, sizeof(env), "glibc.malloc.mmap_threshold=%ld", r->knob);
	setenv("GLIBC_TUNABLES", env, 1);
	search(alloc, "first", 1, 0, &r->tunable);
	if (r->tunable.found > 0)
		r->tunable_dynamic = !served(alloc, "free",
					     2 * r->tunable.found, 0, NULL, NULL);
	if (saved)
		setenv("GLIBC_TUNABLES", saved, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	free(saved);
	search(alloc, "first", 1, r->knob, &r->mallopt);
	if (r->mallopt.found > 0)
		r->mallopt_dynamic = !served(alloc, "free", 2 * r->mallopt.found,
					     r->knob, NULL, NULL);
}

static void measure(const struct hl_alloc *alloc, struct thr_result *r)
{
	struct probe_out po;
	long above;

	memset(r, 0, sizeof(*r));
	r->alloc = alloc->name;
	probe(alloc, "first", 1000, 64, 0, &po);
	r->moves_break = po.brk_moves > 0;
	r->maps_small = po.mmaps > 0;
	search(alloc, "first", 1, 0, &r->first);
	if (r->first.found < 0)
		return;
	served(alloc, "first", r->first.found, 0, NULL, &r->map_len);
	/* The dynamic rule: after a free, is twice the threshold heap-served? */
	above = 2 * r->first.found;
	r->dynamic = !served(alloc, "free", above, 0, NULL, NULL);
	if (r->dynamic) {
		search(alloc, "free", above, 0, &r->cap);
		if (r->cap.found > 0) {
			served(alloc, "first", r->cap.found, 0, NULL,
			       &r->cap_len);
			served(alloc, "first", r->cap.found - 1, 0, NULL,
			       &r->below_cap_len);
		}
	}
	if (is_glibc(alloc))
		knob_searches(alloc, r);
}

/* glibc's chunk for a request: size field added, rounded up to 16. */
static long chunk_of(long req)
{
	long c = (req + 8 + 15) & ~15L;

	return c < 32 ? 32 : c;
}

static void print_search_text(const char *what, const struct search *s)
{
	if (s->found >= 0)
		printf("%s: %ld B\n", what, s->found);
	else
		printf("%s: none (%s)\n", what, s->why);
}

static void print_text(const struct thr_result *r, int glibc_like)
{
	const struct search *f = &r->first;

	printf("== %s\n", r->alloc);
	printf("malloc(1000) x 64: %s\n", r->moves_break ?
	       "moves the program break (brk)" : r->maps_small ?
	       "grows the heap with mmap, never the break" :
	       "made no brk or mmap of its own");
	print_search_text("smallest request served by an mmap of its own", f);
	if (f->found < 0)
		return;
	printf("  found in %d traced runs; malloc(%ld) gets no mapping of "
	       "its own.\n", f->nsteps, f->found - 1);
	if (glibc_like)
		printf("  chunk arithmetic: %ld B + 8 B size field, rounded up "
		       "to 16 = %ld B (%ld KiB);\n  one byte less needs %ld B: "
		       "chunks of %ld B and up are mapped%s.\n", f->found,
		       chunk_of(f->found), chunk_of(f->found) >> 10,
		       chunk_of(f->found - 1), chunk_of(f->found),
		       chunk_of(f->found) == 128 * 1024 ?
		       ",\n  the default M_MMAP_THRESHOLD of 128 KiB "
		       "(DEFAULT_MMAP_THRESHOLD_MIN)" :
		       ",\n  not the 128 KiB default: something set it");
	printf("  its mapping: %ld B%s\n", r->map_len, glibc_like ?
	       " (the chunk plus 8 B, rounded up to a page)" : "");
	if (!r->dynamic) {
		printf("dynamic threshold: none (after a free the same size is "
		       "mapped again)\n");
	} else {
		printf("dynamic threshold: after freeing a mapped block, the "
		       "same size comes from the heap\n");
		print_search_text("  cap (smallest request still mapped right "
				  "after a free of the same size)", &r->cap);
		if (r->cap.found > 0)
			printf("  a freed mapping of %ld B raises the "
			       "threshold, one of %ld B does not\n",
			       r->below_cap_len, r->cap_len);
	}
	if (!r->has_knobs)
		return;
	printf("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=%ld: ", r->knob);
	print_search_text("threshold", &r->tunable);
	printf("  dynamic rule %s\n", r->tunable_dynamic ? "still on" : "off");
	printf("mallopt(M_MMAP_THRESHOLD, %ld): ", r->knob);
	print_search_text("threshold", &r->mallopt);
	printf("  dynamic rule %s\n", r->mallopt_dynamic ? "still on" : "off");
}

static struct json *search_json(const struct search *s)
{
	struct json *o = json_obj(), *steps;

	json_set(o, "found", s->found >= 0 ? json_int(s->found) : json_null());
	if (s->found < 0)
		json_set(o, "why", json_str(s->why ? s->why : "not searched"));
	steps = json_set(o, "steps", json_arr());
	for (int i = 0; i < s->nsteps; i++) {
		struct json *st = json_push(steps, json_obj());

		json_set(st, "size", json_int(s->steps[i].size));
		json_set(st, "mmap", json_bool(s->steps[i].mmap));
	}
	return o;
}

static struct json *result_json(const struct thr_result *r, int glibc_like)
{
	struct json *o = json_obj();
	long t = r->first.found;

	json_set(o, "allocator", json_str(r->alloc));
	json_set(o, "moves_break", json_bool(r->moves_break));
	json_set(o, "grows_with_mmap", json_bool(r->maps_small));
	json_set(o, "threshold", t >= 0 ? json_int(t) : json_null());
	json_set(o, "search", search_json(&r->first));
	if (t < 0)
		return o;
	json_set(o, "mapping_length", json_int(r->map_len));
	if (glibc_like) {
		json_set(o, "chunk", json_int(chunk_of(t)));
		json_set(o, "chunk_below", json_int(chunk_of(t - 1)));
	}
	json_set(o, "dynamic", json_bool(r->dynamic));
	if (r->dynamic) {
		json_set(o, "cap", r->cap.found > 0 ? json_int(r->cap.found) :
			 json_null());
		json_set(o, "cap_search", search_json(&r->cap));
		if (r->cap.found > 0) {
			json_set(o, "cap_mapping_length", json_int(r->cap_len));
			json_set(o, "below_cap_mapping_length",
				 json_int(r->below_cap_len));
		}
	}
	if (r->has_knobs) {
		struct json *k = json_set(o, "knobs", json_obj());

		json_set(k, "set_to", json_int(r->knob));
		json_set(k, "tunable_threshold", r->tunable.found > 0 ?
			 json_int(r->tunable.found) : json_null());
		json_set(k, "tunable_dynamic", json_bool(r->tunable_dynamic));
		json_set(k, "mallopt_threshold", r->mallopt.found > 0 ?
			 json_int(r->mallopt.found) : json_null());
		json_set(k, "mallopt_dynamic", json_bool(r->mallopt_dynamic));
	}
	return o;
}

static void threshold_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab threshold [-a ALLOC|all] [--json]\n"
		"       heaplab experiment threshold [...]\n"
		"\n"
		"Finds, to the byte, the smallest request size ALLOC serves with\n"
		"an mmap of its own: a binary search whose every step is a\n"
		"traced run (heaplab trace -e ptrace) of a target that makes\n"
		"several unfreed mallocs of that size; the size counts when\n"
		"every malloc after the first caused an mmap at least as long.\n"
		"Then: the dynamic threshold (the same size after a free of a\n"
		"mapped block) and its cap, found the same way; for glibc, how\n"
		"GLIBC_TUNABLES=glibc.malloc.mmap_threshold and\n"
		"mallopt(M_MMAP_THRESHOLD) move it; whether ALLOC moves the\n"
		"break at all. Targets inherit the environment, so a\n"
		"GLIBC_TUNABLES of yours applies to the main search.\n"
		"\n"
		"  -a, --alloc ALLOC   glibc (default), heaplab, phase6,\n"
		"                      jemalloc, ..., or 'all': glibc, heaplab,\n"
		"                      phase6 and every installed allocator\n"
		"      --json          the measurements as JSON (sizes in bytes)\n");
}

static const char *const all_allocs[] = {
	"glibc", "heaplab", "phase6", "jemalloc", "mimalloc", "tcmalloc",
};

static int run_one(const char *name, int json, struct json *arr)
{
	struct hl_alloc alloc;
	struct thr_result r;
	int glibc_like;

	if (hl_alloc_resolve("threshold", name, &alloc) < 0)
		return -1;
	measure(&alloc, &r);
	glibc_like = !alloc.path[0] || !strcmp(name, "heaplab");
	if (json)
		json_push(arr, result_json(&r, glibc_like));
	else
		print_text(&r, glibc_like);
	return 0;
}

static int threshold_main(int argc, char **argv)
{
	const char *alloc_name = "glibc";
	struct json *o = NULL, *arr = NULL;
	int json = 0, rc;

	rc = hl_exp_parse("threshold", argc, argv, threshold_help,
			  &alloc_name, &json);
	if (rc >= 0)
		return rc;
	rc = 0;
	hl_target_path(probe_path, sizeof(probe_path), "threshprobe");
	if (json) {
		o = json_obj();
		json_set(o, "experiment", json_str("threshold"));
		arr = json_set(o, "allocators", json_arr());
	}
	if (!strcmp(alloc_name, "all")) {
		for (size_t i = 0; i < sizeof(all_allocs) / sizeof(*all_allocs);
		     i++) {
			if (!hl_alloc_available(all_allocs[i]))
				continue;
			run_one(all_allocs[i], json, arr);
			if (!json)
				putchar('\n');
		}
	} else if (run_one(alloc_name, json, arr) < 0) {
		rc = HL_EXIT_USAGE;
	}
	if (json) {
		if (!rc)
			json_write(stdout, o, 2);
		json_free(o);
	}
	return rc;
}

const struct hl_cmd hl_exp_threshold = {
	.name = "threshold",
	.summary = "the request size where malloc switches to mmap",
	.main = threshold_main,
	.help = threshold_help,
};
