// SPDX-License-Identifier: MIT
/*
 * phaseprobe — the small allocation patterns of the phase experiments, run
 * with an allocator preloaded, one pattern per process:
 *
 *	phaseprobe loop N SIZE		N times malloc(SIZE) and free it:
 *					"sample I BYTES", the footprint
 *					after iteration I (16 samples)
 *	phaseprobe magic SIZE		p = malloc(SIZE): the six words
 *					before p ("word -8 VALUE" ...),
 *					then again after free(p)
 *	phaseprobe align		thousands of pointers of every size
 *					and alignment: how many were checked,
 *					how many misaligned
 *	phaseprobe fragment N SIZE REQ	N blocks of SIZE, free the even
 *					ones, malloc(REQ), then malloc(SIZE)
 *	phaseprobe split BIG SMALL	free a BIG block, malloc(SMALL)
 *	phaseprobe coalesce SIZE	A, B, C of SIZE; free B, then A
 *
 * The last three print the heap walk of the teaching allocators
 * ("chunk LABEL ADDR SIZE STATE MAGIC", the experiment's chunks only:
 * those from its first block on) and their counters around each step.
 * Output is "KEY VALUE" lines written with write(2): stdio would allocate
 * from the heap under study.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/targets/footprint.h"

#define MAX_CHUNKS 4096

static void *volatile blocks[512];
static struct heaplab_chunk walk_buf[MAX_CHUNKS];
static struct heaplab_phase_stats st;

static const char *state_name(uint32_t s)
{
	return s == HEAPLAB_CHUNK_FREE ? "free" :
	       s == HEAPLAB_CHUNK_MMAPPED ? "mmapped" : "used";
}

/*
 * The chunks from LO on, labelled; "list LABEL TOTAL BEFORE": how many
 * chunks the whole list holds and how many lie before LO (made by the
 * loader and libc before the experiment started).
 */
static void walk(const char *label, uintptr_t lo)
{
	size_t n = phase_walk(walk_buf, MAX_CHUNKS), before = 0;
	char line[160];

	for (size_t i = 0; i < n && i < MAX_CHUNKS; i++) {
		const struct heaplab_chunk *c = &walk_buf[i];

		if (c->addr < lo) {
			before++;
			continue;
		}
		out_line(line, snprintf(line, sizeof(line),
					"chunk %s %llu %llu %s %d\n", label,
					(unsigned long long)c->addr,
					(unsigned long long)c->size,
					state_name(c->state), c->magic));
	}
	out_line(line, snprintf(line, sizeof(line), "list %s %zu %zu\n", label,
				n, before));
}

static void stats(const char *label)
{
	char key[64];

	phase_stats(&st);
#define S(f) snprintf(key, sizeof(key), "%s_" #f, label), report(key, st.f)
	S(sbrk_calls);
	S(heap_size);
	S(searches);
	S(last_traversed);
	S(splits);
	S(merges);
#undef S
}

static int need_walk(void)
{
	report("walk", phase_walk && phase_stats);
	return phase_walk && phase_stats;
}

static void probe_loop(long n, size_t size)
{
	struct footprint f;
	long every = n / 16 > 0 ? n / 16 : 1;

	footprint_start(&f);
	for (long i = 1; i <= n; i++) {
		char *p = malloc(size);

		if (!p)
			_exit(4);
		p[0] = (char)i;
		blocks[0] = p;
		free(p);
		if (i == 1 || i % every == 0)
			report2("sample", i, footprint_sample(&f));
	}
}

/*
 * The six words before P, read through /proc/self/mem: a word below the
 * start of the heap is not mapped, and a freed block may be unmapped.
 */
static void words(const char *label, uintptr_t p)
{
	int fd = open("/proc/self/mem", O_RDONLY);
	char line[128];

	for (int off = 8; off <= 48; off += 8) {
		uint64_t w;

		if (pread(fd, &w, 8, (off_t)(p - off)) != 8)
			continue;
		out_line(line, snprintf(line, sizeof(line), "%s -%d %llu\n",
					label, off, (unsigned long long)w));
	}
	close(fd);
}

static void probe_magic(size_t size)
{
	uintptr_t at;
	char *p;

	blocks[0] = malloc(size);		/* a neighbour before p */
	p = malloc(size);
	if (!p || !blocks[0])
		_exit(4);
	memset(p, 0x5a, size);
	report("ptr", (uintptr_t)p);
	report("usable", malloc_usable_size(p));
	words("word", (uintptr_t)p);
	if (phase_walk) {
		size_t n = phase_walk(walk_buf, MAX_CHUNKS);

		for (size_t i = 0; i < n && i < MAX_CHUNKS; i++)
			if (walk_buf[i].addr == (uintptr_t)p)
				report("walk_magic", walk_buf[i].magic);
	}
	at = (uintptr_t)p;
	free(p);
	words("freed", at);
}

/*
 * Misaligned pointers: the first is named, all are counted. What malloc
 * owes a request of SIZE is the alignment of any type that fits in it:
 * 16 bytes (max_align_t) from 16 B up, the largest power of two not above
 * SIZE below that (jemalloc gives 8-byte blocks 8-byte alignment). Pointers
 * short of 16 are counted apart.
 */
static long checked, misaligned, below16;
static uintptr_t all_bits;

static size_t owed(size_t size, size_t align)
{
	size_t a = 1;

	if (align != 16)
		return align;
	while (a < 16 && a * 2 <= size)
		a *= 2;
	return a;
}

static void check(const char *call, void *p, size_t size, size_t align)
{
	checked++;
	if (!p)
		_exit(4);
	all_bits |= (uintptr_t)p;
	below16 += ((uintptr_t)p & 15) != 0;
	align = owed(size, align);
	if ((uintptr_t)p & (align - 1)) {
		if (!misaligned) {
			char line[128];

			out_line(line, snprintf(line, sizeof(line),
				 "first_misaligned %s %zu %zu %p\n", call,
				 size, align, p));
		}
		misaligned++;
	}
}

static int same_object(void *f, void *g)
{
	Dl_info a, b;

	return dladdr(f, &a) && dladdr(g, &b) && a.dli_fbase == b.dli_fbase;
}

static void probe_align(void)
{
	static const size_t sizes[] = { 1, 100, 5000 };
	size_t page = getpagesize();
	void *keep[4];

	/* Every size to 1 KiB, four at a time, then bigger ones. */
	for (size_t s = 1; s <= 1024; s++) {
		for (int i = 0; i < 4; i++)
			check("malloc", keep[i] = malloc(s), s, 16);
		for (int i = 0; i < 4; i++)
			free(keep[i]);
	}
	for (size_t s = 1025; s <= 300000; s = s * 5 / 4 + 7) {
		check("malloc", keep[0] = malloc(s), s, 16);
		check("calloc", keep[1] = calloc(1, s), s, 16);
		free(keep[0]);
		free(keep[1]);
	}
	keep[0] = NULL;
	for (size_t s = 8; s <= 70000; s = s * 2 + 8) {
		keep[0] = realloc(keep[0], s);
		check("realloc", keep[0], s, 16);
	}
	free(keep[0]);
	for (size_t a = 32; a <= 8192; a *= 2) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
			size_t s = sizes[i];
			size_t whole = (s + a - 1) & ~(a - 1);

			check("memalign", keep[0] = memalign(a, s), s, a);
			check("aligned_alloc", keep[1] =
			      aligned_alloc(a, whole), whole, a);
			if (posix_memalign(&keep[2], a, s))
				_exit(4);
			check("posix_memalign", keep[2], s, a);
			for (int k = 0; k < 3; k++)
				free(keep[k]);
		}
	}
	check("valloc", keep[0] = valloc(100), 100, page);
	free(keep[0]);
	/*
	 * An allocator without its own pvalloc leaves glibc's, which hands
	 * out glibc's memory: freeing that into the allocator would crash.
	 */
	if (same_object(pvalloc, malloc)) {
		check("pvalloc", keep[1] = pvalloc(100), 100, page);
		free(keep[1]);
	} else {
		report("pvalloc_missing", 1);
	}
	report("checked", checked);
	report("misaligned", misaligned);
	report("below_16", below16);
	/* The largest power of two dividing every pointer seen. */
	report("common_alignment", all_bits ? all_bits & -all_bits : 0);
}

static void probe_fragment(int n, size_t size, size_t req)
{
	uintptr_t lo;

	if (!need_walk() || n < 2 || n > 512)
		return;
	for (int i = 0; i < n; i++)
		blocks[i] = malloc(size);
	lo = (uintptr_t)blocks[0];
	for (int i = 0; i < n; i += 2)
		free(blocks[i]);
	report("fit", (phase_stats(&st), st.fit));
	stats("holes");
	walk("holes", lo);
	blocks[n] = malloc(req);
	report("req_ptr", (uintptr_t)blocks[n]);
	stats("req");
	walk("req", lo);
	blocks[n + 1] = malloc(size);
	report("again_ptr", (uintptr_t)blocks[n + 1]);
	stats("again");
}

static void probe_split(size_t big, size_t small)
{
	uintptr_t lo;

	if (!need_walk())
		return;
	blocks[0] = malloc(big);
	blocks[1] = malloc(16);			/* keeps it off the end */
	lo = (uintptr_t)blocks[0];
	free(blocks[0]);
	stats("before");
	walk("before", lo);
	blocks[2] = malloc(small);
	report("small_ptr", (uintptr_t)blocks[2]);
	report("big_ptr", lo);
	stats("after");
	walk("after", lo);
}

static void probe_coalesce(size_t size)
{
	uintptr_t lo;

	if (!need_walk())
		return;
	for (int i = 0; i < 4; i++)		/* A, B, C and a fence */
		blocks[i] = malloc(size);
	lo = (uintptr_t)blocks[0];
	for (int i = 0; i < 3; i++)
		report(i == 0 ? "A" : i == 1 ? "B" : "C", (uintptr_t)blocks[i]);
	stats("start");
	walk("start", lo);
	free(blocks[1]);
	stats("freeB");
	walk("freeB", lo);
	free(blocks[0]);
	stats("freeA");
	walk("freeA", lo);
}

int main(int argc, char **argv)
{
	long a1 = argc > 2 ? strtol(argv[2], NULL, 0) : 0;
	long a2 = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
	long a3 = argc > 4 ? strtol(argv[4], NULL, 0) : 0;

	if (argc < 2)
		return 2;
	phase_lookup();
	if (!strcmp(argv[1], "loop") && a1 > 0 && a2 > 0)
		probe_loop(a1, a2);
	else if (!strcmp(argv[1], "magic") && a1 > 0)
		probe_magic(a1);
	else if (!strcmp(argv[1], "align"))
		probe_align();
	else if (!strcmp(argv[1], "fragment") && a1 > 0 && a2 > 0 && a3 > 0)
		probe_fragment(a1, a2, a3);
	else if (!strcmp(argv[1], "split") && a1 > 0 && a2 > 0)
		probe_split(a1, a2);
	else if (!strcmp(argv[1], "coalesce") && a1 > 0)
		probe_coalesce(a1);
	else
		return 2;
	return 0;
}
