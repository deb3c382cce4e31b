// SPDX-License-Identifier: MIT
/*
 * coalesce.c — `heaplab experiment coalesce [-a ALLOC]... [--json]`: three
 * neighbours A, B, C (and a fence after them); free B, then A. Without
 * coalescing (phase 4) two free chunks lie side by side, neither able to
 * serve a request both could together; with boundary tags (phase 5) free(A)
 * finds B free right after it and the two become one chunk. The heap walks
 * before and after come from the allocator itself (heaplab_phase_walk).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

#define SIZE	64

static const char *const defaults[] = { "phase4", "phase5", NULL };
static const char *const steps[] = { "start", "freeB", "freeA" };

static struct json *run(const struct pl_opts *o, const struct hl_alloc *a)
{
	static const char *const args[] = { "coalesce", "64", NULL };
	char *out = pl_probe(o->cmd, a, NULL, args);
	struct json *r = json_obj(), *walks;
	long long base;
	int nfree[3];

	if (!pl_value(o->cmd, out, "walk"))
		hl_die(o->cmd, "%s exports no heap walk (heaplab_phase_walk): "
		       "this experiment needs a teaching allocator", a->name);
	base = pl_value(o->cmd, out, "A");
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "B_offset", json_int(pl_value(o->cmd, out, "B") - base));
	json_set(r, "C_offset", json_int(pl_value(o->cmd, out, "C") - base));
	walks = json_set(r, "walks", json_obj());
	for (int i = 0; i < 3; i++)
		json_set(walks, steps[i], pl_chunks(out, steps[i], base,
						    &nfree[i]));
	json_set(r, "free_chunks_after_free_B", json_int(nfree[1]));
	json_set(r, "free_chunks_after_free_A", json_int(nfree[2]));
	json_set(r, "chunks_before", json_int(json_len(json_get(walks,
							       "start"))));
	json_set(r, "chunks_after", json_int(json_len(json_get(walks,
							      "freeA"))));
	json_set(r, "merges", json_int(pl_value(o->cmd, out, "freeA_merges") -
				       pl_value(o->cmd, out, "start_merges")));
	/* The first free chunk after free(A): A itself, maybe grown. */
	for (size_t i = 0; i < json_len(json_get(walks, "freeA")); i++) {
		const struct json *c = json_at(json_get(walks, "freeA"), i);

		if (!strcmp(json_as_str(json_get(c, "state"), ""), "free")) {
			json_set(r, "largest_free_at_A",
				 json_int(json_as_int(json_get(c, "size"), 0)));
			break;
		}
	}
	free(out);
	return r;
}

static void print_walk(const char *what, const struct json *c)
{
	printf("  %-10s", what);
	for (size_t i = 0; i < json_len(c); i++) {
		const struct json *ch = json_at(c, i);

		printf(" [+%lld %lld %s]",
		       pl_int(ch, "offset"),
		       pl_int(ch, "size"),
		       pl_str(ch, "state"));
	}
	putchar('\n');
}

static void print_text(const struct json *runs)
{
	printf("heaplab coalesce: A, B, C of %d B each; free(B), then free(A)"
	       "\n(chunks as [+offset from A, size, state])\n", SIZE);
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		const struct json *w = json_get(r, "walks");
		long long nf = json_as_int(json_get(r,
					"free_chunks_after_free_A"), 0);

		printf("\n== %s\n", pl_str(r, "allocator"));
		print_walk("start", json_get(w, "start"));
		print_walk("free(B)", json_get(w, "freeB"));
		print_walk("free(A)", json_get(w, "freeA"));
		printf("  %lld free chunk%s where A and B were; %lld merge%s; "
		       "the first free chunk is %lld B\n", nf,
		       nf == 1 ? "" : "s",
		       pl_int(r, "merges"),
		       json_as_int(json_get(r, "merges"), 0) == 1 ? "" : "s",
		       pl_int(r, "largest_free_at_A"));
	}
}

static void coalesce_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment coalesce [-a ALLOC]... [--json]\n"
		"\n"
		"Allocates A, B and C of %d B side by side, frees B and then A,\n"
		"and shows the heap walk at each step: without coalescing two\n"
		"free chunks remain, with boundary tags one.\n"
		"\n"
		"  -a, --alloc ALLOC   a teaching allocator (repeatable; default\n"
		"                      phase4 and phase5)\n"
		"      --json          the measurements as JSON\n"
		"      --quick         accepted (this experiment is quick)\n",
		SIZE);
}

static int coalesce_main(int argc, char **argv)
{
	struct pl_opts o;
	struct json *doc, *runs;
	int rc = pl_parse(&o, "coalesce", argc, argv, coalesce_help, defaults);

	if (rc >= 0)
		return rc;
	doc = json_obj();
	json_set(doc, "experiment", json_str("coalesce"));
	json_set(doc, "block_size", json_int(SIZE));
	runs = json_set(doc, "runs", json_arr());
	for (size_t i = 0; i < o.nalloc; i++)
		json_push(runs, run(&o, &o.alloc[i]));
	pl_output(&o, doc, print_text, runs);
	return 0;
}

const struct hl_cmd hl_exp_coalesce = {
	.name = "coalesce",
	.summary = "free neighbours merged by boundary tags, or not",
	.main = coalesce_main,
	.help = coalesce_help,
};
