// SPDX-License-Identifier: MIT
/*
 * fingerprint.c — `heaplab fingerprint [-a ALLOC]... [--json]`: every
 * allocator side by side, one column each, every cell measured here.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/experiment.h"

#define MAX_ALLOCS 16
#define CHURN_OPS 100000
#define RSS_MIB 64

struct fingerprint {
	const char *name;
	long threshold;			/* -1: no per-allocation mmap */
	long break_move;		/* first malloc(1000) */
	long syscalls;			/* per CHURN_OPS mixed operations */
	long rss_peak, rss_after;	/* KiB */
	int heaps4;			/* heaps for 4 threads */
	int held_back;			/* per-thread cache for 24 B, -1 none */
};

/* Memory syscalls made while the churn ran, the loader's and tap's aside. */
static long churn_syscalls(const struct hl_alloc *alloc)
{
	char path[4096], n[16], *argv[] = { path, "churn", n, NULL };
	struct hl_trace t;
	long count = 0;

	hl_target_path(path, sizeof(path), "mixprobe");
	snprintf(n, sizeof(n), "%d", CHURN_OPS);
	if (hl_trace_run_events(alloc, argv, "syscalls", &t, NULL) != 0)
		hl_die("fingerprint", "mixprobe churn failed under %s",
		       alloc->name);
	for (size_t i = 0; i < t.n; i++) {
		const char *cause = json_as_str(json_get(t.ev[i], "cause"), "");
		const char *kind = hl_ev_kind(t.ev[i]);

		if (strcmp(cause, "loader") && strcmp(cause, "tap") &&
		    strcmp(kind, "exec") && strcmp(kind, "exit") &&
		    strcmp(kind, "fork"))
			count++;
	}
	hl_trace_free(&t);
	return count;
}

static void rss(const struct hl_alloc *alloc, struct fingerprint *f)
{
	char path[4096], n[16], *out, *argv[] = { path, "rss", n, NULL };

	hl_target_path(path, sizeof(path), "mixprobe");
	snprintf(n, sizeof(n), "%d", RSS_MIB);
	if (hl_target_capture(alloc, argv, &out) != 0)
		hl_die("fingerprint", "mixprobe rss failed under %s",
		       alloc->name);
	f->rss_peak = hl_out_value(out, "rss_peak", -1);
	f->rss_after = hl_out_value(out, "rss_after", -1);
	free(out);
}

static void measure(const struct hl_alloc *alloc, struct fingerprint *f)
{
	f->name = alloc->name;
	f->threshold = hl_measure_threshold(alloc);
	f->break_move = hl_measure_break_move(alloc);
	f->syscalls = churn_syscalls(alloc);
	rss(alloc, f);
	f->heaps4 = hl_measure_heaps(alloc, 4);
	f->held_back = hl_measure_held_back(alloc, 24);
}

/* Rows: label, JSON key, the value, and whether lower is better. */
struct row {
	const char *label, *key;
	long (*get)(const struct fingerprint *f);
	int lower_better;
};

static long get_threshold(const struct fingerprint *f) { return f->threshold; }
static long get_brk(const struct fingerprint *f) { return f->break_move; }
static long get_sys(const struct fingerprint *f) { return f->syscalls; }
static long get_peak(const struct fingerprint *f) { return f->rss_peak; }
static long get_after(const struct fingerprint *f) { return f->rss_after; }
static long get_heaps(const struct fingerprint *f) { return f->heaps4; }
static long get_held(const struct fingerprint *f) { return f->held_back; }

static const struct row rows[] = {
	{ "mmap threshold (B)", "mmap_threshold", get_threshold, 0 },
	{ "break moved by first malloc(1000) (B)", "break_move", get_brk, 0 },
	{ "memory syscalls per 100000 malloc/free", "syscalls_per_100k",
	  get_sys, 1 },
	{ "peak RSS, 64 MiB of small blocks (KiB)", "rss_peak_kib", get_peak,
	  1 },
	{ "RSS after freeing them all (KiB)", "rss_after_free_kib", get_after,
	  1 },
	{ "heaps for 4 threads", "heaps_4_threads", get_heaps, 0 },
	{ "per-thread cache, 24 B blocks", "thread_cache_24", get_held, 0 },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static int best_of(const struct row *r, const struct fingerprint *f, int n)
{
	int best = -1;

	if (!r->lower_better)
		return -1;
	for (int i = 0; i < n; i++)
		if (r->get(&f[i]) >= 0 &&
		    (best < 0 || r->get(&f[i]) < r->get(&f[best])))
			best = i;
	return best;
}

static void print_text(const struct fingerprint *f, int n)
{
	printf("%-42s", "");
	for (int i = 0; i < n; i++)
		printf(" %11s", f[i].name);
	putchar('\n');
	for (size_t r = 0; r < NROWS; r++) {
		int best = best_of(&rows[r], f, n);

		printf("%-42s", rows[r].label);
		for (int i = 0; i < n; i++) {
			long v = rows[r].get(&f[i]);
			char cell[32];

			if (v < 0)
				snprintf(cell, sizeof(cell), "none");
			else
				snprintf(cell, sizeof(cell), "%ld%s", v,
					 i == best ? "*" : "");
			printf(" %11s", cell);
		}
		putchar('\n');
	}
	printf("\n* the best of the row (lower is better). 'none': no mmap per "
	       "allocation up to 64 MiB,\nor no freed block held back from "
	       "coalescing.\n");
}

static void print_json(const struct fingerprint *f, int n)
{
	struct json *o = json_obj(), *allocs, *rj;

	json_set(o, "experiment", json_str("fingerprint"));
	json_set(o, "churn_operations", json_int(CHURN_OPS));
	json_set(o, "rss_mib", json_int(RSS_MIB));
	allocs = json_set(o, "allocators", json_arr());
	for (int i = 0; i < n; i++) {
		struct json *a = json_push(allocs, json_obj());

		json_set(a, "allocator", json_str(f[i].name));
		for (size_t r = 0; r < NROWS; r++) {
			long v = rows[r].get(&f[i]);

			json_set(a, rows[r].key, v >= 0 ? json_int(v) :
				 json_null());
		}
	}
	rj = json_set(o, "rows", json_arr());
	for (size_t r = 0; r < NROWS; r++) {
		struct json *row = json_push(rj, json_obj());
		int best = best_of(&rows[r], f, n);

		json_set(row, "key", json_str(rows[r].key));
		json_set(row, "label", json_str(rows[r].label));
		json_set(row, "lower_is_better", json_bool(rows[r].lower_better));
		json_set(row, "best", best >= 0 ? json_str(f[best].name) :
			 json_null());
	}
	json_write(stdout, o, 2);
	json_free(o);
}

static void fingerprint_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab fingerprint [-a ALLOC]... [--json]\n"
		"       heaplab experiment fingerprint [...]\n"
		"\n"
		"One table, one column per allocator (default: glibc, heaplab\n"
		"and every other one installed): the mmap threshold, how far\n"
		"the first malloc moves the break, memory syscalls per 100000\n"
		"mixed malloc/free (traced), peak RSS of 64 MiB of small blocks\n"
		"and the RSS left once they are all freed, heaps for 4 threads,\n"
		"and the per-thread cache's capacity.\n"
		"\n"
		"  -a, --alloc ALLOC   an allocator to include (repeatable)\n"
		"      --json          the measurements as JSON\n");
}

static int fingerprint_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const char *const defaults[] = {
		"glibc", "heaplab", "jemalloc", "mimalloc", "tcmalloc",
	};
	static struct hl_alloc allocs[MAX_ALLOCS];
	struct fingerprint f[MAX_ALLOCS];
	const char *names[MAX_ALLOCS];
	int c, json = 0, n = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (n == MAX_ALLOCS)
				return hl_usage("fingerprint", "at most %d "
						"allocators", MAX_ALLOCS);
			names[n++] = optarg;
			break;
		case 'j': json = 1; break;
		case 'h': fingerprint_help(stdout); return 0;
		default: return hl_getopt_error("fingerprint", c, argv);
		}
	}
	if (optind < argc)
		return hl_usage("fingerprint", "unexpected argument '%s'",
				argv[optind]);
	if (!n)
		for (size_t i = 0; i < sizeof(defaults) / sizeof(*defaults); i++)
			if (hl_alloc_available(defaults[i]))
				names[n++] = defaults[i];
	for (int i = 0; i < n; i++)
		if (hl_alloc_resolve("fingerprint", names[i], &allocs[i]) < 0)
			return HL_EXIT_USAGE;
	for (int i = 0; i < n; i++)
		measure(&allocs[i], &f[i]);
	if (json)
		print_json(f, n);
	else
		print_text(f, n);
	return 0;
}

const struct hl_cmd hl_exp_fingerprint = {
	.name = "fingerprint",
	.summary = "every allocator side by side",
	.main = fingerprint_main,
	.help = fingerprint_help,
};
