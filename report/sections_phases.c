// SPDX-License-Identifier: MIT
/*
 * sections_phases.c — the report's sections for the phase experiments
 * (preload, magic, fragment, split, coalesce, progression): the teaching
 * allocators, one idea at a time. As in sections.c, every number in the
 * text is read from the experiment's JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"
#include "report/svg.h"

#define MAX_ROWS	12
#define MAX_CHUNKS	128

static long long iv(const struct json *o, const char *key)
{
	return (long long)json_as_int(json_get(o, key), 0);
}

static const char *sv(const struct json *o, const char *key)
{
	return json_as_str(json_get(o, key), "?");
}

static int is_int(const struct json *o, const char *key)
{
	return json_type(json_get(o, key)) == JSON_INT;
}

/* Heap bars from walks: each row a JSON array of {size, state}. */
struct bars {
	size_t n;
	struct svg_heap_row row[MAX_ROWS];
	struct svg_chunk chunk[MAX_ROWS][MAX_CHUNKS];
	char names[MAX_ROWS][48];
	char labels[MAX_ROWS][MAX_CHUNKS][16];
};

static void bars_add(struct bars *b, const char *name, const struct json *walk,
		     int label)
{
	size_t r = b->n, n = json_len(walk);

	if (r == MAX_ROWS)
		return;
	if (n > MAX_CHUNKS)
		n = MAX_CHUNKS;
	snprintf(b->names[r], sizeof(b->names[r]), "%s", name);
	for (size_t i = 0; i < n; i++) {
		const struct json *c = json_at(walk, i);
		struct svg_chunk *ch = &b->chunk[r][i];

		ch->size = json_as_num(json_get(c, "size"), 0);
		ch->free = !strcmp(sv(c, "state"), "free");
		ch->label = NULL;
		if (label) {
			snprintf(b->labels[r][i], sizeof(b->labels[r][i]),
				 "%lld", iv(c, "size"));
			ch->label = b->labels[r][i];
		}
	}
	b->row[r] = (struct svg_heap_row){ b->names[r], n, b->chunk[r] };
	b->n++;
}

/* ---- magic ---- */

static void magic_figure(struct doc *d, const struct json *allocs)
{
	struct bars *b = calloc(1, sizeof(*b));

	for (size_t i = 0; i < json_len(allocs) && b->n < MAX_ROWS; i++) {
		const struct json *r = json_at(allocs, i);
		const struct json *h = json_get(r, "header");
		const struct json *ws = json_get(h, "words");
		size_t row = b->n, k = 0;

		if (!is_int(h, "size_offset") && !is_int(h, "magic_offset"))
			continue;
		snprintf(b->names[row], sizeof(b->names[row]), "%s", sv(r,
			 "allocator"));
		/* The words from p-48 up to p, then the payload. */
		for (size_t w = json_len(ws); w-- > 0 && k < MAX_CHUNKS - 1;
		     k++) {
			const struct json *word = json_at(ws, w);
			const char *m = sv(word, "meaning");
			struct svg_chunk *c = &b->chunk[row][k];

			c->size = 8;
			c->free = !strcmp(m, "-");
			c->label = !strncmp(m, "state", 5) ? "magic" :
				   !strncmp(m, "size", 4) ||
				   !strncmp(m, "chunk", 5) ? "size" : NULL;
		}
		b->chunk[row][k] = (struct svg_chunk){ iv(h, "usable"), 0,
						       "payload" };
		b->row[row] = (struct svg_heap_row){ b->names[row], k + 1,
						     b->chunk[row] };
		b->n++;
	}
	if (b->n)
		doc_figure(d, "magic-headers", svg_heap_bars("The 48 bytes "
			   "before p, then the payload", b->n, b->row),
			   "Each 8-byte word before the pointer, coloured as in "
			   "use when the experiment recognised it (the size "
			   "word, the state and magic), as free when it did "
			   "not.");
	free(b);
}

void render_magic(struct doc *d, const struct json *res)
{
	const struct json *allocs = json_get(res, "allocators");
	struct doc_table *t;
	long long bad = 0, checked = 0;
	char a[32], b[32], c[32], e[32], f[32];

	doc_para(d, DOC_QUESTION, "What does an allocator keep just before "
		 "the pointer it returns, and is every pointer aligned?");
	doc_para(d, DOC_METHOD, "A fresh malloc(%lld) under each allocator: "
		 "the six 8-byte words before the pointer are read (through "
		 "/proc/self/mem, so an unmapped one cannot crash the probe) "
		 "before and after free, and the header fields are recognised "
		 "in them by value: the usable size, the chunk size with flag "
		 "bits, the magic number 0xDEADBEEF beside the state word. Then "
		 "malloc of every size to 1 KiB and beyond, calloc, realloc and "
		 "the aligned family are checked against the alignment owed.",
		 iv(res, "request"));
	t = doc_table(d, 6, "allocator", "size word", "magic", "pointers "
		      "checked", "misaligned", "every pointer a multiple of");
	for (size_t i = 0; i < json_len(allocs); i++) {
		const struct json *r = json_at(allocs, i);
		const struct json *h = json_get(r, "header");
		const struct json *al = json_get(r, "alignment");

		if (is_int(h, "size_offset"))
			snprintf(a, sizeof(a), "p%lld: %lld", iv(h,
				 "size_offset"), iv(h, "size_word"));
		else
			snprintf(a, sizeof(a), "none");
		if (is_int(h, "magic_offset"))
			snprintf(b, sizeof(b), "p%lld", iv(h, "magic_offset"));
		else
			snprintf(b, sizeof(b), "none");
		snprintf(c, sizeof(c), "%lld", iv(al, "checked"));
		snprintf(e, sizeof(e), "%lld", iv(al, "misaligned"));
		snprintf(f, sizeof(f), "%lld", iv(al, "common_alignment"));
		doc_row(t, sv(r, "allocator"), a, b, c, e, f);
		bad += iv(al, "misaligned");
		checked += iv(al, "checked");
	}
	magic_figure(d, allocs);
	for (size_t i = 0; i < json_len(allocs); i++) {
		const struct json *r = json_at(allocs, i);
		const struct json *h = json_get(r, "header");

		if (is_int(h, "magic_offset")) {
			doc_para(d, DOC_RESULT, "Walking back from the pointer "
				 "under %s finds 0xDEADBEEF at p%lld; free "
				 "turned the state beside it from %lld to %lld, "
				 "and the size word at p%lld holds %lld.",
				 sv(r, "allocator"), iv(h, "magic_offset"),
				 iv(h, "state_used"), iv(h, "state_freed"),
				 iv(h, "size_offset"), iv(h, "size_word"));
			break;
		}
	}
	for (size_t i = 0; i < json_len(allocs); i++) {
		const struct json *r = json_at(allocs, i);
		const struct json *al = json_get(r, "alignment");

		if (iv(al, "misaligned"))
			doc_para(d, DOC_RESULT, "%s returned %lld misaligned "
				 "pointers; the first: %s (call, size, "
				 "alignment owed, pointer).", sv(r, "allocator"),
				 iv(al, "misaligned"), sv(al,
				 "first_misaligned"));
	}
	doc_para(d, DOC_CONCLUSION, "%s", bad ? "Not every allocator keeps "
		 "its alignment promise: the misaligned pointers above are "
		 "real, returned on this machine." : "Every pointer checked "
		 "was aligned as owed, under every allocator.");
	doc_para(d, DOC_CONCLUSION, "A header before the payload is what lets "
		 "free(p) work from the pointer alone; the magic number "
		 "catches a pointer that never came from malloc. Allocators "
		 "without a header (size classes in pages) find the size from "
		 "the address instead.");
	doc_para(d, DOC_KERNEL, "The kernel's SLUB allocator keeps no header "
		 "either: the page an object lies in says which kmem_cache, and "
		 "so which size, it belongs to (virt_to_slab).");
}

/* ---- fragment ---- */

void render_fragment(struct doc *d, const struct json *res)
{
	const struct json *runs = json_get(res, "runs");
	struct bars *b = calloc(1, sizeof(*b));
	struct doc_table *t;
	char a[48], c[48], e[48], g[32], h[32];

	doc_para(d, DOC_QUESTION, "What does one list of all chunks cost a "
		 "search, and can %lld B of free memory fail a %lld B request?",
		 iv(json_at(runs, 0), "free_bytes"), iv(res, "request"));
	doc_para(d, DOC_METHOD, "%lld blocks of %lld B, the even ones freed; "
		 "then malloc(%lld) and malloc(%lld), once with first fit and "
		 "once with best fit (HEAPLAB_OPTIONS=fit=...). The nodes each "
		 "search visited and the heap size come from the allocator's "
		 "own counters, the picture from its heap walk.",
		 iv(res, "blocks"), iv(res, "block_size"), iv(res, "request"),
		 iv(res, "block_size"));
	t = doc_table(d, 5, "allocator, fit", "holes", "malloc(64): nodes "
		      "visited of", "heap growth (B)", "malloc(32): nodes "
		      "visited of");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		const struct json *q = json_get(r, "request");
		const struct json *ag = json_get(r, "again");

		snprintf(a, sizeof(a), "%s, %s", sv(r, "allocator"),
			 sv(r, "fit"));
		snprintf(c, sizeof(c), "%lld of %lld",
			 iv(q, "nodes_traversed"), iv(r, "list_nodes"));
		snprintf(e, sizeof(e), "%lld of %lld",
			 iv(ag, "nodes_traversed"), iv(ag, "list_nodes"));
		snprintf(g, sizeof(g), "%lld", iv(q, "heap_growth"));
		snprintf(h, sizeof(h), "%lld", iv(r, "free_chunks"));
		doc_row(t, a, h, c, g, e);
	}
	bars_add(b, "after the frees", json_get(json_at(runs, 0), "holes"), 0);
	bars_add(b, "after malloc(64)", json_get(json_at(runs, 0), "after"), 0);
	doc_figure(d, "fragment-holes", svg_heap_bars("The list: holes between "
		   "blocks in use", b->n, b->row), "Every chunk of the "
		   "experiment in address order: free holes of 32 B between "
		   "blocks in use; the 64 B request lands at the end.");
	free(b);
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		const struct json *q = json_get(r, "request");
		const struct json *ag = json_get(r, "again");

		doc_para(d, DOC_RESULT, "%s with %s fit: malloc(%lld) visited "
			 "%lld of %lld nodes and %s; malloc(%lld) then visited "
			 "%lld of %lld.", sv(r, "allocator"), sv(r, "fit"),
			 iv(q, "size"), iv(q, "nodes_traversed"),
			 iv(r, "list_nodes"), json_as_bool(json_get(q,
			 "heap_grew"), 0) ? "grew the heap" : "found a hole",
			 iv(ag, "size"), iv(ag, "nodes_traversed"),
			 iv(ag, "list_nodes"));
	}
	doc_para(d, DOC_CONCLUSION, "Free memory in holes too small for the "
		 "request is external fragmentation: the heap grew while %lld "
		 "B sat free. First fit stops at the first hole that fits; best "
		 "fit must visit every node to know it has the smallest, and "
		 "both walk past every chunk in use, which is why real "
		 "allocators keep free chunks in bins by size.",
		 iv(json_at(runs, 0), "free_bytes"));
	doc_para(d, DOC_KERNEL, "Physical memory fragments the same way: "
		 "free pages scattered between pages in use cannot serve a "
		 "request for a contiguous block. The buddy allocator keeps "
		 "free lists per order (one list per block size, like bins) "
		 "and the kernel compacts memory, moving pages in use, when "
		 "no block of the order asked for is free.");
}

/* ---- split ---- */

void render_split(struct doc *d, const struct json *res)
{
	const struct json *runs = json_get(res, "runs");
	struct bars *b = calloc(1, sizeof(*b));
	struct doc_table *t;
	char name[48], x[32], y[32], z[32];

	doc_para(d, DOC_QUESTION, "What happens to the rest when a freed "
		 "%lld B chunk serves a %lld B request?", iv(res, "freed"),
		 iv(res, "request"));
	doc_para(d, DOC_METHOD, "malloc(%lld), a small block after it, free "
		 "the first, then malloc(%lld); the allocator's heap walk before "
		 "and after, offsets from the freed chunk.", iv(res, "freed"),
		 iv(res, "request"));
	t = doc_table(d, 4, "allocator", "chunks before, after",
		      "handed out (B)", "new free chunk (B)");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		snprintf(x, sizeof(x), "%lld, %lld", iv(r, "chunks_before"),
			 iv(r, "chunks_after"));
		if (is_int(r, "handed_out"))
			snprintf(y, sizeof(y), "%lld", iv(r, "handed_out"));
		else
			snprintf(y, sizeof(y), "a new chunk");
		if (is_int(r, "new_chunk_size"))
			snprintf(z, sizeof(z), "%lld", iv(r, "new_chunk_size"));
		else
			snprintf(z, sizeof(z), "none");
		doc_row(t, sv(r, "allocator"), x, y, z);
		snprintf(name, sizeof(name), "%s before", sv(r, "allocator"));
		bars_add(b, name, json_get(r, "before"), 1);
		snprintf(name, sizeof(name), "%s after", sv(r, "allocator"));
		bars_add(b, name, json_get(r, "after"), 1);
	}
	doc_figure(d, "split", svg_heap_bars("The freed chunk before and after "
		   "malloc(16)", b->n, b->row), "Chunks labelled with their "
		   "payload size in bytes.");
	free(b);
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		if (is_int(r, "new_chunk_offset"))
			doc_para(d, DOC_RESULT, "%s split the chunk: %lld B "
				 "handed out and a new free chunk of %lld B at "
				 "offset %lld, so its header took %lld B.",
				 sv(r, "allocator"), iv(r, "handed_out"),
				 iv(r, "new_chunk_size"), iv(r,
				 "new_chunk_offset"), iv(r, "header_size"));
		else if (is_int(r, "wasted"))
			doc_para(d, DOC_RESULT, "%s handed out the whole "
				 "%lld B chunk for %lld B: %lld B wasted inside it.",
				 sv(r, "allocator"), iv(r, "handed_out"),
				 iv(res, "request"), iv(r, "wasted"));
		else
			doc_para(d, DOC_RESULT, "%s did not reuse the freed "
				 "chunk at all.", sv(r, "allocator"));
	}
	doc_para(d, DOC_CONCLUSION, "Without splitting, a small request "
		 "wastes the rest of a big chunk (internal fragmentation); "
		 "splitting turns the rest into a chunk of its own at the cost "
		 "of one more header.");
	doc_para(d, DOC_KERNEL, "The kernel's buddy allocator splits the "
		 "same way, but only in halves: a free block of order n serves "
		 "an order n-1 request and its other half becomes a free buddy.");
}

/* ---- coalesce ---- */

void render_coalesce(struct doc *d, const struct json *res)
{
	static const char *const steps[] = { "start", "freeB", "freeA" };
	static const char *const step_names[] = { "A B C", "free(B)",
						  "free(A)" };
	const struct json *runs = json_get(res, "runs");
	struct bars *b = calloc(1, sizeof(*b));
	struct doc_table *t;
	char name[48], x[32], y[32], z[32];

	doc_para(d, DOC_QUESTION, "Two free neighbours: one chunk or two?");
	doc_para(d, DOC_METHOD, "A, B and C of %lld B side by side and a block "
		 "after them; free(B), then free(A). The allocator's heap walk "
		 "after each step, offsets from A.", iv(res, "block_size"));
	t = doc_table(d, 4, "allocator", "free chunks after free(B)",
		      "after free(A)", "first free chunk (B)");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		snprintf(x, sizeof(x), "%lld",
			 iv(r, "free_chunks_after_free_B"));
		snprintf(y, sizeof(y), "%lld",
			 iv(r, "free_chunks_after_free_A"));
		snprintf(z, sizeof(z), "%lld", iv(r, "largest_free_at_A"));
		doc_row(t, sv(r, "allocator"), x, y, z);
		for (int s = 0; s < 3; s++) {
			snprintf(name, sizeof(name), "%s: %s",
				 sv(r, "allocator"), step_names[s]);
			bars_add(b, name, json_get(json_get(r, "walks"),
						   steps[s]), 1);
		}
	}
	doc_figure(d, "coalesce", svg_heap_bars("A, B, C: free(B), then "
		   "free(A)", b->n, b->row), "Chunks labelled with their payload size in "
		   "bytes; the last block keeps C away from the end.");
	free(b);
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		doc_para(d, DOC_RESULT, "%s: %lld free chunk%s where A and B "
			 "were, %lld merge%s counted; the first free chunk is "
			 "%lld B.", sv(r, "allocator"),
			 iv(r, "free_chunks_after_free_A"),
			 iv(r, "free_chunks_after_free_A") == 1 ? "" : "s",
			 iv(r, "merges"), iv(r, "merges") == 1 ? "" : "s",
			 iv(r, "largest_free_at_A"));
	}
	doc_para(d, DOC_CONCLUSION, "Without coalescing, free neighbours stay "
		 "apart and a request for their sum must grow the heap. With "
		 "boundary tags, free finds the chunk before in O(1) from the "
		 "footer in its last word and merges with both sides, so no two "
		 "free chunks ever touch.");
	doc_para(d, DOC_KERNEL, "The buddy allocator coalesces on free too: "
		 "a freed block merges with its buddy (found by flipping one "
		 "address bit) as long as the buddy is free, order by order.");
}

/* ---- preload ---- */

static void loop_figure(struct doc *d, const struct json *loop)
{
	const struct json *runs = json_get(loop, "runs");
	static double x[4][64], y[4][64];
	struct svg_series se[4];
	size_t ns = json_len(runs) < 4 ? json_len(runs) : 4;
	struct svg_lines spec = {
		.title = "malloc and free in a loop: the footprint",
		.x_label = "iterations", .y_label = "footprint",
		.x_unit = SVG_COUNT, .y_unit = SVG_BYTES, .nseries = ns,
		.series = se, .marker_x = -1, .marker_y = -1,
	};

	for (size_t i = 0; i < ns; i++) {
		const struct json *r = json_at(runs, i);
		const struct json *s = json_get(r, "samples");
		size_t n = json_len(s) < 64 ? json_len(s) : 64;

		for (size_t k = 0; k < n; k++) {
			x[i][k] = json_as_num(json_get(json_at(s, k),
						       "iteration"), 0);
			y[i][k] = json_as_num(json_get(json_at(s, k),
						       "footprint"), 0);
		}
		se[i] = (struct svg_series){ sv(r, "allocator"), n, x[i],
					     y[i] };
	}
	doc_figure(d, "preload-loop", svg_line_chart(&spec), "Break movement "
		   "plus rw anonymous mappings since the loop started, sampled "
		   "sixteen times.");
}

void render_preload(struct doc *d, const struct json *res)
{
	const struct json *runs = json_get(res, "ls");
	const struct json *loop = json_get(res, "loop");
	struct doc_table *t;
	char st[16], m[24], b[24], mm[24], ph[24], pm[24];

	doc_para(d, DOC_QUESTION, "Can a teaching allocator run a real "
		 "program, and what does each phase ask of the kernel for it? "
		 "And what happens when free is called under phase 1?");
	doc_para(d, DOC_METHOD, "%s runs under each allocator with heaplab "
		 "trace (ptrace engine): exit status, output compared with "
		 "glibc's, the brk and anonymous mmap calls the allocator made "
		 "while serving a malloc-family call, how far the break moved "
		 "(peak heap) and the most bytes mapped at once. Then "
		 "malloc(%lld) and free, %lld times, under phase 1 and glibc.",
		 sv(res, "command"), iv(loop, "size"), iv(loop, "iterations"));
	t = doc_table(d, 7, "allocator", "exit status", "same output",
		      "allocations", "brk calls", "mmap calls", "peak heap (B)");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		int s = json_as_bool(json_get(r, "output_same_as_glibc"), 0);

		snprintf(st, sizeof(st), "%lld", iv(r, "exit_status"));
		snprintf(m, sizeof(m), "%lld", iv(r, "allocations"));
		snprintf(b, sizeof(b), "%lld", iv(r, "brk_calls"));
		snprintf(mm, sizeof(mm), "%lld", iv(r, "mmap_calls"));
		snprintf(ph, sizeof(ph), "%lld", iv(r, "peak_heap"));
		doc_row(t, sv(r, "allocator"), st, s ? "yes" : "no", m, b, mm,
			ph);
	}
	doc_para(d, DOC_RESULT, "%lld of %lld allocators ran it to exit "
		 "status 0, and %lld printed exactly what glibc printed.",
		 iv(res, "ran_count"), iv(res, "allocator_count"),
		 iv(res, "same_output_count"));
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		if (!strcmp(sv(r, "allocator"), "phase1") &&
		    iv(r, "brk_calls") >= iv(r, "allocations"))
			doc_para(d, DOC_RESULT, "phase1 moved the break %lld "
				 "times for %lld allocations, one sbrk per "
				 "request: a peak heap of %s, the most of all.",
				 iv(r, "brk_calls"), iv(r, "allocations"),
				 svg_format(pm, sizeof(pm), json_as_num(
					 json_get(r, "peak_heap"), 0),
					 SVG_BYTES));
	}
	loop_figure(d, loop);
	for (size_t i = 0; i < json_len(json_get(loop, "runs")); i++) {
		const struct json *r = json_at(json_get(loop, "runs"), i);

		doc_para(d, DOC_RESULT, "%s: the footprint grew by %lld B "
			 "after the first iteration, %lld B per iteration.",
			 sv(r, "allocator"), iv(r, "growth"),
			 iv(r, "growth_per_iteration"));
	}
	doc_para(d, DOC_CONCLUSION, "A bump allocator runs real programs: "
		 "free is allowed to do nothing. The price is memory: under "
		 "phase 1 every malloc moves the break, so a program that "
		 "frees and allocates in a loop grows without bound, where an "
		 "allocator that reuses freed chunks stays flat.");
	doc_para(d, DOC_KERNEL, "brk(2) moves mm->brk, the end of the heap "
		 "VMA (do_brk_flags in mm/mmap.c); the pages behind it are only "
		 "given on first touch, by the page-fault handler, and a break "
		 "moved back down unmaps them.");
}

/* ---- progression ---- */

static const struct json *run_named(const struct json *runs, const char *name)
{
	for (size_t i = 0; i < json_len(runs); i++)
		if (!strcmp(sv(json_at(runs, i), "allocator"), name))
			return json_at(runs, i);
	return NULL;
}

/* What each idea bought, from the rows of the phases that show it. */
static void progression_steps(struct doc *d, const struct json *runs)
{
	static const struct { const char *from, *to, *idea; } step[] = {
		{ "phase2", "phase3", "reusing freed chunks (the free list)" },
		{ "phase3", "phase4", "splitting" },
		{ "phase4", "phase5", "coalescing" },
		{ "phase5", "phase6", "mmap for big blocks" },
	};
	const struct json *p6 = run_named(runs, "phase6");

	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		const struct json *a = run_named(runs, step[i].from);
		const struct json *b = run_named(runs, step[i].to);

		if (!a || !b)
			continue;
		doc_para(d, DOC_CONCLUSION, "%s: %s took the peak heap from "
			 "%lld B to %lld B and the brk calls from %lld to %lld.",
			 step[i].to, step[i].idea, iv(a, "peak_heap"),
			 iv(b, "peak_heap"), iv(a, "brk_calls"),
			 iv(b, "brk_calls"));
	}
	if (p6 && iv(p6, "munmap_calls"))
		doc_para(d, DOC_CONCLUSION, "phase6 gave %lld mappings back "
			 "with munmap as their blocks were freed: memory the other "
			 "phases keep in the heap until the process exits.",
			 iv(p6, "munmap_calls"));
}

void render_progression(struct doc *d, const struct json *res)
{
	const struct json *runs = json_get(res, "runs");
	size_t n = json_len(runs) < 16 ? json_len(runs) : 16;
	const char *labels[16];
	double heap[16], util[16];
	struct doc_table *t;
	char a[24], b[24], c[24], e[24], f[24], g[24];
	int best = -1, jump = -1;
	double jump_by = 0;

	doc_para(d, DOC_QUESTION, "What does each idea, phase by phase, buy "
		 "on one realistic workload: memory, system calls, time?");
	doc_para(d, DOC_METHOD, "The same %lld operations over %lld slots "
		 "(random sizes from 16 B to 512 KiB with random lifetimes, "
		 "one in eight frees a realloc instead; a fixed seed) under "
		 "each allocator: once traced for its brk, mmap and munmap "
		 "calls, once alone for its time. Utilization is peak live "
		 "bytes over peak heap footprint, as the CS:APP malloc lab "
		 "scores it; the phases count their own footprint, the others "
		 "are measured from outside (break movement plus rw anonymous "
		 "mappings, sampled at every new live peak).", iv(res, "ops"),
		 iv(res, "slots"));
	t = doc_table(d, 7, "allocator", "peak heap (B)", "utilization",
		      "brk", "mmap", "munmap", "time (ms)");
	for (size_t i = 0; i < n; i++) {
		const struct json *r = json_at(runs, i);

		labels[i] = sv(r, "allocator");
		heap[i] = json_as_num(json_get(r, "peak_heap"), -1);
		util[i] = json_as_num(json_get(r, "utilization"), -1);
		snprintf(a, sizeof(a), "%lld", iv(r, "peak_heap"));
		snprintf(b, sizeof(b), "%.3f", util[i]);
		snprintf(c, sizeof(c), "%lld", iv(r, "brk_calls"));
		snprintf(e, sizeof(e), "%lld", iv(r, "mmap_calls"));
		snprintf(f, sizeof(f), "%lld", iv(r, "munmap_calls"));
		snprintf(g, sizeof(g), "%.1f", json_as_num(json_get(r,
			 "time_ms"), 0));
		doc_row(t, labels[i], a, b, c, e, f, g);
		if (best < 0 || util[i] > util[best])
			best = i;
		if (i > 0 && !strncmp(labels[i], "phase", 5) &&
		    !strncmp(labels[i - 1], "phase", 5) &&
		    util[i] - util[i - 1] > jump_by) {
			jump = i;
			jump_by = util[i] - util[i - 1];
		}
	}
	if (best >= 0)
		doc_mark_best(t, best, 2);
	{
		struct svg_bars hb = { "Peak heap footprint", SVG_BYTES, n,
				       labels, heap, -1 };
		struct svg_bars ub = { "Utilization: peak live / peak heap",
				       SVG_RATIO, n, labels, util, best };

		doc_figure(d, "progression-heap", svg_bar_chart(&hb),
			   "The most memory each allocator held for the same workload.");
		doc_figure(d, "progression-utilization", svg_bar_chart(&ub),
			   "The share of that memory the program was using at "
			   "its peak; the best is highlighted.");
	}
	if (n)
		doc_para(d, DOC_RESULT, "Every allocator served the same peak "
			 "of %lld live bytes.", iv(json_at(runs, 0),
						   "peak_live"));
	if (best >= 0)
		doc_para(d, DOC_RESULT, "The best utilization: %s, %.3f (a "
			 "peak heap of %lld B).", labels[best], util[best],
			 iv(json_at(runs, best), "peak_heap"));
	if (jump > 0)
		doc_para(d, DOC_RESULT, "The biggest step between phases: %s "
			 "to %s, utilization from %.3f to %.3f.", labels[jump - 1],
			 labels[jump], util[jump - 1], util[jump]);
	progression_steps(d, runs);
	doc_para(d, DOC_KERNEL, "Each brk and mmap is a system call that "
		 "changes the process's VMAs under mmap_lock; allocators make "
		 "few of them and move memory in large steps so that the "
		 "kernel's work stays off the malloc path.");
}
