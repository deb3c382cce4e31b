// SPDX-License-Identifier: MIT
/*
 * fragment.c — `heaplab experiment fragment [-a ALLOC]... [--json]`:
 * external fragmentation and the cost of searching one list. 100 blocks of
 * 32 B, the even ones freed, then malloc(64): none of the 50 holes fits,
 * so the whole list is walked and the heap grows although 1600 B are free.
 * Then malloc(32): first fit stops at the first hole, best fit must still
 * walk the whole list to know it has the smallest. Every count comes from
 * the allocator's own counters (heaplab_phase_stats) and heap walk.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

#define NBLOCKS		100
#define BLOCK		32
#define REQUEST		64

static const char *const defaults[] = { "phase3", NULL };
static const char *const fits[] = { "first", "best" };

static struct json *run(const struct pl_opts *o, const struct hl_alloc *a,
			const char *fit)
{
	static const char *const args[] = { "fragment", "100", "32", "64",
					    NULL };
	char opt[32], *out;
	struct json *r = json_obj(), *q;
	long long base, before, total, grew, holes_heap, req_ptr, again_ptr;
	int nfree, nfree_after;

	snprintf(opt, sizeof(opt), "fit=%s", fit);
	out = pl_probe(o->cmd, a, opt, args);
	if (!pl_value(o->cmd, out, "walk"))
		hl_die(o->cmd, "%s exports no heap walk (heaplab_phase_walk): "
		       "this experiment needs a teaching allocator, phase3 "
		       "or later", a->name);
	if (pl_value(o->cmd, out, "fit") != (!strcmp(fit, "first") ? 1 : 2))
		hl_die(o->cmd, "%s does not search with fit=%s (it has no free "
		       "list before phase3)", a->name, fit);
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "fit", json_str(fit));
	total = pl_list_len(out, "holes", &before);
	base = hl_out_value(out, "req_ptr", 0);
	/* Offsets from the first block: the lowest experiment chunk. */
	{
		const char *l = strstr(out, "chunk holes ");
		unsigned long long a0;

		base = l && sscanf(l + 12, "%llu", &a0) == 1 ? (long long)a0 :
							       base;
	}
	json_set(r, "list_nodes", json_int(total));
	json_set(r, "nodes_before", json_int(before));
	json_set(r, "holes", pl_chunks(out, "holes", base, &nfree));
	json_set(r, "free_chunks", json_int(nfree));
	json_set(r, "free_bytes", json_int((long long)nfree * BLOCK));
	holes_heap = pl_value(o->cmd, out, "holes_heap_size");
	grew = pl_value(o->cmd, out, "req_heap_size") - holes_heap;
	req_ptr = pl_value(o->cmd, out, "req_ptr");
	q = json_set(r, "request", json_obj());
	json_set(q, "size", json_int(REQUEST));
	json_set(q, "nodes_traversed",
		 json_int(pl_value(o->cmd, out, "req_last_traversed")));
	json_set(q, "heap_grew", json_bool(grew > 0));
	json_set(q, "heap_growth", json_int(grew));
	json_set(q, "sbrk_calls", json_int(pl_value(o->cmd, out,
			"req_sbrk_calls") - pl_value(o->cmd, out,
			"holes_sbrk_calls")));
	json_set(q, "offset", json_int(req_ptr - base));
	json_set(r, "after", pl_chunks(out, "req", base, &nfree_after));
	again_ptr = pl_value(o->cmd, out, "again_ptr");
	q = json_set(r, "again", json_obj());
	json_set(q, "size", json_int(BLOCK));
	json_set(q, "nodes_traversed",
		 json_int(pl_value(o->cmd, out, "again_last_traversed")));
	json_set(q, "offset", json_int(again_ptr - base));
	json_set(q, "list_nodes", json_int(pl_list_len(out, "req", NULL)));
	free(out);
	return r;
}

static void print_text(const struct json *runs)
{
	printf("heaplab fragment: %d blocks of %d B, the even ones freed, "
	       "then malloc(%d) and malloc(%d)\n\n", NBLOCKS, BLOCK, REQUEST,
	       BLOCK);
	printf("%-10s %-6s %-6s %-22s %-10s %s\n", "allocator", "fit",
	       "holes", "malloc(64): nodes", "heap grew", "malloc(32): nodes");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		const struct json *q = json_get(r, "request");
		const struct json *g = json_get(r, "again");
		char a[32], b[32];

		snprintf(a, sizeof(a), "%lld of %lld",
			 pl_int(q, "nodes_traversed"),
			 pl_int(r, "list_nodes"));
		snprintf(b, sizeof(b), "%lld of %lld",
			 pl_int(g, "nodes_traversed"),
			 pl_int(g, "list_nodes"));
		printf("%-10s %-6s %-6lld %-22s %-10s %s\n",
		       pl_str(r, "allocator"),
		       pl_str(r, "fit"),
		       pl_int(r, "free_chunks"), a,
		       json_as_bool(json_get(q, "heap_grew"), 0) ? "yes" : "no",
		       b);
	}
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		const struct json *q = json_get(r, "request");
		const struct json *h = json_get(r, "holes");

		printf("\n%s, fit=%s: the list after the frees "
		       "(U used, . free):\n  ", pl_str(r, "allocator"),
		       pl_str(r, "fit"));
		for (size_t k = 0; k < json_len(h); k++)
			putchar(strcmp(json_as_str(json_get(json_at(h, k),
					"state"), ""), "free") ? 'U' : '.');
		printf("\n  %lld B free in %lld holes, yet malloc(%d) %s\n",
		       pl_int(r, "free_bytes"),
		       pl_int(r, "free_chunks"),
		       REQUEST, json_as_bool(json_get(q, "heap_grew"), 0) ?
		       "had to grow the heap: no single hole is big enough" :
		       "was served from a hole");
	}
}

static void fragment_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment fragment [-a ALLOC]... [--json]\n"
		"\n"
		"Allocates %d blocks of %d B, frees the even ones, then asks\n"
		"for %d B and for %d B, once with HEAPLAB_OPTIONS=fit=first and\n"
		"once with fit=best: the list nodes each search visited, whether\n"
		"the heap had to grow, and the free list's picture, from the\n"
		"allocator's own counters and heap walk.\n"
		"\n"
		"  -a, --alloc ALLOC   a teaching allocator with a free list\n"
		"                      (phase3..phase6; default phase3)\n"
		"      --json          the measurements as JSON\n"
		"      --quick         accepted (this experiment is quick)\n",
		NBLOCKS, BLOCK, REQUEST, BLOCK);
}

static int fragment_main(int argc, char **argv)
{
	struct pl_opts o;
	struct json *doc, *runs;
	int rc = pl_parse(&o, "fragment", argc, argv, fragment_help, defaults);

	if (rc >= 0)
		return rc;
	doc = json_obj();
	json_set(doc, "experiment", json_str("fragment"));
	json_set(doc, "blocks", json_int(NBLOCKS));
	json_set(doc, "block_size", json_int(BLOCK));
	json_set(doc, "request", json_int(REQUEST));
	runs = json_set(doc, "runs", json_arr());
	for (size_t i = 0; i < o.nalloc; i++)
		for (size_t f = 0; f < 2; f++)
			json_push(runs, run(&o, &o.alloc[i], fits[f]));
	pl_output(&o, doc, print_text, runs);
	return 0;
}

const struct hl_cmd hl_exp_fragment = {
	.name = "fragment",
	.summary = "first fit against best fit on a list full of holes",
	.main = fragment_main,
	.help = fragment_help,
};
