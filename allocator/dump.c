// SPDX-License-Identifier: MIT
/*
 * dump.c — looking inside: the heap dump (every chunk, its state and its
 * bin), the counters, and glibc's reporting calls (mallinfo, mallinfo2,
 * malloc_stats, malloc_info). The arena is read under its lock; output is
 * formatted without allocating (out.h), except malloc_info, whose FILE the
 * caller gave us: it is written after the lock is released.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include "allocator/arena.h"
#include "allocator/include/heaplab.h"
#include "allocator/out.h"

struct bin_totals {
	size_t count, total, min, max;
};

/* One arena's free memory, bin by bin. */
struct arena_snap {
	struct bin_totals fast[NFASTBINS];
	struct bin_totals bin[NBINS];
	size_t top, system_mem, max_system_mem;
};

static void add_chunk(struct bin_totals *t, size_t size)
{
	if (!t->count || size < t->min)
		t->min = size;
	if (size > t->max)
		t->max = size;
	t->count++;
	t->total += size;
}

static void snapshot(struct arena *av, struct arena_snap *s)
{
	*s = (struct arena_snap){ 0 };
	for (unsigned i = 0; i < NFASTBINS; i++)
		for (struct chunk *p = av->fastbins[i]; p; p = fastbin_next(p))
			add_chunk(&s->fast[i], chunksize(p));
	for (unsigned i = 1; i < NBINS; i++) {
		struct chunk *bin = bin_at(av, i);

		for (struct chunk *p = bin->fd; p != bin; p = p->fd)
			add_chunk(&s->bin[i], chunksize(p));
	}
	s->top = av->top ? chunksize(av->top) : 0;
	s->system_mem = av->system_mem;
	s->max_system_mem = av->max_system_mem;
}

static void snap_totals(const struct arena_snap *s, size_t *fast_count, size_t *fast_bytes,
			size_t *rest_count, size_t *rest_bytes)
{
	*fast_count = *fast_bytes = *rest_count = *rest_bytes = 0;
	for (unsigned i = 0; i < NFASTBINS; i++) {
		*fast_count += s->fast[i].count;
		*fast_bytes += s->fast[i].total;
	}
	for (unsigned i = 1; i < NBINS; i++) {
		*rest_count += s->bin[i].count;
		*rest_bytes += s->bin[i].total;
	}
}

static int in_list(struct chunk *bin, struct chunk *p)
{
	for (struct chunk *q = bin->fd; q != bin; q = q->fd)
		if (q == p)
			return 1;
	return 0;
}

static int in_fastbin(struct arena *av, unsigned i, struct chunk *p)
{
	if (i >= NFASTBINS)
		return 0;
	for (struct chunk *q = av->fastbins[i]; q; q = fastbin_next(q))
		if (q == p)
			return 1;
	return 0;
}

static void bin_name(struct out *o, const char *kind, unsigned i)
{
	out_str(o, kind);
	out_str(o, "[");
	out_dec(o, i, 0);
	out_str(o, "]");
}

static void dump_chunk(struct out *o, struct arena *av, struct chunk *p, size_t size)
{
	out_str(o, "  ");
	out_hex(o, (uintptr_t)p, 16);
	out_str(o, "  ");
	out_hex(o, (uintptr_t)chunk2mem(p), 16);
	out_dec(o, size, 12);
	out_str(o, "  ");
	if (p == av->top) {
		out_str(o, "top");
	} else if (size == CHUNK_HDR) {
		out_str(o, "fencepost");
	} else if (chunk_is_cached(p)) {
		out_strw(o, "free", 8);
		if (in_fastbin(av, fastbin_index(size), p))
			bin_name(o, "fast", fastbin_index(size));
		else
			out_str(o, "cached, in no fast bin");
	} else if (inuse_at(p, size)) {
		switch (tcache_holds(p)) {
		case 1:
			out_strw(o, "free", 8);
			out_str(o, "tcache");
			break;
		case 2:
			out_strw(o, "free", 8);
			out_str(o, "tcache (another thread)");
			break;
		default:
			out_str(o, "in-use");
		}
	} else {
		out_strw(o, "free", 8);
		if (in_list(bin_at(av, UNSORTED_BIN), p))
			out_str(o, "unsorted");
		else if (in_smallbin_range(size))
			bin_name(o, "small", smallbin_index(size));
		else
			bin_name(o, "large", largebin_index(size));
	}
	out_str(o, "\n");
}

static void dump_span(struct out *o, struct arena *av, const char *what, char *base, char *end);

static void dump_arena(struct out *o, struct arena *av)
{
	out_str(o, "arena ");
	out_dec(o, av->index, 0);
	out_str(o, av->index ? "" : " (main)");
	out_str(o, ": heap ");
	out_dec(o, av->system_mem, 0);
	out_str(o, " bytes");
	if (av->lost_segs) {
		out_str(o, " (");
		out_dec(o, av->lost_segs, 0);
		out_str(o, " old segments not shown)");
	}
	out_str(o, ", top ");
	out_dec(o, av->top ? chunksize(av->top) : 0, 0);
	out_str(o, " bytes, ");
	out_dec(o, av->attached, 0);
	out_str(o, " threads\n  chunk               mem                         size  state   bin\n");
	if (av->index == 0) {
		for (unsigned s = 0; s < av->nseg; s++)
			dump_span(o, av, "segment", av->seg[s].base, av->seg[s].end);
	} else {
		for (struct heap_info *h = av->heap; h; h = h->prev)
			dump_span(o, av, "heap", h->first, (char *)h + h->size);
	}
}

static void dump_span(struct out *o, struct arena *av, const char *what, char *base, char *end)
{
	struct chunk *p = (struct chunk *)base;

	{
		out_str(o, " ");
		out_str(o, what);
		out_str(o, " ");
		out_hex(o, (uintptr_t)base, 16);
		out_str(o, " - ");
		out_hex(o, (uintptr_t)end, 16);
		out_str(o, "\n");
		while ((char *)p < end) {
			size_t size = chunksize(p);

			if (p == av->top)
				size = (size_t)(end - (char *)p);
			if (size < CHUNK_HDR || size > (size_t)(end - (char *)p)) {
				out_str(o, "  ");
				out_hex(o, (uintptr_t)p, 16);
				out_str(o, "  corrupt chunk size ");
				out_dec(o, chunksize(p), 0);
				out_str(o, ": walk stopped\n");
				break;
			}
			dump_chunk(o, av, p, size);
			if (p == av->top)
				break;
			p = chunk_at(p, size);
		}
	}
}

static void stats_fill(struct heaplab_stats *st);

static void dump_counters(struct out *o)
{
	struct heaplab_stats st;

	stats_fill(&st);
	out_str(o, "mmapped chunks: ");
	out_dec(o, st.mmapped_chunks, 0);
	out_str(o, " (");
	out_dec(o, st.mmapped_bytes, 0);
	out_str(o, " bytes)\n");
	mmapped_dump(o);
	out_str(o, "calls: malloc ");
	out_dec(o, st.malloc_calls, 0);
	out_str(o, " free ");
	out_dec(o, st.free_calls, 0);
	out_str(o, " calloc ");
	out_dec(o, st.calloc_calls, 0);
	out_str(o, " realloc ");
	out_dec(o, st.realloc_calls, 0);
	out_str(o, " memalign ");
	out_dec(o, st.memalign_calls, 0);
	out_str(o, "\nkernel: sbrk ");
	out_dec(o, st.sbrk_calls, 0);
	out_str(o, " mmap ");
	out_dec(o, st.mmap_calls, 0);
	out_str(o, " munmap ");
	out_dec(o, st.munmap_calls, 0);
	out_str(o, " mremap ");
	out_dec(o, st.mremap_calls, 0);
	out_str(o, " madvise ");
	out_dec(o, st.madvise_calls, 0);
	out_str(o, " trims ");
	out_dec(o, st.trims, 0);
	out_str(o, "\nbytes: in-use ");
	out_dec(o, st.in_use_bytes, 0);
	out_str(o, " free ");
	out_dec(o, st.free_bytes, 0);
	out_str(o, " heap ");
	out_dec(o, st.heap_bytes, 0);
	out_str(o, " mapped ");
	out_dec(o, st.mapped_bytes, 0);
	out_str(o, "\nthresholds: mmap ");
	out_dec(o, st.mmap_threshold, 0);
	out_str(o, " trim ");
	out_dec(o, st.trim_threshold, 0);
	out_str(o, " top_pad ");
	out_dec(o, st.top_pad, 0);
	out_str(o, "\n");
}

HL_API void heaplab_dump(int fd)
{
	struct arena *av = &main_arena;
	struct out o;

	hl_ensure_init();
	out_init(&o, fd);
	out_str(&o, "heaplab heap dump, pid ");
	out_dec(&o, (uint64_t)getpid(), 0);
	out_str(&o, "\n");
	for (; av; av = av->next) {
		arena_lock(av);
		dump_arena(&o, av);
		arena_unlock(av);
	}
	dump_counters(&o);
	out_flush(&o);
}

/* Free memory and heap sizes summed over every arena. */
static void all_arenas(size_t *fast_count, size_t *fast_bytes, size_t *rest_count,
		       size_t *rest_bytes, size_t *top, size_t *system, size_t *max_system)
{
	struct arena_snap s;
	size_t fc, fb, rc, rb;

	*fast_count = *fast_bytes = *rest_count = *rest_bytes = *top = *system = *max_system = 0;
	for (struct arena *av = &main_arena; av; av = av->next) {
		arena_lock(av);
		snapshot(av, &s);
		arena_unlock(av);
		snap_totals(&s, &fc, &fb, &rc, &rb);
		*fast_count += fc;
		*fast_bytes += fb;
		*rest_count += rc + 1;	/* top counts as one, as in glibc */
		*rest_bytes += rb + s.top;
		*top += s.top;
		*system += s.system_mem;
		*max_system += s.max_system_mem;
	}
}

static void stats_fill(struct heaplab_stats *st)
{
	size_t fc, fb, rc, rb, top, sys, maxsys;
	struct hl_calls c;

	hl_ensure_init();
	all_arenas(&fc, &fb, &rc, &rb, &top, &sys, &maxsys);
	tcache_sum_calls(&c);
	*st = (struct heaplab_stats){
		.version = HEAPLAB_STATS_VERSION,
		.arenas = narenas,
		.heaps = hl_count.heaps,
		.malloc_calls = c.malloc,
		.free_calls = c.free,
		.calloc_calls = c.calloc,
		.realloc_calls = c.realloc,
		.memalign_calls = c.memalign,
		.sbrk_calls = hl_count.sbrk,
		.mmap_calls = hl_count.mmap,
		.munmap_calls = hl_count.munmap,
		.mremap_calls = hl_count.mremap,
		.madvise_calls = hl_count.madvise,
		.mprotect_calls = hl_count.mprotect,
		.heap_grows = hl_count.heap_grows,
		.trims = hl_count.trims,
		.in_use_bytes = (uint64_t)c.in_use,
		.heap_bytes = sys,
		.max_heap_bytes = maxsys,
		.mmapped_chunks = (uint64_t)hl_count.mmapped_chunks,
		.mmapped_bytes = (uint64_t)hl_count.mmapped_bytes,
		.max_mmapped_bytes = hl_count.max_mmapped_bytes,
		.mapped_bytes = sys + (uint64_t)hl_count.mmapped_bytes,
		.free_bytes = fb + rb,
		.fast_bytes = fb,
		.top_bytes = top,
		.mmap_threshold = mp.mmap_threshold,
		.trim_threshold = mp.trim_threshold,
		.top_pad = mp.top_pad,
	};
}

HL_API int heaplab_stats(struct heaplab_stats *st)
{
	stats_fill(st);
	return 0;
}

HL_API struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };
	size_t fc, fb, rc, rb, top, sys, maxsys;

	hl_ensure_init();
	all_arenas(&fc, &fb, &rc, &rb, &top, &sys, &maxsys);
	mi.arena = sys;
	mi.ordblks = rc;
	mi.smblks = fc;
	mi.hblks = (size_t)hl_count.mmapped_chunks;
	mi.hblkhd = (size_t)hl_count.mmapped_bytes;
	mi.usmblks = 0;
	mi.fsmblks = fb;
	mi.fordblks = fb + rb;
	mi.uordblks = sys - mi.fordblks;
	mi.keepcost = main_arena.top ? chunksize(main_arena.top) : 0;
	return mi;
}

HL_API struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi;

	/* The old int fields wrap, as glibc's do. */
	mi.arena = (int)m2.arena;
	mi.ordblks = (int)m2.ordblks;
	mi.smblks = (int)m2.smblks;
	mi.hblks = (int)m2.hblks;
	mi.hblkhd = (int)m2.hblkhd;
	mi.usmblks = (int)m2.usmblks;
	mi.fsmblks = (int)m2.fsmblks;
	mi.uordblks = (int)m2.uordblks;
	mi.fordblks = (int)m2.fordblks;
	mi.keepcost = (int)m2.keepcost;
	return mi;
}

static void stat_line(struct out *o, const char *label, uint64_t v)
{
	out_str(o, label);
	out_dec(o, v, 10);
	out_str(o, "\n");
}

/* glibc's format, on stderr. */
HL_API void malloc_stats(void)
{
	struct mallinfo2 mi = mallinfo2();
	struct out o;

	out_init(&o, 2);
	for (struct arena *av = &main_arena; av; av = av->next) {
		struct arena_snap s;
		size_t fc, fb, rc, rb;

		arena_lock(av);
		snapshot(av, &s);
		arena_unlock(av);
		snap_totals(&s, &fc, &fb, &rc, &rb);
		out_str(&o, "Arena ");
		out_dec(&o, av->index, 0);
		out_str(&o, ":\n");
		stat_line(&o, "system bytes     = ", s.system_mem);
		stat_line(&o, "in use bytes     = ", s.system_mem - fb - rb - s.top);
	}
	out_str(&o, "Total (incl. mmap):\n");
	stat_line(&o, "system bytes     = ", mi.arena + mi.hblkhd);
	stat_line(&o, "in use bytes     = ", mi.uordblks + mi.hblkhd);
	stat_line(&o, "max mmap regions = ", hl_count.max_mmapped_chunks);
	stat_line(&o, "max mmap bytes   = ", hl_count.max_mmapped_bytes);
	out_flush(&o);
}

/* One <heap> element of malloc_info. */
static void info_heap(FILE *fp, unsigned nr, const struct arena_snap *s)
{
	size_t fc, fb, rc, rb;

	snap_totals(s, &fc, &fb, &rc, &rb);
	fprintf(fp, "<heap nr=\"%u\">\n<sizes>\n", nr);
	for (unsigned i = 0; i < NFASTBINS; i++) {
		size_t size = (i + 2) * MALLOC_ALIGNMENT;

		if (s->fast[i].count)
			fprintf(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
				size - MALLOC_ALIGN_MASK, size, s->fast[i].total, s->fast[i].count);
	}
	for (unsigned i = 2; i < NBINS; i++)
		if (s->bin[i].count)
			fprintf(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
				s->bin[i].min, s->bin[i].max, s->bin[i].total, s->bin[i].count);
	if (s->bin[UNSORTED_BIN].count)
		fprintf(fp, "  <unsorted from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
			s->bin[UNSORTED_BIN].min, s->bin[UNSORTED_BIN].max,
			s->bin[UNSORTED_BIN].total, s->bin[UNSORTED_BIN].count);
	fprintf(fp, "</sizes>\n<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
		"<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
		"<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
		"<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
		"</heap>\n",
		fc, fb, rc + 1, rb + s->top, s->system_mem, s->max_system_mem,
		s->system_mem, s->system_mem);
}

/* glibc's XML: one <heap> per arena, then the totals. */
HL_API int malloc_info(int options, FILE *fp)
{
	size_t fc, fb, rc, rb, top, sys, maxsys;

	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	hl_ensure_init();
	fputs("<malloc version=\"1\">\n", fp);
	for (struct arena *av = &main_arena; av; av = av->next) {
		struct arena_snap s;

		arena_lock(av);
		snapshot(av, &s);
		arena_unlock(av);
		/* Printed without the lock: fprintf may call malloc. */
		info_heap(fp, av->index, &s);
	}
	all_arenas(&fc, &fb, &rc, &rb, &top, &sys, &maxsys);
	fprintf(fp, "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
		"<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
		"<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
		"<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
		"<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
		"</malloc>\n",
		fc, fb, rc, rb, (size_t)hl_count.mmapped_chunks, (size_t)hl_count.mmapped_bytes,
		sys, maxsys, sys, sys);
	return 0;
}

/*
 * HEAPLAB_OPTIONS=dump_at_exit=1: the dump on stderr as the program ends.
 * Many programs close stderr on their way out (coreutils do), so a copy of
 * it is taken at start-up, high and close-on-exec, and written to instead.
 */
static int exit_fd = -1;

void dump_at_exit_setup(void)
{
	if (mp.dump_at_exit)
		exit_fd = fcntl(2, F_DUPFD_CLOEXEC, 200);
}

static void __attribute__((destructor)) dump_at_exit_hook(void)
{
	if (mp.initialized && mp.dump_at_exit)
		heaplab_dump(exit_fd >= 0 ? exit_fd : 2);
}
