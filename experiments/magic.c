// SPDX-License-Identifier: MIT
/*
 * magic.c — `heaplab experiment magic [-a ALLOC]... [--json]`: what sits
 * just before the pointer malloc returns. For each allocator the probe
 * reads the six words before a fresh malloc(40) (and again after freeing
 * it); this driver recognises in them the header fields: the magic number
 * 0xDEADBEEF with the state word beside it, and the size word (the usable
 * size, or the chunk size with flag bits in its low bits). Then thousands
 * of pointers of every size and alignment are checked for misalignment.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

#define REQUEST		40
#define MAGIC		0xDEADBEEFull

static const char *const defaults[] = {
	"glibc", "phase1", "phase2", "phase3", "phase4", "phase5", "phase6",
	"heaplab", "jemalloc", "mimalloc", "tcmalloc", NULL,
};

struct header {
	long long usable;
	int magic_off;		/* offset of the magic from p; 0: none */
	int state_off;
	unsigned long long state, freed_state;
	int size_off;		/* offset of the size word; 0: none */
	unsigned long long size_word;
	long long chunk_size;	/* the size word without its flag bits */
	int flags;		/* those bits */
	int walk_magic;		/* the phase's own walk: magic intact */
	int nwords;
	int off[6];
	unsigned long long word[6], freed[6];
	int have_freed[6];
};

static unsigned long long word_at(const char *out, const char *label,
				  int off, int *found)
{
	char key[32];
	size_t klen;

	/* Unsigned: a word with the magic in its top half tops LLONG_MAX. */
	klen = snprintf(key, sizeof(key), "\n%s -%d ", label, off);
	for (const char *l = strstr(out, key); l; ) {
		*found = 1;
		return strtoull(l + klen, NULL, 10);
	}
	*found = 0;
	return 0;
}

/* Read the header's fields out of the words before the pointer. */
static void decode(const char *out, struct header *h)
{
	memset(h, 0, sizeof(*h));
	h->usable = hl_out_value(out, "usable", -1);
	h->walk_magic = hl_out_value(out, "walk_magic", -2);
	for (int off = 8; off <= 48; off += 8) {
		int found, ffound;
		unsigned long long w = word_at(out, "word", off, &found);
		unsigned long long f = word_at(out, "freed", off, &ffound);

		if (!found)
			continue;
		h->off[h->nwords] = -off;
		h->word[h->nwords] = w;
		h->freed[h->nwords] = f;
		h->have_freed[h->nwords++] = ffound;
		if (!h->magic_off && w >> 32 == MAGIC) {
			h->magic_off = -off + 4;
			h->state_off = -off;
			h->state = w & 0xffffffff;
			h->freed_state = ffound ? f & 0xffffffff : 0;
		}
		/* The size: usable bytes, or the chunk with its size field. */
		if (!h->size_off && w && w < (1ull << 32) &&
		    ((long long)(w & ~15ull) == h->usable ||
		     (long long)(w & ~7ull) == h->usable + 8)) {
			h->size_off = -off;
			h->size_word = w;
			h->chunk_size = (long long)(w & ~7ull);
			if (h->chunk_size != h->usable + 8)
				h->chunk_size = (long long)(w & ~15ull);
			h->flags = (int)(w - h->chunk_size);
		}
	}
}

static const char *word_meaning(const struct header *h, int i, char *buf,
				size_t len)
{
	int off = h->off[i];

	if (h->magic_off && off == h->state_off)
		snprintf(buf, len, "state %llu (1 used, 2 free) and magic "
			 "0x%llX at p%d", h->state, MAGIC, h->magic_off);
	else if (h->size_off && off == h->size_off &&
		 h->chunk_size == h->usable)
		snprintf(buf, len, "size: %lld usable bytes%s", h->chunk_size,
			 h->flags ? " | PREV_INUSE" : "");
	else if (h->size_off && off == h->size_off)
		snprintf(buf, len, "chunk size %lld (%lld usable + 8 for this "
			 "size word) | flags %d", h->chunk_size, h->usable,
			 h->flags);
	else
		snprintf(buf, len, "-");
	return buf;
}

static struct json *header_json(const struct header *h)
{
	struct json *o = json_obj(), *ws;
	char buf[160];

	json_set(o, "usable", json_int(h->usable));
	json_set(o, "magic_offset", h->magic_off ? json_int(h->magic_off) :
		 json_null());
	json_set(o, "state_used", h->magic_off ? json_int(h->state) :
		 json_null());
	json_set(o, "state_freed", h->magic_off ? json_int(h->freed_state) :
		 json_null());
	json_set(o, "size_offset", h->size_off ? json_int(h->size_off) :
		 json_null());
	json_set(o, "size_word", h->size_off ? json_int(h->size_word) :
		 json_null());
	json_set(o, "chunk_size", h->size_off ? json_int(h->chunk_size) :
		 json_null());
	json_set(o, "size_flags", h->size_off ? json_int(h->flags) :
		 json_null());
	json_set(o, "walk_magic_intact", h->walk_magic == -2 ? json_null() :
		 h->walk_magic < 0 ? json_null() : json_bool(h->walk_magic));
	ws = json_set(o, "words", json_arr());
	for (int i = 0; i < h->nwords; i++) {
		struct json *w = json_push(ws, json_obj());

		json_set(w, "offset", json_int(h->off[i]));
		json_set(w, "value", json_strf("0x%llx", h->word[i]));
		json_set(w, "after_free", h->have_freed[i] ?
			 json_strf("0x%llx", h->freed[i]) : json_null());
		json_set(w, "meaning", json_str(word_meaning(h, i, buf,
							      sizeof(buf))));
	}
	return o;
}

static const char *const align_args[] = { "align", NULL };

static struct json *measure(const struct pl_opts *o, const struct hl_alloc *a)
{
	static const char *const magic_args[] = { "magic", "40", NULL };
	struct json *r = json_obj(), *al;
	char *out = pl_probe(o->cmd, a, NULL, magic_args);
	struct header h;
	long long bad;

	decode(out, &h);
	free(out);
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "header", header_json(&h));
	out = pl_probe(o->cmd, a, NULL, align_args);
	al = json_set(r, "alignment", json_obj());
	json_set(al, "checked", json_int(pl_value(o->cmd, out, "checked")));
	bad = pl_value(o->cmd, out, "misaligned");
	json_set(al, "misaligned", json_int(bad));
	json_set(al, "common_alignment",
		 json_int(pl_value(o->cmd, out, "common_alignment")));
	if (bad) {
		char *l = strstr(out, "first_misaligned ");

		json_set(al, "first_misaligned", json_str(l ? strtok(l + 17,
							  "\n") : "?"));
	}
	free(out);
	return r;
}

static void print_text(const struct json *res)
{
	long long bad_total = 0;

	printf("heaplab magic: what sits before the pointer malloc(%d) "
	       "returns, and is every pointer aligned?\n", REQUEST);
	for (size_t i = 0; i < json_len(res); i++) {
		const struct json *r = json_at(res, i);
		const struct json *h = json_get(r, "header");
		const struct json *ws = json_get(h, "words");
		const struct json *al = json_get(r, "alignment");

		printf("\n== %s (usable size %lld)\n",
		       pl_str(r, "allocator"),
		       pl_int(h, "usable"));
		for (size_t k = 0; k < json_len(ws); k++) {
			const struct json *w = json_at(ws, k);

			printf("  p%-4lld %-20s %s\n",
			       pl_int(w, "offset"),
			       json_as_str(json_get(w, "value"), ""),
			       json_as_str(json_get(w, "meaning"), ""));
		}
		if (json_type(json_get(h, "magic_offset")) == JSON_INT)
			printf("  walking back from p finds 0xDEADBEEF at "
			       "p%lld; free(p) turned the state %lld into "
			       "%lld\n",
			       pl_int(h, "magic_offset"),
			       pl_int(h, "state_used"),
			       pl_int(h, "state_freed"));
		else if (json_type(json_get(h, "size_offset")) == JSON_INT)
			printf("  no magic number: only a size word, at "
			       "p%lld\n",
			       pl_int(h, "size_offset"));
		else
			printf("  no header found before p: the size is known "
			       "from where the block lies\n");
		printf("  alignment: %lld pointers checked, %lld misaligned, "
		       "every one a multiple of %lld\n",
		       pl_int(al, "checked"),
		       pl_int(al, "misaligned"),
		       pl_int(al, "common_alignment"));
		bad_total += json_as_int(json_get(al, "misaligned"), 0);
	}
	printf("\n%s\n", bad_total ? "Some pointers were misaligned (above)." :
	       "No misaligned pointer under any allocator.");
}

static void magic_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment magic [-a ALLOC]... [--json]\n"
		"\n"
		"Walks back from the pointer a fresh malloc(40) returns: the six\n"
		"words before it (and again after free), with the header fields\n"
		"recognised in them (the magic number 0xDEADBEEF and the state\n"
		"beside it, the size word and its flag bits). Then checks the\n"
		"alignment of thousands of pointers: malloc of every size to\n"
		"1 KiB and larger ones, calloc, realloc, memalign, aligned_alloc,\n"
		"posix_memalign (32 B to 8 KiB), valloc and pvalloc.\n"
		"\n"
		"  -a, --alloc ALLOC   an allocator (repeatable); default glibc,\n"
		"                      phase1..phase6, heaplab and the installed\n"
		"                      jemalloc, mimalloc, tcmalloc\n"
		"      --json          the measurements as JSON\n"
		"      --quick         accepted (this experiment is quick)\n");
}

static int magic_main(int argc, char **argv)
{
	struct pl_opts o;
	struct json *doc, *res;
	int rc = pl_parse(&o, "magic", argc, argv, magic_help, defaults);

	if (rc >= 0)
		return rc;
	doc = json_obj();
	json_set(doc, "experiment", json_str("magic"));
	json_set(doc, "request", json_int(REQUEST));
	res = json_set(doc, "allocators", json_arr());
	for (size_t i = 0; i < o.nalloc; i++)
		json_push(res, measure(&o, &o.alloc[i]));
	pl_output(&o, doc, print_text, res);
	return 0;
}

const struct hl_cmd hl_exp_magic = {
	.name = "magic",
	.summary = "the header before a pointer, and every pointer's alignment",
	.main = magic_main,
	.help = magic_help,
};
