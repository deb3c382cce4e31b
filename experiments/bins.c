// SPDX-License-Identifier: MIT
/*
 * bins.c — `heaplab bins [-a ALLOC] [--json]`: phase 7 of the lab guide
 * seen from outside. Every finding comes from the binprobe target's address
 * reuse, one fresh process per probe; the names printed beside them are
 * glibc's names for the behaviour observed, chosen from what was measured.
 */
#include <stdlib.h>
#include <string.h>

#include "experiments/experiment.h"
#include "lab/json.h"

static const size_t probe_sizes[] = {
	16, 24, 32, 48, 64, 96, 120, 128, 200, 256, 512, 1000,
};
#define NSIZES (sizeof(probe_sizes) / sizeof(probe_sizes[0]))

/* The range the boundary searches cover, in request bytes. */
#define FAST_SCAN_MAX	1000
#define LARGE_SCAN_MIN	256
#define LARGE_SCAN_MAX	4096

/*
 * What the allocator's own heap dump (heaplab_dump, when it has one) says
 * about the merge probe's two freed neighbours x and y.
 */
struct dump_view {
	int has;		/* the allocator printed a heap dump */
	char xbin[24];		/* the bin the dump names for x's chunk */
	long xsize;		/* x's chunk size */
	int y_own_chunk;	/* y still a chunk of its own */
	int tcache;		/* free chunks of this size in "tcache" */
};

struct size_class {
	size_t request;
	int held_back;		/* blocks kept from coalescing; -1: none merged */
	int order;		/* 1 LIFO, 2 FIFO, 0 other */
	int merged;		/* freed neighbours merged on free */
	struct dump_view dump;
};

struct bins_result {
	struct size_class sizes[NSIZES];
	long fast_max;		/* largest request kept apart; -1 none found */
	long large_min;		/* smallest request that consolidates; -1 */
	int carved, remainder;
};

static char probe_path[4096];

static long long probe(const struct hl_alloc *alloc, const char *what,
		       size_t size, const char *key)
{
	char arg[32], *out;
	char *argv[] = { probe_path, (char *)what, arg, NULL };
	long long v;
	int st;

	snprintf(arg, sizeof(arg), "%zu", size);
	st = hl_target_capture(alloc, argv, &out);
	if (st != 0)
		hl_die("bins", "binprobe %s %zu failed under %s (exit status %d)",
		       what, size, alloc->name, st);
	v = hl_out_value(out, key, -2);
	free(out);
	if (v == -2)
		hl_die("bins", "binprobe %s %zu printed no '%s'", what, size, key);
	return v;
}

static void parse_dump(const char *dump, unsigned long x, unsigned long y,
		       long chunk, struct dump_view *v)
{
	for (const char *l = dump; l && *l; l = strchr(l, '\n'),
	     l = l ? l + 1 : NULL) {
		unsigned long c, mem;
		long size;
		char state[16], bin[24] = "";

		if (sscanf(l, " %lx %lx %ld %15s %23s", &c, &mem, &size, state,
			   bin) < 4)
			continue;
		if (mem == x) {
			v->xsize = size;
			snprintf(v->xbin, sizeof(v->xbin), "%s", bin);
		}
		if (mem == y)
			v->y_own_chunk = 1;
		if (size == chunk && !strcmp(bin, "tcache"))
			v->tcache++;
	}
}

/* The merge probe again, with the allocator's own heap dump on stderr. */
static void dump_view(const struct hl_alloc *alloc, size_t size,
		      struct dump_view *v)
{
	char arg[32], *out, *err;
	char *argv[] = { probe_path, "merge", arg, NULL };
	const char *libs[] = { alloc->path };

	memset(v, 0, sizeof(*v));
	snprintf(arg, sizeof(arg), "%zu", size);
	setenv("BINPROBE_DUMP", "1", 1);
	hl_capture(argv, libs, 1, &out, &err);
	unsetenv("BINPROBE_DUMP");
	v->has = strstr(err, "heap dump") != NULL;
	if (v->has)
		parse_dump(err, hl_out_value(out, "x", 0), hl_out_value(out, "y", 0),
			   hl_out_value(out, "chunk", 0), v);
	free(out);
	free(err);
}

/* Largest request in (lo, hi] for which pred holds, pred monotone falling. */
static long search_last(const struct hl_alloc *alloc, const char *what,
			const char *key, long lo, long hi, long long want)
{
	while (lo < hi) {
		long mid = lo + (hi - lo + 1) / 2;

		if (probe(alloc, what, mid, key) == want)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int hl_measure_held_back(const struct hl_alloc *alloc, size_t size)
{
	hl_target_path(probe_path, sizeof(probe_path), "binprobe");
	return probe(alloc, "tcache", size, "merged_at");
}

static void measure(const struct hl_alloc *alloc, struct bins_result *r)
{
	long last_apart = -1;

	for (size_t i = 0; i < NSIZES; i++) {
		struct size_class *c = &r->sizes[i];

		c->request = probe_sizes[i];
		c->held_back = probe(alloc, "tcache", c->request, "merged_at");
		c->order = probe(alloc, "lifo", c->request, "order");
		c->merged = probe(alloc, "merge", c->request, "merged");
		dump_view(alloc, c->request, &c->dump);
	}
	/*
	 * Fast bins: the largest request whose freed neighbours stay apart
	 * while every larger one merges. Scan in chunk steps, then to the byte.
	 */
	r->fast_max = -1;
	for (long s = 8; s <= FAST_SCAN_MAX; s += 16) {
		if (probe(alloc, "merge", s, "merged"))
			break;
		last_apart = s;
	}
	if (last_apart > 0 && last_apart + 16 <= FAST_SCAN_MAX)
		r->fast_max = search_last(alloc, "merge", "merged", last_apart,
					  last_apart + 16, 0);
	/* Large requests: the smallest that consolidates the fast bins. */
	r->large_min = -1;
	if (probe(alloc, "large", LARGE_SCAN_MAX, "consolidated") &&
	    !probe(alloc, "large", LARGE_SCAN_MIN, "consolidated"))
		r->large_min = search_last(alloc, "large", "consolidated",
					   LARGE_SCAN_MIN, LARGE_SCAN_MAX, 0) + 1;
	r->carved = probe(alloc, "unsorted", 1, "carved");
	r->remainder = probe(alloc, "unsorted", 1, "remainder");
}

static const char *order_name(int order)
{
	return order == 1 ? "LIFO" : order == 2 ? "FIFO" : "other";
}

/* glibc's name for what was seen for one size class. */
static const char *glibc_name(const struct bins_result *r,
			      const struct size_class *c)
{
	if (!c->merged && r->fast_max >= 0 && (long)c->request <= r->fast_max)
		return "fastbinsY[]: not coalesced until malloc_consolidate";
	if (!c->merged)
		return "kept apart: size-class slabs, no coalescing";
	if (r->large_min >= 0 && (long)c->request >= r->large_min)
		return "large bin, via the unsorted bin";
	return "small bin, via the unsorted bin (coalesced on free)";
}

/* Merged pairs are one chunk in the dump, kept-apart pairs two, and the
 * held-back count is what the dump shows in tcache. */
static int dump_agrees(const struct bins_result *r)
{
	for (size_t i = 0; i < NSIZES; i++) {
		const struct size_class *c = &r->sizes[i];

		if (!c->dump.has || c->merged == c->dump.y_own_chunk ||
		    (c->held_back >= 0 && c->held_back != c->dump.tcache))
			return 0;
	}
	return 1;
}

static void print_text(const struct hl_alloc *alloc, const struct bins_result *r)
{
	printf("heaplab bins: the bins of %s, seen through address reuse\n\n",
	       alloc->name);
	printf("%-8s %-10s %-6s %-12s %s\n", "request", "held back", "reuse",
	       "freed pairs", "glibc's name for what was seen");
	for (size_t i = 0; i < NSIZES; i++) {
		const struct size_class *c = &r->sizes[i];
		char held[16];

		if (c->held_back >= 0)
			snprintf(held, sizeof(held), "%d", c->held_back);
		else
			snprintf(held, sizeof(held), "-");
		printf("%-8zu %-10s %-6s %-12s %s\n", c->request, held,
		       order_name(c->order), c->merged ? "merged" : "kept apart",
		       glibc_name(r, c));
	}
	if (r->sizes[0].dump.has) {
		printf("\n%s's own heap dump after the merge probe freed its "
		       "neighbours x and y:\n", alloc->name);
		printf("%-8s %-10s %-12s %-10s %s\n", "request", "x's bin",
		       "x's chunk", "y apart", "in tcache");
		for (size_t i = 0; i < NSIZES; i++) {
			const struct dump_view *v = &r->sizes[i].dump;

			printf("%-8zu %-10s %-12ld %-10s %d\n",
			       r->sizes[i].request, v->xbin[0] ? v->xbin : "-",
			       v->xsize, v->y_own_chunk ? "yes" : "no",
			       v->tcache);
		}
		printf("%s\n", dump_agrees(r) ? "The dump confirms every row "
		       "above: merged pairs are one chunk, kept-apart pairs "
		       "two, and the\nheld-back count is what sits in tcache." :
		       "The dump DISAGREES with what address reuse showed.");
	}
	putchar('\n');
	printf("held back: freed blocks of one size that stayed out of "
	       "coalescing (glibc's per-thread cache, tcache);\n"
	       "  '-' means no freed block of that size was ever merged.\n");
	if (r->fast_max >= 0)
		printf("fast bins: requests up to %ld B are kept apart on free; "
		       "%ld B and above merge with free neighbours.\n",
		       r->fast_max, r->fast_max + 1);
	else
		printf("fast bins: no boundary between kept-apart and merged "
		       "blocks below %d B.\n", FAST_SCAN_MAX);
	if (r->large_min >= 0)
		printf("large bins: a request of %ld B consolidated the fast "
		       "bins first, %ld B did not:\n  small bins serve "
		       "requests up to %ld B, large bins the rest.\n",
		       r->large_min, r->large_min - 1, r->large_min - 1);
	else
		printf("large bins: no request from %d to %d B consolidated "
		       "freed small blocks.\n", LARGE_SCAN_MIN, LARGE_SCAN_MAX);
	printf("unsorted bin: malloc(100) after freeing a 1000 B block %s; "
	       "the next malloc(100) %s.\n",
	       r->carved ? "was carved from that block" :
			   "did not reuse it",
	       r->remainder ? "came from its remainder" :
			      "did not come from its remainder");
}

static void print_json(const struct hl_alloc *alloc, const struct bins_result *r)
{
	struct json *o = json_obj(), *a;

	json_set(o, "experiment", json_str("bins"));
	json_set(o, "allocator", json_str(alloc->name));
	a = json_set(o, "sizes", json_arr());
	for (size_t i = 0; i < NSIZES; i++) {
		const struct size_class *c = &r->sizes[i];
		struct json *s = json_push(a, json_obj());

		json_set(s, "request", json_int(c->request));
		json_set(s, "held_back", c->held_back >= 0 ?
			 json_int(c->held_back) : json_null());
		json_set(s, "reuse", json_str(order_name(c->order)));
		json_set(s, "merged", json_bool(c->merged));
		json_set(s, "glibc_name", json_str(glibc_name(r, c)));
		if (c->dump.has) {
			struct json *dj = json_set(s, "dump", json_obj());

			json_set(dj, "x_bin", json_str(c->dump.xbin));
			json_set(dj, "x_chunk", json_int(c->dump.xsize));
			json_set(dj, "y_own_chunk",
				 json_bool(c->dump.y_own_chunk));
			json_set(dj, "tcache", json_int(c->dump.tcache));
		}
	}
	json_set(o, "fast_max_request", r->fast_max >= 0 ?
		 json_int(r->fast_max) : json_null());
	json_set(o, "merged_min_request", r->fast_max >= 0 ?
		 json_int(r->fast_max + 1) : json_null());
	json_set(o, "large_min_request", r->large_min >= 0 ?
		 json_int(r->large_min) : json_null());
	json_set(o, "small_max_request", r->large_min >= 0 ?
		 json_int(r->large_min - 1) : json_null());
	json_set(o, "dump_agrees", r->sizes[0].dump.has ?
		 json_bool(dump_agrees(r)) : json_null());
	json_set(o, "unsorted_carved", json_bool(r->carved));
	json_set(o, "unsorted_remainder_reused", json_bool(r->remainder));
	json_write(stdout, o, 2);
	json_free(o);
}

static void bins_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab bins [-a ALLOC] [--json]\n"
		"       heaplab experiment bins [-a ALLOC] [--json]\n"
		"\n"
		"Probes an allocator's bins through address reuse only, one\n"
		"fresh process per probe: how many freed blocks of a size are\n"
		"held back from coalescing (glibc's tcache), LIFO or FIFO reuse,\n"
		"the largest request served by fast bins, where small bins end,\n"
		"and what the unsorted bin does to the next allocation.\n"
		"\n"
		"  -a, --alloc ALLOC   allocator to probe (default glibc)\n"
		"      --json          the measurements as JSON\n");
}

static int bins_main(int argc, char **argv)
{
	const char *alloc_name = "glibc";
	struct bins_result r;
	struct hl_alloc alloc;
	int rc, json = 0;

	rc = hl_exp_parse("bins", argc, argv, bins_help, &alloc_name, &json);
	if (rc >= 0)
		return rc;
	if (hl_alloc_resolve("bins", alloc_name, &alloc) < 0)
		return HL_EXIT_USAGE;
	hl_target_path(probe_path, sizeof(probe_path), "binprobe");
	measure(&alloc, &r);
	if (json)
		print_json(&alloc, &r);
	else
		print_text(&alloc, &r);
	return 0;
}

const struct hl_cmd hl_exp_bins = {
	.name = "bins",
	.summary = "an allocator's bins seen through address reuse",
	.main = bins_main,
	.help = bins_help,
};
