// SPDX-License-Identifier: MIT
/*
 * preload.c — `heaplab experiment preload [-a ALLOC]... [--json]`: does a
 * real program run on each teaching allocator, and what does each ask of
 * the kernel? `ls -l` runs traced (heaplab trace -e ptrace) under glibc
 * and every phase: its exit status, whether its output matches glibc's,
 * the brk/mmap/munmap calls its allocator calls caused, and the peak heap
 * (how far the break moved) and peak mapped bytes. Then phase 1's answer
 * to "what happens when free is called": a malloc/free loop's footprint
 * grows without bound while glibc's stays flat.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

#define MAP_ANON_FLAG	0x20	/* MAP_ANONYMOUS */
#define LOOP_SIZE	1000

static const char *const defaults[] = {
	"glibc", "phase1", "phase2", "phase3", "phase4", "phase5", "phase6",
	NULL,
};

struct ls_run {
	int status, same;
	long long mallocs, frees, brks, mmaps, munmaps;
	long long peak_heap, peak_mapped;
};

static int caused_by_call(const struct json *ev)
{
	return json_type(json_get(ev, "cause")) == JSON_OBJ;
}

static void count(const struct hl_trace *t, struct ls_run *r)
{
	long long brk0 = -1, top = 0, mapped = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct json *ev = t->ev[i];
		const char *k = hl_ev_kind(ev);
		long long ret = json_as_int(json_get(ev, "ret"), -1);

		if (!strcmp(k, "malloc") || !strcmp(k, "calloc") ||
		    !strcmp(k, "realloc"))
			r->mallocs++;
		else if (!strcmp(k, "free"))
			r->frees++;
		if (!strcmp(k, "brk")) {
			if (brk0 < 0)
				brk0 = ret;	/* the loader's brk(0) */
			if (ret > top)
				top = ret;
			if (caused_by_call(ev) && hl_ev_arg(ev, "addr", 0))
				r->brks++;
		}
		if (!caused_by_call(ev))
			continue;
		if (!strcmp(k, "mmap") && ret > 0 &&
		    (hl_ev_arg(ev, "flags", 0) & MAP_ANON_FLAG)) {
			r->mmaps++;
			mapped += hl_ev_arg(ev, "length", 0);
			if (mapped > r->peak_mapped)
				r->peak_mapped = mapped;
		} else if (!strcmp(k, "munmap") && ret == 0) {
			r->munmaps++;
			mapped -= hl_ev_arg(ev, "length", 0);
		}
	}
	r->peak_heap = brk0 >= 0 ? top - brk0 : 0;
}

static struct json *run_ls(const struct pl_opts *o, const struct hl_alloc *a,
			   char *const argv[], char **ref)
{
	struct json *r = json_obj();
	struct ls_run lr = { 0 };
	struct hl_trace t;
	char *out;

	lr.status = hl_trace_run(a, argv, &t, &out);
	if (!t.complete)
		hl_die(o->cmd, "the trace of %s under %s is incomplete (%lld "
		       "records dropped)", argv[0], a->name,
		       (long long)t.dropped);
	count(&t, &lr);
	hl_trace_free(&t);
	if (!*ref && !a->path[0])
		*ref = strdup(out);
	lr.same = *ref && !strcmp(*ref, out);
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "ran", json_bool(lr.status == 0));
	json_set(r, "exit_status", json_int(lr.status));
	json_set(r, "output_bytes", json_int(strlen(out)));
	json_set(r, "output_same_as_glibc", *ref ? json_bool(lr.same) :
		 json_null());
	json_set(r, "allocations", json_int(lr.mallocs));
	json_set(r, "frees", json_int(lr.frees));
	json_set(r, "brk_calls", json_int(lr.brks));
	json_set(r, "mmap_calls", json_int(lr.mmaps));
	json_set(r, "munmap_calls", json_int(lr.munmaps));
	json_set(r, "peak_heap", json_int(lr.peak_heap));
	json_set(r, "peak_mapped", json_int(lr.peak_mapped));
	free(out);
	return r;
}

/* The malloc/free loop: footprint samples, growth from first to last. */
static struct json *run_loop(const struct pl_opts *o, const struct hl_alloc *a,
			     long n)
{
	char ns[32], size[32];
	const char *args[] = { "loop", ns, size, NULL };
	struct json *r = json_obj(), *s;
	long long first = -1, last = 0, at_first = 0, at_last = 0;
	char *out;

	snprintf(ns, sizeof(ns), "%ld", n);
	snprintf(size, sizeof(size), "%d", LOOP_SIZE);
	out = pl_probe(o->cmd, a, NULL, args);
	json_set(r, "allocator", json_str(a->name));
	s = json_set(r, "samples", json_arr());
	for (const char *l = out; (l = strstr(l, "sample ")); l++) {
		long long i, bytes;
		struct json *p;

		if (sscanf(l + 7, "%lld %lld", &i, &bytes) != 2)
			continue;
		p = json_push(s, json_obj());
		json_set(p, "iteration", json_int(i));
		json_set(p, "footprint", json_int(bytes));
		if (first < 0) {
			first = bytes;
			at_first = i;
		}
		last = bytes;
		at_last = i;
	}
	free(out);
	if (first < 0)
		hl_die(o->cmd, "the loop under %s printed no samples", a->name);
	json_set(r, "growth", json_int(last - first));
	json_set(r, "growth_per_iteration", json_int(at_last > at_first ?
			(last - first) / (at_last - at_first) : 0));
	return r;
}

static void print_text(const struct json *doc)
{
	const struct json *runs = json_get(doc, "ls");
	const struct json *loop = json_get(doc, "loop");

	printf("heaplab preload: %s under each allocator (traced)\n\n",
	       pl_str(doc, "command"));
	printf("%-9s %-4s %-6s %-11s %-8s %-6s %-6s %-12s %s\n", "allocator",
	       "ran", "status", "same output", "mallocs", "brk", "mmap",
	       "peak heap", "peak mapped");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		printf("%-9s %-4s %-6lld %-11s %-8lld %-6lld %-6lld %-12lld "
		       "%lld\n", pl_str(r, "allocator"),
		       json_as_bool(json_get(r, "ran"), 0) ? "yes" : "no",
		       pl_int(r, "exit_status"),
		       json_type(json_get(r, "output_same_as_glibc")) ==
		       JSON_NULL ? "-" : json_as_bool(json_get(r,
		       "output_same_as_glibc"), 0) ? "yes" : "NO",
		       pl_int(r, "allocations"),
		       pl_int(r, "brk_calls"),
		       pl_int(r, "mmap_calls"),
		       pl_int(r, "peak_heap"),
		       pl_int(r, "peak_mapped"));
	}
	printf("\n(brk, mmap: the calls the allocator made for the program; "
	       "peak heap: how far the break moved, in bytes)\n");
	printf("\nWhat happens when free is called? malloc(%lld) and free it, "
	       "%lld times:\n", pl_int(loop, "size"),
	       pl_int(loop, "iterations"));
	for (size_t i = 0; i < json_len(json_get(loop, "runs")); i++) {
		const struct json *r = json_at(json_get(loop, "runs"), i);

		printf("  %-8s footprint grew by %lld B after the first "
		       "iteration (%lld B per iteration)\n",
		       pl_str(r, "allocator"),
		       pl_int(r, "growth"),
		       pl_int(r, "growth_per_iteration"));
	}
}

static void preload_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment preload [-a ALLOC]... [--json] [--quick]\n"
		"\n"
		"Runs 'ls -l /usr/bin' traced (heaplab trace -e ptrace) under\n"
		"each allocator: whether it ran, its exit status, whether its\n"
		"output is glibc's, the brk/mmap/munmap calls the allocator made\n"
		"for it, its peak heap (break movement) and peak mapped bytes.\n"
		"Then a loop of malloc(%d) and free, under phase1 and glibc:\n"
		"the footprint (break plus mapped bytes) after each sixteenth.\n"
		"\n"
		"  -a, --alloc ALLOC   an allocator (repeatable); default glibc\n"
		"                      and phase1..phase6\n"
		"      --json          the measurements as JSON\n"
		"      --quick         'ls -l /etc' and a shorter loop\n",
		LOOP_SIZE);
}

static int preload_main(int argc, char **argv)
{
	static char *ls_full[] = { "/bin/ls", "-l", "/usr/bin", NULL };
	static char *ls_quick[] = { "/bin/ls", "-l", "/etc", NULL };
	struct pl_opts o;
	struct json *doc, *runs, *loop;
	struct hl_alloc loop_alloc[2];
	char *ref = NULL, **ls;
	long n;
	int rc = pl_parse(&o, "preload", argc, argv, preload_help, defaults);

	if (rc >= 0)
		return rc;
	ls = o.quick ? ls_quick : ls_full;
	n = o.quick ? 4000 : 20000;
	doc = json_obj();
	json_set(doc, "experiment", json_str("preload"));
	json_set(doc, "command", json_strf("ls -l %s", ls[2]));
	runs = json_set(doc, "ls", json_arr());
	/* glibc first, when asked for: its output is the reference. */
	for (size_t i = 0; i < o.nalloc; i++)
		if (!o.alloc[i].path[0])
			json_push(runs, run_ls(&o, &o.alloc[i], ls, &ref));
	for (size_t i = 0; i < o.nalloc; i++)
		if (o.alloc[i].path[0])
			json_push(runs, run_ls(&o, &o.alloc[i], ls, &ref));
	free(ref);
	{
		long long ran = 0, same = 0;

		for (size_t i = 0; i < json_len(runs); i++) {
			const struct json *r = json_at(runs, i);

			ran += json_as_bool(json_get(r, "ran"), 0);
			same += json_as_bool(json_get(r,
					"output_same_as_glibc"), 0);
		}
		json_set(doc, "allocator_count", json_int(json_len(runs)));
		json_set(doc, "ran_count", json_int(ran));
		json_set(doc, "same_output_count", json_int(same));
	}
	loop = json_set(doc, "loop", json_obj());
	json_set(loop, "size", json_int(LOOP_SIZE));
	json_set(loop, "iterations", json_int(n));
	runs = json_set(loop, "runs", json_arr());
	if (hl_alloc_resolve("preload", "phase1", &loop_alloc[0]) < 0 ||
	    hl_alloc_resolve("preload", "glibc", &loop_alloc[1]) < 0)
		return HL_EXIT_FAIL;
	for (int i = 0; i < 2; i++)
		json_push(runs, run_loop(&o, &loop_alloc[i], n));
	pl_output(&o, doc, print_text, doc);
	return 0;
}

const struct hl_cmd hl_exp_preload = {
	.name = "preload",
	.summary = "ls under every phase; phase 1's heap growing on free",
	.main = preload_main,
	.help = preload_help,
};
