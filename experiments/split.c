// SPDX-License-Identifier: MIT
/*
 * split.c — `heaplab experiment split [-a ALLOC]... [--json]`: a freed
 * 512 B chunk serves malloc(16). Phase 3 hands out the whole chunk; phase 4
 * splits it and the rest becomes a free chunk of its own, visible as a new
 * node in the heap walk. The header's size is read off the walk: what the
 * rest lost beyond the 16 B handed out.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

#define BIG	512
#define SMALL	16

static const char *const defaults[] = { "phase3", "phase4", NULL };

static struct json *run(const struct pl_opts *o, const struct hl_alloc *a)
{
	static const char *const args[] = { "split", "512", "16", NULL };
	char *out = pl_probe(o->cmd, a, NULL, args);
	struct json *r = json_obj(), *before, *after;
	long long base, nb, na, splits;
	int reused;
	int fb, fa;

	if (!pl_value(o->cmd, out, "walk"))
		hl_die(o->cmd, "%s exports no heap walk (heaplab_phase_walk): "
		       "this experiment needs a teaching allocator", a->name);
	base = pl_value(o->cmd, out, "big_ptr");
	json_set(r, "allocator", json_str(a->name));
	before = json_set(r, "before", pl_chunks(out, "before", base, &fb));
	after = json_set(r, "after", pl_chunks(out, "after", base, &fa));
	nb = json_len(before);
	na = json_len(after);
	json_set(r, "chunks_before", json_int(nb));
	json_set(r, "chunks_after", json_int(na));
	reused = pl_value(o->cmd, out, "small_ptr") == base;
	splits = pl_value(o->cmd, out, "after_splits") -
		 pl_value(o->cmd, out, "before_splits");
	json_set(r, "reused_freed_chunk", json_bool(reused));
	json_set(r, "splits", json_int(splits));
	json_set(r, "handed_out", reused ? json_int(json_as_int(json_get(
		json_at(after, 0), "size"), 0)) : json_null());
	/* A new node: the rest, right after the 16 B handed out. */
	if (reused && splits == 1 && na == nb + 1) {
		const struct json *rest = json_at(after, 1);
		long long big = pl_int(json_at(before, 0), "size");
		long long got = pl_int(json_at(after, 0), "size");
		long long left = json_as_int(json_get(rest, "size"), 0);

		json_set(r, "new_chunk_offset",
			 json_int(json_as_int(json_get(rest, "offset"), 0)));
		json_set(r, "new_chunk_size", json_int(left));
		json_set(r, "new_chunk_state", json_str(pl_str(rest, "state")));
		json_set(r, "header_size", json_int(big - got - left));
	} else {
		long long whole = json_as_int(json_get(json_at(after, 0),
						       "size"), 0);

		json_set(r, "new_chunk_offset", json_null());
		json_set(r, "wasted", reused ? json_int(whole - SMALL) :
			 json_null());
	}
	free(out);
	return r;
}

static void print_chunks(const char *what, const struct json *c)
{
	printf("  %s:\n", what);
	for (size_t i = 0; i < json_len(c); i++) {
		const struct json *ch = json_at(c, i);

		printf("    +%-6lld %5lld B  %s\n",
		       pl_int(ch, "offset"),
		       pl_int(ch, "size"),
		       pl_str(ch, "state"));
	}
}

static void print_text(const struct json *runs)
{
	printf("heaplab split: free a %d B block, then malloc(%d)\n", BIG,
	       SMALL);
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);

		printf("\n== %s\n", pl_str(r, "allocator"));
		print_chunks("before (offsets from the freed block)",
			     json_get(r, "before"));
		print_chunks("after malloc(16)", json_get(r, "after"));
		if (json_type(json_get(r, "new_chunk_offset")) == JSON_INT)
			printf("  split: the %lld B handed out, a new %s "
			       "chunk of %lld B at +%lld; its header took %lld B\n",
			       pl_int(r, "handed_out"),
			       pl_str(r, "new_chunk_state"),
			       pl_int(r, "new_chunk_size"),
			       pl_int(r, "new_chunk_offset"),
			       pl_int(r, "header_size"));
		else if (!json_as_bool(json_get(r, "reused_freed_chunk"), 0))
			printf("  no reuse: malloc(16) got a new chunk; the "
			       "freed one stays as it was\n");
		else
			printf("  no split: malloc(16) got the whole %lld B "
			       "chunk, %lld B of it wasted\n",
			       pl_int(r, "handed_out"),
			       pl_int(r, "wasted"));
	}
}

static void split_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment split [-a ALLOC]... [--json]\n"
		"\n"
		"Frees a %d B block and asks for %d B: the heap walk before and\n"
		"after, offsets from the freed block. With splitting (phase4\n"
		"on) the rest becomes a new free chunk, and the header's size is\n"
		"what it lost; without (phase3) the whole chunk is handed out.\n"
		"\n"
		"  -a, --alloc ALLOC   a teaching allocator (repeatable; default\n"
		"                      phase3 and phase4)\n"
		"      --json          the measurements as JSON\n"
		"      --quick         accepted (this experiment is quick)\n",
		BIG, SMALL);
}

static int split_main(int argc, char **argv)
{
	struct pl_opts o;
	struct json *doc, *runs;
	int rc = pl_parse(&o, "split", argc, argv, split_help, defaults);

	if (rc >= 0)
		return rc;
	doc = json_obj();
	json_set(doc, "experiment", json_str("split"));
	json_set(doc, "freed", json_int(BIG));
	json_set(doc, "request", json_int(SMALL));
	runs = json_set(doc, "runs", json_arr());
	for (size_t i = 0; i < o.nalloc; i++)
		json_push(runs, run(&o, &o.alloc[i]));
	pl_output(&o, doc, print_text, runs);
	return 0;
}

const struct hl_cmd hl_exp_split = {
	.name = "split",
	.summary = "a big free chunk split to serve a small request",
	.main = split_main,
	.help = split_help,
};
