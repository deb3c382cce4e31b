// SPDX-License-Identifier: MIT
/*
 * sections.c — the report's sections, one renderer per experiment. Every
 * number in the text is read from the experiment's JSON, so the report
 * states only what was measured on this machine.
 */
#include <string.h>

#include "report/sections.h"
#include "report/svg.h"

static char *fmt(char *buf, size_t len, const struct json *v)
{
	switch (json_type(v)) {
	case JSON_INT:
		snprintf(buf, len, "%lld", (long long)json_as_int(v, 0));
		break;
	case JSON_NUM:
		snprintf(buf, len, "%.4g", json_as_num(v, 0));
		break;
	case JSON_BOOL:
		snprintf(buf, len, "%s", json_as_bool(v, 0) ? "yes" : "no");
		break;
	case JSON_STR:
		snprintf(buf, len, "%s", json_as_str(v, ""));
		break;
	case JSON_NULL:
		snprintf(buf, len, "-");
		break;
	default:
		snprintf(buf, len, "(%zu items)", json_len(v));
	}
	return buf;
}

void render_generic(struct doc *d, const struct json *r)
{
	struct doc_table *t = doc_table(d, 2, "measured", "value");
	char buf[128];

	for (size_t i = 0; i < json_len(r); i++)
		doc_row(t, json_key_at(r, i), fmt(buf, sizeof(buf),
						  json_at(r, i)));
}

/* ---- bins ---- */

static void render_bins(struct doc *d, const struct json *r)
{
	const struct json *sizes = json_get(r, "sizes");
	long long fast = json_as_int(json_get(r, "fast_max_request"), -1);
	long long merged = json_as_int(json_get(r, "merged_min_request"), -1);
	long long large = json_as_int(json_get(r, "large_min_request"), -1);
	long long small = json_as_int(json_get(r, "small_max_request"), -1);
	struct doc_table *t;
	char a[32], b[32];

	doc_para(d, DOC_QUESTION, "Which bins does %s keep, and how does a "
		 "freed block come back?", json_as_str(json_get(r, "allocator"),
						       "?"));
	doc_para(d, DOC_METHOD, "Address reuse only, one fresh process per "
		 "probe: free blocks of one size and see which come back and "
		 "which were merged with their neighbours; search the request "
		 "size where freed neighbours start to merge (fast bins end) "
		 "and where a request first consolidates the fast bins (small "
		 "bins end).");
	t = doc_table(d, 5, "request (B)", "held back", "reuse", "freed pair",
		      "glibc's name for it");
	for (size_t i = 0; i < json_len(sizes); i++) {
		const struct json *s = json_at(sizes, i);

		doc_row(t, fmt(a, sizeof(a), json_get(s, "request")),
			fmt(b, sizeof(b), json_get(s, "held_back")),
			json_as_str(json_get(s, "reuse"), "?"),
			json_as_bool(json_get(s, "merged"), 0) ? "merged" :
								 "kept apart",
			json_as_str(json_get(s, "glibc_name"), ""));
	}
	if (fast >= 0)
		doc_para(d, DOC_RESULT, "Freed neighbours of requests up to "
			 "%lld B stay apart (fast bins); from %lld B on they "
			 "merge on free.", fast, merged);
	else
		doc_para(d, DOC_RESULT, "No request size showed freed "
			 "neighbours merging: no fast-bin boundary exists.");
	if (large >= 0)
		doc_para(d, DOC_RESULT, "A request of %lld B consolidated the "
			 "fast bins first and %lld B did not: small bins serve "
			 "requests up to %lld B.", large, small, small);
	doc_para(d, DOC_CONCLUSION, "%s",
		 json_as_bool(json_get(r, "unsorted_carved"), 0) ?
		 "A freed block goes to the unsorted bin first: the next "
		 "smaller request was carved from it and the one after that "
		 "from its remainder." :
		 "The next smaller request did not reuse the freed block: no "
		 "unsorted-bin splitting was seen.");
	doc_para(d, DOC_KERNEL, "Bins by size class are the user-space twin "
		 "of SLUB's per-size kmem_caches (the kmalloc-* caches): each "
		 "hands out objects of one size, LIFO from a per-CPU freelist, "
		 "as the per-thread cache does here.");
}

/* ---- arenas ---- */

static void render_arenas(struct doc *d, const struct json *r)
{
	const struct json *runs = json_get(r, "runs");
	size_t n = json_len(runs);
	double x[16], y[16], mi[16];
	struct svg_series se[2];
	struct svg_lines spec;
	struct doc_table *t;
	char a[32], b[32], c[32], cap[32];
	size_t nmi = 0;

	doc_para(d, DOC_QUESTION, "How many arenas does %s make for threads "
		 "allocating at once, and what does each cost in address space?",
		 json_as_str(json_get(r, "allocator"), "?"));
	doc_para(d, DOC_METHOD, "1, 2, 4 ... threads each allocate a block and "
		 "hold it while /proc/self/maps is read: the distinct mappings "
		 "holding the blocks are the heaps in use; the PROT_NONE memory "
		 "after a heap is its reserved tail.");
	t = doc_table(d, 4, "threads", "heaps seen", "allocator's own count",
		      "first heap: committed / reserved");
	for (size_t i = 0; i < n && i < 16; i++) {
		const struct json *run = json_at(runs, i);
		const struct json *h0 = json_at(json_get(run, "heaps"), 0);
		char heap[64];

		x[i] = json_as_num(json_get(run, "threads"), 0);
		y[i] = json_as_num(json_get(run, "arenas"), 0);
		if (json_type(json_get(run, "malloc_info_heaps")) == JSON_INT)
			mi[nmi++] = json_as_num(json_get(run,
							 "malloc_info_heaps"), 0);
		if (json_as_bool(json_get(h0, "brk_heap"), 0))
			snprintf(heap, sizeof(heap), "[heap] (the break)");
		else
			snprintf(heap, sizeof(heap), "%s / %s",
				 svg_format(a, sizeof(a), json_as_num(
					 json_get(h0, "committed"), 0), SVG_BYTES),
				 svg_format(b, sizeof(b), json_as_num(
					 json_get(h0, "reserved"), 0), SVG_BYTES));
		doc_row(t, fmt(a, sizeof(a), json_get(run, "threads")),
			fmt(b, sizeof(b), json_get(run, "arenas")),
			fmt(c, sizeof(c), json_get(run, "malloc_info_heaps")),
			heap);
	}
	se[0] = (struct svg_series){ "heaps seen", n < 16 ? n : 16, x, y };
	se[1] = (struct svg_series){ "allocator's own count", nmi, x, mi };
	spec = (struct svg_lines){
		.title = "Heaps in use as threads are added",
		.x_label = "threads allocating at once", .y_label = "heaps",
		.x_unit = SVG_COUNT, .y_unit = SVG_COUNT, .log_x = 1,
		.nseries = nmi == n ? 2 : 1, .series = se, .marker_x = -1,
	};
	doc_figure(d, "arenas", svg_line_chart(&spec),
		   "Distinct heaps holding the threads' blocks (log scale of "
		   "threads).");
	if (json_type(json_get(r, "arena_cap")) == JSON_INT)
		doc_para(d, DOC_CONCLUSION, "The arenas stop at %s on %s CPUs: "
			 "beyond that, threads share arenas and contend for "
			 "their locks.", fmt(cap, sizeof(cap),
					     json_get(r, "arena_cap")),
			 fmt(a, sizeof(a), json_get(r, "cpus")));
	else
		doc_para(d, DOC_CONCLUSION, "No cap on heaps was reached in the "
			 "thread counts tried.");
	if (json_type(json_get(r, "heap_alignment")) == JSON_INT)
		doc_para(d, DOC_RESULT, "Heaps outside the program break start "
			 "on %s boundaries, so a chunk's heap (and arena) is "
			 "found by masking its address.",
			 svg_format(a, sizeof(a), json_as_num(json_get(r,
				 "heap_alignment"), 0), SVG_BYTES));
	doc_para(d, DOC_KERNEL, "Arenas are per-thread; the kernel's SLUB "
		 "keeps per-CPU slabs instead, since a CPU (unlike a thread) "
		 "runs one thing at a time and needs no lock for its own "
		 "freelist.");
}

static const char *const arenas_quick[] = { "-t", "8", NULL };

static const struct section sections[] = {
	{ "bins", "Bins: how freed blocks come back", NULL, NULL, render_bins },
	{ "arenas", "Arenas: threads allocating at once", NULL, arenas_quick,
	  render_arenas },
};

const struct section *section_for(const char *experiment)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(sections[i].experiment, experiment))
			return &sections[i];
	return NULL;
}
