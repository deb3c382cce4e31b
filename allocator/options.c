// SPDX-License-Identifier: MIT
/*
 * options.c — HEAPLAB_OPTIONS, read once at start-up:
 *
 *   HEAPLAB_OPTIONS=mmap_threshold=256k,trim_threshold=1m,top_pad=0,check=1
 *
 * Keys: mmap_threshold, trim_threshold, top_pad (bytes; k/m/g suffixes are
 * KiB/MiB/GiB; 0x for hex), mmap_max, arena_max, max_fast (a request size,
 * 0..160), tcache_count (chunks per thread-cache bin, 0 turns the cache
 * off), mmap_cache (bytes of freed mappings kept for reuse, 0: none),
 * perturb (a byte), thp, populate, borrow, check and dump_at_exit (0 or
 * 1). Setting any of the first four turns the dynamic mmap threshold off,
 * as mallopt does.
 * A bad item is reported once on stderr and ignored. Nothing here allocates:
 * this runs inside the first malloc.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator/arena.h"
#include "allocator/out.h"

enum opt_kind { OPT_SIZE, OPT_INT, OPT_BOOL };

enum opt_id {
	OPT_MMAP_THRESHOLD, OPT_TRIM_THRESHOLD, OPT_TOP_PAD, OPT_MMAP_MAX, OPT_ARENA_MAX,
	OPT_MAX_FAST, OPT_PERTURB, OPT_TCACHE_COUNT, OPT_MMAP_CACHE, OPT_THP, OPT_POPULATE,
	OPT_BORROW, OPT_CHECK, OPT_DUMP_AT_EXIT,
};

/*
 * The names are arrays, not pointers: a pointer in the table would need a
 * relocation at every start-up (ld.so's work, and 24 bytes each in the
 * loader's segment, which 13 of them pushed past its one page: footprint).
 */
static const struct option_def {
	char name[16];
	enum opt_kind kind;
	uint64_t max;
} option_defs[] = {
	[OPT_MMAP_THRESHOLD] = { "mmap_threshold", OPT_SIZE, DEFAULT_MMAP_THRESHOLD_MAX },
	[OPT_TRIM_THRESHOLD] = { "trim_threshold", OPT_SIZE, PTRDIFF_MAX },
	[OPT_TOP_PAD] = { "top_pad", OPT_SIZE, 1UL << 40 },
	[OPT_MMAP_MAX] = { "mmap_max", OPT_INT, 1 << 30 },
	[OPT_ARENA_MAX] = { "arena_max", OPT_INT, 1 << 20 },
	[OPT_MAX_FAST] = { "max_fast", OPT_INT, MAX_FAST_SIZE },
	[OPT_PERTURB] = { "perturb", OPT_INT, 255 },
	[OPT_TCACHE_COUNT] = { "tcache_count", OPT_INT, 65535 },
	[OPT_MMAP_CACHE] = { "mmap_cache", OPT_SIZE, 1UL << 40 },
	[OPT_THP] = { "thp", OPT_BOOL, 1 },
	[OPT_POPULATE] = { "populate", OPT_BOOL, 1 },
	[OPT_BORROW] = { "borrow", OPT_BOOL, 1 },
	[OPT_CHECK] = { "check", OPT_BOOL, 1 },
	[OPT_DUMP_AT_EXIT] = { "dump_at_exit", OPT_BOOL, 1 },
};

static void complain(const char *what, const char *item, size_t len)
{
	struct out o;
	char quoted[128];

	if (len > sizeof(quoted) - 1)
		len = sizeof(quoted) - 1;
	memcpy(quoted, item, len);
	quoted[len] = '\0';
	out_init(&o, 2);
	out_str(&o, "heaplab: HEAPLAB_OPTIONS: ");
	out_str(&o, what);
	out_str(&o, " '");
	out_str(&o, quoted);
	out_str(&o, "' (ignored)\n");
	out_flush(&o);
}

/* A number with an optional k/m/g suffix; -1 if it is not one. */
static int parse_number(const char *s, size_t len, int suffixes, uint64_t *out)
{
	uint64_t v = 0, base = 10, shift = 0;
	size_t i = 0;

	if (len == 0)
		return -1;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (suffixes && base == 10) {
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; len--; break;
		case 'm': case 'M': shift = 20; len--; break;
		case 'g': case 'G': shift = 30; len--; break;
		}
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		unsigned d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

static void apply(enum opt_id id, uint64_t v)
{
	switch (id) {
	case OPT_MMAP_THRESHOLD:
		mp.mmap_threshold = v;
		mp.no_dyn_threshold = 1;
		break;
	case OPT_TRIM_THRESHOLD:
		mp.trim_threshold = v;
		mp.no_dyn_threshold = 1;
		break;
	case OPT_TOP_PAD:
		mp.top_pad = v;
		mp.no_dyn_threshold = 1;
		break;
	case OPT_MMAP_MAX:
		mp.n_mmaps_max = (int)v;
		mp.no_dyn_threshold = 1;
		break;
	case OPT_ARENA_MAX:
		mp.arena_max = v;
		break;
	case OPT_MAX_FAST:
		mp.max_fast = v;
		break;
	case OPT_TCACHE_COUNT:
		mp.tcache_count = (unsigned)v;
		break;
	case OPT_MMAP_CACHE:
		mp.mmap_cache = v;
		mp.mmap_cache_set = 1;
		break;
	case OPT_THP:
		mp.thp = (int)v;
		break;
	case OPT_POPULATE:
		mp.populate = (int)v;
		break;
	case OPT_BORROW:
		mp.borrow = (int)v;
		break;
	case OPT_PERTURB:
		mp.perturb = (int)v;
		break;
	case OPT_CHECK:
		mp.check = (int)v;
		break;
	case OPT_DUMP_AT_EXIT:
		mp.dump_at_exit = (int)v;
		break;
	}
}

static void parse_item(const char *item, size_t len)
{
	const char *eq = memchr(item, '=', len);
	size_t klen = eq ? (size_t)(eq - item) : len;

	for (size_t i = 0; i < sizeof(option_defs) / sizeof(option_defs[0]); i++) {
		const struct option_def *d = &option_defs[i];
		uint64_t v;

		if (strlen(d->name) != klen || memcmp(d->name, item, klen))
			continue;
		if (!eq) {
			complain("missing value in", item, len);
			return;
		}
		if (parse_number(eq + 1, len - klen - 1, d->kind == OPT_SIZE, &v) || v > d->max) {
			complain("bad value in", item, len);
			return;
		}
		apply((enum opt_id)i, v);
		return;
	}
	complain("unknown option", item, len);
}

/*
 * The variable's name, in .data rather than .rodata: a program that sets
 * no option then reads nothing of our read-only data segment, whose pages
 * (12 KiB of strings and unwind tables) stay out of its resident set.
 * Not static: a static array nobody writes is moved to .rodata.
 */
char options_var[] HL_HIDDEN = "HEAPLAB_OPTIONS=";

/* HEAPLAB_OPTIONS's value, or NULL; as getenv, without the call into libc. */
static const char *options_value(void)
{
	for (char **e = environ; e && *e; e++) {
		const char *v = *e;
		size_t i = 0;

		while (options_var[i] && v[i] == options_var[i])
			i++;
		if (!options_var[i])
			return v + i;
	}
	return NULL;
}

void options_init(void)
{
	const char *s = options_value();

	while (s && *s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (len)
			parse_item(s, len);
		s = end ? end + 1 : NULL;
	}
}
