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
	if (json_type(json_get(r, "dump_agrees")) == JSON_BOOL)
		doc_para(d, DOC_RESULT, "%s", json_as_bool(json_get(r,
			 "dump_agrees"), 0) ?
			 "The allocator's own heap dump, taken right after the "
			 "frees, agrees with every row: merged pairs are one "
			 "chunk, kept-apart pairs two, and the held-back blocks "
			 "sit in its tcache." :
			 "The allocator's own heap dump disagrees with what "
			 "address reuse showed: see the JSON for the rows.");
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
	char a[32], b[32], c[32], cap[32], b2[32];
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
		.marker_y = -1,
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
	if (json_type(json_get(r, "thread_heap_birth")) == JSON_OBJ) {
		const struct json *b = json_get(r, "thread_heap_birth");

		doc_para(d, DOC_RESULT, "Traced, a thread's first malloc mapped "
			 "%s %s, kept %s of it (the rest unmapped so the heap "
			 "starts on an aligned boundary) and committed %s "
			 "read-write: address space is reserved generously, "
			 "memory only as it is used.",
			 svg_format(a, sizeof(a), json_as_num(json_get(b,
				 "reserved"), 0), SVG_BYTES),
			 json_as_int(json_get(b, "reserved_prot"), 0) ?
			 "read-write" : "with no access (PROT_NONE)",
			 svg_format(b2, sizeof(b2), json_as_num(json_get(b,
				 "kept"), 0), SVG_BYTES),
			 svg_format(c, sizeof(c), json_as_num(json_get(b,
				 "committed"), 0), SVG_BYTES));
	}
	doc_para(d, DOC_KERNEL, "Arenas are per-thread; the kernel's SLUB "
		 "keeps per-CPU slabs instead, since a CPU (unlike a thread) "
		 "runs one thing at a time and needs no lock for its own "
		 "freelist.");
}

/* ---- recon ---- */

static const char *const makers[][2] = {
	{ "loader_file", "the loader mapping files" },
	{ "loader_anon", "the loader's anonymous memory" },
	{ "allocator", "the allocator (inside malloc & co.)" },
	{ "other", "everything else" },
	{ "tap", "heaplab's tap (not in strace's run)" },
};

static void census_table(struct doc *d, const struct json *c)
{
	const struct json *by = json_get(c, "by_maker");
	struct doc_table *t = doc_table(d, 4, "made by", "brk", "mmap",
					"munmap");
	char a[24], b[24], e[24];

	for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
		const struct json *w = json_get(by, makers[i][0]);

		doc_row(t, makers[i][1], fmt(a, sizeof(a), json_get(w, "brk")),
			fmt(b, sizeof(b), json_get(w, "mmap")),
			fmt(e, sizeof(e), json_get(w, "munmap")));
	}
	for (int i = 0; i < 2; i++) {
		const struct json *w = json_get(c, i ? "strace" : "heaplab");

		doc_row(t, i ? "strace -f, same command" :
			       "heaplab trace, in all (tap left out)",
			fmt(a, sizeof(a), json_get(w, "brk")),
			fmt(b, sizeof(b), json_get(w, "mmap")),
			fmt(e, sizeof(e), json_get(w, "munmap")));
	}
}

static void census_figure(struct doc *d, const struct json *c)
{
	const struct json *by = json_get(c, "by_maker");
	const char *labels[5];
	double v[5];
	struct svg_bars spec = { "Memory syscalls by who made them",
				 SVG_COUNT, 5, labels, v, -1 };

	for (int i = 0; i < 5; i++) {
		const struct json *w = json_get(by, makers[i][0]);

		labels[i] = makers[i][0];
		v[i] = json_as_num(json_get(w, "brk"), 0) +
		       json_as_num(json_get(w, "mmap"), 0) +
		       json_as_num(json_get(w, "munmap"), 0);
	}
	doc_figure(d, "recon-census", svg_bar_chart(&spec),
		   "brk, mmap and munmap calls together, by maker.");
}

static void render_recon(struct doc *d, const struct json *r)
{
	const struct json *c = json_get(r, "census");
	const struct json *h = json_get(r, "heap_map");
	const struct json *m = json_get(r, "break_moving");
	char a[32], b[32], e[32], r1[32], r2[32];

	doc_para(d, DOC_QUESTION, "Before building anything: what does a "
		 "real program (%s) ask of the kernel, where is the heap, and "
		 "how does the program break move?",
		 json_as_str(json_at(json_get(r, "command"), 0), "?"));
	doc_para(d, DOC_METHOD, "The program runs under heaplab trace: every "
		 "brk, mmap and munmap is classed by the call it happened in "
		 "(the loader, a malloc-family call, or neither) and counted "
		 "beside what strace -f reports for the same command.");
	census_table(d, c);
	census_figure(d, c);
	doc_para(d, DOC_RESULT, "Most mappings come before main: the loader "
		 "maps the libraries (%s mmaps from files) and its own "
		 "anonymous memory; malloc itself made %s brk calls and %s "
		 "mmaps.",
		 fmt(a, sizeof(a), json_get(json_get(json_get(c, "by_maker"),
			"loader_file"), "mmap")),
		 fmt(b, sizeof(b), json_get(json_get(json_get(c, "by_maker"),
			"allocator"), "brk")),
		 fmt(e, sizeof(e), json_get(json_get(json_get(c, "by_maker"),
			"allocator"), "mmap")));
	if (json_type(json_get(h, "heap_start")) == JSON_INT)
		doc_para(d, DOC_RESULT, "After malloc(%s) the memory map shows "
			 "[heap] of %s B; the break is %s its end, and the block "
			 "lies %s B from its start (what the allocator keeps "
			 "below it).", fmt(e, sizeof(e), json_get(h, "request")),
			 fmt(a, sizeof(a), json_get(h, "heap_size")),
			 json_as_int(json_get(h, "break"), 0) ==
			 json_as_int(json_get(h, "heap_end"), 1) ? "exactly" :
			 "not", fmt(b, sizeof(b), json_get(h, "block_offset")));
	if (json_as_int(json_get(m, "move1"), 0) > 0)
		doc_para(d, DOC_CONCLUSION, "malloc(%s) moved the break by %s "
			 "B, far more than asked: the allocator pads each "
			 "extension and keeps the rest (%s B) as the top chunk, "
			 "so the second one moved it by %s B and landed %s B "
			 "after the first.", fmt(r1, sizeof(r1),
						 json_get(m, "request")),
			 fmt(a, sizeof(a), json_get(m, "move1")),
			 fmt(b, sizeof(b), json_get(m, "top_left")),
			 fmt(e, sizeof(e), json_get(m, "move2")),
			 fmt(r2, sizeof(r2), json_get(m, "block2_after_block1")));
	else
		doc_para(d, DOC_CONCLUSION, "malloc(%s) did not move the break: "
			 "this allocator maps its memory instead.",
			 fmt(r1, sizeof(r1), json_get(m, "request")));
	doc_para(d, DOC_KERNEL, "brk and mmap are the allocator's only doors "
		 "into the kernel, as get_free_pages() is for the kernel's own "
		 "allocators: both hand out whole pages, never bytes.");
}

/* ---- threshold ---- */

static void threshold_table(struct doc *d, const struct json *allocs)
{
	struct doc_table *t = doc_table(d, 6, "allocator", "moves the break",
					"threshold (B)", "its mapping (B)",
					"dynamic", "cap (B)");
	char a[32], b[32], c[32];

	for (size_t i = 0; i < json_len(allocs); i++) {
		const struct json *r = json_at(allocs, i);
		int found = json_type(json_get(r, "threshold")) == JSON_INT;

		doc_row(t, json_as_str(json_get(r, "allocator"), "?"),
			json_as_bool(json_get(r, "moves_break"), 0) ? "yes" : "no",
			found ? fmt(a, sizeof(a), json_get(r, "threshold")) :
				"none",
			fmt(b, sizeof(b), json_get(r, "mapping_length")),
			!found ? "-" : json_as_bool(json_get(r, "dynamic"), 0) ?
				"yes" : "no",
			fmt(c, sizeof(c), json_get(r, "cap")));
	}
}

static void threshold_figure(struct doc *d, const struct json *r)
{
	const struct json *steps = json_get(json_get(r, "search"), "steps");
	size_t n = json_len(steps) < 64 ? json_len(steps) : 64;
	double x[64], y[64];
	struct svg_series se = { "request size probed", n, x, y };
	struct svg_lines spec = {
		.title = "The threshold search converging",
		.x_label = "traced run", .y_label = "request size",
		.x_unit = SVG_COUNT, .y_unit = SVG_BYTES, .log_y = 1,
		.nseries = 1, .series = &se, .marker_x = -1,
		.marker_y = json_as_num(json_get(r, "threshold"), -1),
		.marker_label = "threshold found",
	};

	for (size_t i = 0; i < n; i++) {
		x[i] = i + 1;
		y[i] = json_as_num(json_get(json_at(steps, i), "size"), 1);
	}
	doc_figure(d, "threshold-search", svg_line_chart(&spec),
		   "Each point is one traced run of the probe; the binary "
		   "search halves the interval until one byte separates a "
		   "size served from the heap and one served by mmap.");
}

static void render_threshold(struct doc *d, const struct json *res)
{
	const struct json *allocs = json_get(res, "allocators");
	const struct json *g = json_at(allocs, 0);
	const struct json *k = json_get(g, "knobs");
	char a[32], b[32], c[32], m[32];

	doc_para(d, DOC_QUESTION, "At what request size does malloc stop "
		 "carving from the heap and ask the kernel for a mapping of "
		 "its own?");
	doc_para(d, DOC_METHOD, "A binary search over request sizes, every "
		 "step a traced run of a probe that makes six unfreed mallocs "
		 "of one size: the size counts as mmap-served when every "
		 "malloc after the top ran out caused an mmap at least as "
		 "long. The same search after freeing a mapped block of the "
		 "same size finds the dynamic threshold's cap.");
	threshold_table(d, allocs);
	if (json_type(json_get(g, "threshold")) != JSON_INT) {
		doc_para(d, DOC_RESULT, "%s: %s", json_as_str(json_get(g,
			 "allocator"), "?"), json_as_str(json_get(json_get(g,
			 "search"), "why"), "no threshold found"));
		return;
	}
	threshold_figure(d, g);
	if (json_type(json_get(g, "chunk")) == JSON_INT)
		doc_para(d, DOC_RESULT, "%s maps malloc(%s) and up: the request "
			 "plus its 8-byte size field, rounded up to 16, is a "
			 "chunk of %s B, while one byte less needs %s B. The "
			 "mapping itself is %s B, the chunk plus its header "
			 "rounded up to whole pages.",
			 json_as_str(json_get(g, "allocator"), "?"),
			 fmt(a, sizeof(a), json_get(g, "threshold")),
			 fmt(b, sizeof(b), json_get(g, "chunk")),
			 fmt(c, sizeof(c), json_get(g, "chunk_below")),
			 fmt(m, sizeof(m), json_get(g, "mapping_length")));
	if (json_as_bool(json_get(g, "dynamic"), 0) &&
	    json_type(json_get(g, "cap")) == JSON_INT)
		doc_para(d, DOC_RESULT, "After a mapped block is freed, the "
			 "same size comes from the heap: the free raised the "
			 "threshold. That stops at a cap: malloc(%s) is still "
			 "mapped right after a free of its own size; a freed "
			 "mapping of %s B raises the threshold, one of %s B "
			 "does not.", fmt(a, sizeof(a), json_get(g, "cap")),
			 fmt(b, sizeof(b), json_get(g,
				 "below_cap_mapping_length")),
			 fmt(c, sizeof(c), json_get(g, "cap_mapping_length")));
	if (k)
		doc_para(d, DOC_RESULT, "GLIBC_TUNABLES=glibc.malloc."
			 "mmap_threshold=%s moved the threshold to %s B, and "
			 "mallopt(M_MMAP_THRESHOLD) to %s B; the dynamic rule "
			 "was %s.", fmt(a, sizeof(a), json_get(k, "set_to")),
			 fmt(b, sizeof(b), json_get(k, "tunable_threshold")),
			 fmt(c, sizeof(c), json_get(k, "mallopt_threshold")),
			 json_as_bool(json_get(k, "tunable_dynamic"), 1) ||
			 json_as_bool(json_get(k, "mallopt_dynamic"), 1) ?
			 "still on" : "then off");
	doc_para(d, DOC_CONCLUSION, "Big blocks bypass the heap: they are "
		 "mapped on malloc and unmapped on free, so their memory goes "
		 "back to the kernel at once, at the price of a system call and "
		 "fresh page faults every time, which is why glibc raises the "
		 "threshold when it sees such blocks freed.");
	doc_para(d, DOC_KERNEL, "An anonymous mapping gets its pages from the "
		 "kernel's buddy allocator one page fault at a time; munmap "
		 "hands them back, and the buddy allocator merges freed pages "
		 "with their buddies as coalescing does here.");
}

/* ---- fingerprint ---- */

static void fingerprint_table(struct doc *d, const struct json *r)
{
	const struct json *allocs = json_get(r, "allocators");
	const struct json *rows = json_get(r, "rows");
	size_t n = json_len(allocs) < 8 ? json_len(allocs) : 8;
	const char *cell[9];
	char buf[9][32];
	struct doc_table *t;

	/* doc_table/doc_row take a fixed column count: pad to 9 columns. */
	cell[0] = "";
	for (size_t i = 0; i < 8; i++)
		cell[i + 1] = i < n ? json_as_str(json_get(json_at(allocs, i),
						  "allocator"), "?") : "";
	t = doc_table(d, 1 + (int)n, cell[0], cell[1], cell[2], cell[3],
		      cell[4], cell[5], cell[6], cell[7], cell[8]);
	for (size_t r = 0; r < json_len(rows); r++) {
		const struct json *row = json_at(rows, r);
		const char *key = json_as_str(json_get(row, "key"), "");
		const char *best = json_as_str(json_get(row, "best"), NULL);

		cell[0] = json_as_str(json_get(row, "label"), key);
		for (size_t i = 0; i < 8; i++)
			cell[i + 1] = i < n ? fmt(buf[i], sizeof(buf[i]),
				json_get(json_at(allocs, i), key)) : "";
		doc_row(t, cell[0], cell[1], cell[2], cell[3], cell[4],
			cell[5], cell[6], cell[7], cell[8]);
		for (size_t i = 0; best && i < n; i++)
			if (!strcmp(best, json_as_str(json_get(json_at(allocs,
					i), "allocator"), "")))
				doc_mark_best(t, (int)r, (int)i + 1);
	}
}

static void fingerprint_bars(struct doc *d, const struct json *r,
			     const char *key, const char *name,
			     const char *title, enum svg_unit unit, double scale)
{
	const struct json *allocs = json_get(r, "allocators");
	size_t n = json_len(allocs) < 8 ? json_len(allocs) : 8;
	const char *labels[8];
	double v[8];
	int best = -1;
	struct svg_bars spec = { title, unit, n, labels, v, -1 };

	for (size_t i = 0; i < n; i++) {
		const struct json *a = json_at(allocs, i);

		labels[i] = json_as_str(json_get(a, "allocator"), "?");
		v[i] = json_type(json_get(a, key)) == JSON_INT ?
		       json_as_num(json_get(a, key), 0) * scale : -1;
		if (v[i] >= 0 && (best < 0 || v[i] < v[best]))
			best = (int)i;
	}
	spec.best = best;
	doc_figure(d, name, svg_bar_chart(&spec), title);
}

static void render_fingerprint(struct doc *d, const struct json *r)
{
	char ops[32], mib[32];

	doc_para(d, DOC_QUESTION, "How do the allocators on this machine "
		 "differ, measured the same way?");
	doc_para(d, DOC_METHOD, "Each column comes from the same probes: the "
		 "threshold search, the break around malloc(1000), a traced "
		 "run of %s mixed malloc/free operations, %s MiB of small "
		 "blocks allocated then freed (RSS from /proc/self/status), "
		 "four threads allocating at once, and the bins probe.",
		 fmt(ops, sizeof(ops), json_get(r, "churn_operations")),
		 fmt(mib, sizeof(mib), json_get(r, "rss_mib")));
	fingerprint_table(d, r);
	fingerprint_bars(d, r, "syscalls_per_100k", "fingerprint-syscalls",
			 "Memory syscalls during the mixed malloc/free run",
			 SVG_COUNT, 1);
	fingerprint_bars(d, r, "rss_after_free_kib", "fingerprint-rss",
			 "RSS left after freeing every block", SVG_BYTES, 1024);
	doc_para(d, DOC_CONCLUSION, "The marked cells are the best of their "
		 "row. An allocator that keeps its RSS after the blocks are "
		 "freed trades memory for speed: it will not pay the kernel "
		 "again for pages it may need soon.");
	doc_para(d, DOC_KERNEL, "Keeping freed pages is what the kernel's own "
		 "per-CPU page lists do; returning them (trim, munmap, "
		 "madvise) lets the buddy allocator merge them for others.");
}

static const char *const threshold_all[] = { "-a", "all", NULL };
static const char *const arenas_quick[] = { "-t", "8", NULL };
static const char *const quick[] = { "--quick", NULL };

static const struct section sections[] = {
	{ "recon", "Recon: walking the territory", NULL, NULL, render_recon },
	{ "threshold", "The mmap threshold, found to the byte", threshold_all,
	  NULL, render_threshold },
	{ "preload", "Preloading the phases: real programs, phase by phase",
	  NULL, quick, render_preload },
	{ "magic", "Headers and alignment: what sits before the pointer",
	  NULL, NULL, render_magic },
	{ "fragment", "Fragmentation: first fit and best fit on one list",
	  NULL, NULL, render_fragment },
	{ "split", "Splitting: the rest of a big chunk", NULL, NULL,
	  render_split },
	{ "coalesce", "Coalescing: free neighbours become one", NULL, NULL,
	  render_coalesce },
	{ "progression", "The progression: one workload, phase by phase",
	  NULL, quick, render_progression },
	{ "bins", "Bins: how freed blocks come back", NULL, NULL, render_bins },
	{ "arenas", "Arenas: threads allocating at once", NULL, arenas_quick,
	  render_arenas },
	{ "fingerprint", "Fingerprints: every allocator side by side", NULL,
	  NULL, render_fingerprint },
};

const struct section *section_for(const char *experiment)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(sections[i].experiment, experiment))
			return &sections[i];
	return NULL;
}
