// SPDX-License-Identifier: MIT
/*
 * api.c — the malloc family's contract, checked with libheaplab.so
 * preloaded: alignment, usable sizes, zeroing, realloc keeping contents,
 * the memalign family's edge cases and error codes, ENOMEM, errno.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

#define ALIGNED(p, a) (((uintptr_t)(p) & ((a) - 1)) == 0)

static int pattern_ok(const unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 7))
			return 0;
	return 1;
}

static void pattern_fill(unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_heaplab_is_active(void)
{
	struct heaplab_stats a = stats(), b;
	void *p = malloc(10);

	b = stats();
	ok(b.malloc_calls > a.malloc_calls, "malloc goes to libheaplab (counter moved)");
	ok(dlsym(RTLD_DEFAULT, "__libc_malloc") == dlsym(RTLD_DEFAULT, "malloc") &&
	   dlsym(RTLD_DEFAULT, "__libc_free") == dlsym(RTLD_DEFAULT, "free") &&
	   dlsym(RTLD_DEFAULT, "__libc_calloc") == dlsym(RTLD_DEFAULT, "calloc") &&
	   dlsym(RTLD_DEFAULT, "__libc_realloc") == dlsym(RTLD_DEFAULT, "realloc") &&
	   dlsym(RTLD_DEFAULT, "__libc_memalign") == dlsym(RTLD_DEFAULT, "memalign") &&
	   dlsym(RTLD_DEFAULT, "__libc_valloc") == dlsym(RTLD_DEFAULT, "valloc") &&
	   dlsym(RTLD_DEFAULT, "__libc_pvalloc") == dlsym(RTLD_DEFAULT, "pvalloc"),
	   "the __libc_* names resolve to libheaplab's functions");
	free(p);
}

/* Every size 0..4096 live at once: aligned, big enough, not overlapping. */
static void test_small_sizes(void)
{
	static unsigned char *ptrs[4097];
	int bad_align = 0, bad_usable = 0, bad_content = 0;

	for (size_t n = 0; n <= 4096; n++) {
		ptrs[n] = malloc(n);
		if (!ptrs[n] || !ALIGNED(ptrs[n], 16))
			bad_align++;
		else if (malloc_usable_size(ptrs[n]) < n)
			bad_usable++;
		else
			pattern_fill(ptrs[n], n, (unsigned char)n);
	}
	for (size_t n = 0; n <= 4096; n++)
		if (ptrs[n] && !pattern_ok(ptrs[n], n, (unsigned char)n))
			bad_content++;
	ok(!bad_align, "malloc(0..4096): 16-byte aligned (%d bad)", bad_align);
	ok(!bad_usable, "malloc(0..4096): usable size >= request (%d bad)", bad_usable);
	ok(!bad_content, "malloc(0..4096): all live at once without overlap (%d bad)", bad_content);
	for (size_t n = 0; n <= 4096; n++)
		free(ptrs[n]);
}

static void test_powers_of_two(void)
{
	int bad = 0, badc = 0;

	for (int k = 0; k <= 26; k++) {
		size_t n = (size_t)1 << k;
		unsigned char *p = malloc(n), *c = calloc(1, n);

		if (!p || !ALIGNED(p, 16) || malloc_usable_size(p) < n)
			bad++;
		else
			p[0] = p[n - 1] = 1;
		if (!c || !ALIGNED(c, 16) || malloc_usable_size(c) < n || !all_zero(c, n))
			badc++;
		free(p);
		free(c);
	}
	ok(!bad, "malloc(2^0..2^26): aligned, usable >= request");
	ok(!badc, "calloc(2^0..2^26): aligned, usable >= request, zeroed");
}

static void test_zero_and_failure(void)
{
	void *a = malloc(0), *b = malloc(0), *p;
	int e;

	ok(a && b && a != b, "malloc(0) returns unique pointers");
	free(a);
	free(b);
	errno = 0;
	p = malloc(SIZE_MAX);
	e = errno;
	ok(!p && e == ENOMEM, "malloc(SIZE_MAX): NULL, ENOMEM");
	errno = 0;
	p = malloc(PTRDIFF_MAX);
	e = errno;
	ok(!p && e == ENOMEM, "malloc(PTRDIFF_MAX): NULL, ENOMEM");
	errno = 0;
	p = malloc((size_t)64 << 40);
	e = errno;
	ok(!p && e == ENOMEM, "malloc(64 TiB), which the kernel cannot back: NULL, ENOMEM");
	free(p);
	errno = 0;
	p = calloc(SIZE_MAX / 2, 3);
	e = errno;
	ok(!p && e == ENOMEM, "calloc overflow: NULL, ENOMEM");
	errno = 0;
	p = calloc((size_t)1 << 33, (size_t)1 << 31);
	e = errno;
	ok(!p && e == ENOMEM, "calloc 2^33 x 2^31 overflow: NULL, ENOMEM");
	p = calloc(0, 10);
	ok(p != NULL, "calloc(0, 10) returns a pointer");
	free(p);
}

static void test_calloc_reuse(void)
{
	int bad = 0;

	/* Dirty chunks, free them, calloc the same sizes: must come back zero. */
	for (size_t n = 1; n < 3000; n += 37) {
		unsigned char *p = malloc(n), *q;

		memset(p, 0xa5, n);
		free(p);
		q = calloc(n, 1);
		if (!q || !all_zero(q, n))
			bad++;
		free(q);
	}
	ok(!bad, "calloc zeroes reused chunks (%d bad)", bad);
	{
		unsigned char *p = malloc(300000), *q;

		memset(p, 0x5a, 300000);
		free(p);
		q = calloc(300000, 1);
		ok(q && all_zero(q, 300000), "calloc zeroes an mmap-sized request");
		free(q);
	}
}

/* calloc of a fresh mapping does not touch its pages. */
static void test_calloc_untouched(void)
{
	size_t len = 64 << 20, pages, resident = 0;
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char *p = calloc(1, len), *start, *vec;

	start = (unsigned char *)(((uintptr_t)p + 2 * ps) & ~(uintptr_t)(ps - 1));
	pages = (len - 3 * (size_t)ps) / (size_t)ps;
	vec = malloc(pages);
	if (p && vec && mincore(start, pages * (size_t)ps, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			resident += vec[i] & 1;
	ok(p && resident == 0, "calloc(64 MiB) leaves the fresh mapping untouched (%zu pages resident)",
	   resident);
	free(vec);
	free(p);
}

static void test_realloc(void)
{
	unsigned char *p = malloc(100), *q;
	size_t sizes[] = { 200, 50, 5000, 100000, 300000, 2 << 20, 8 << 20, 1000, 40, 1 };
	size_t prev = 100;
	int bad = 0;

	pattern_fill(p, 100, 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t keep = prev < sizes[i] ? prev : sizes[i];

		q = realloc(p, sizes[i]);
		if (!q || !ALIGNED(q, 16) || !pattern_ok(q, keep, 3) ||
		    malloc_usable_size(q) < sizes[i]) {
			bad++;
			diag("realloc(%zu -> %zu) lost data or alignment", prev, sizes[i]);
		}
		if (q) {
			pattern_fill(q, sizes[i], 3);
			p = q;
			prev = sizes[i];
		}
	}
	ok(!bad, "realloc through small, large and mmapped sizes keeps the contents");

	{
		unsigned char *h = malloc(500), *h2;

		pattern_fill(h, 500, 5);
		h2 = realloc(h, 100);
		ok(h2 == h && pattern_ok(h2, 100, 5), "realloc shrinking a heap chunk stays in place");
		free(h2);
	}
	errno = 0;
	q = realloc(p, SIZE_MAX);
	ok(!q && errno == ENOMEM && pattern_ok(p, 1, 3), "realloc(p, SIZE_MAX): NULL, ENOMEM, p intact");
	errno = 0;
	q = reallocarray(p, SIZE_MAX / 4, 8);
	ok(!q && errno == ENOMEM && pattern_ok(p, 1, 3), "reallocarray overflow: NULL, ENOMEM, p intact");
	q = reallocarray(p, 100, 10);
	ok(q && pattern_ok(q, 1, 3) && malloc_usable_size(q) >= 1000, "reallocarray(p, 100, 10) works");
	p = q;
	q = realloc(p, 0);
	ok(q == NULL, "realloc(p, 0) frees and returns NULL");
	q = realloc(NULL, 77);
	ok(q && malloc_usable_size(q) >= 77, "realloc(NULL, n) allocates");
	free(q);

	/* Move: a chunk boxed in by a live neighbour must move to grow. */
	p = malloc(200);
	pattern_fill(p, 200, 9);
	q = malloc(200);
	{
		unsigned char *r = realloc(p, 4000);

		ok(r && r != p && pattern_ok(r, 200, 9), "realloc moves a boxed-in chunk, keeping contents");
		free(r);
	}
	free(q);

	/* mremap: growing an mmapped chunk keeps it mapped and the data intact. */
	{
		struct heaplab_stats a, b;
		/* Above the 32 MiB cap of the dynamic threshold: surely mmapped. */
		unsigned char *m = malloc(40 << 20), *r;

		pattern_fill(m, 40 << 20, 1);
		a = stats();
		r = realloc(m, 48 << 20);
		b = stats();
		ok(r && pattern_ok(r, 40 << 20, 1) && b.mremap_calls == a.mremap_calls + 1,
		   "realloc of an mmapped chunk uses mremap and keeps the data");
		free(r);
	}
}

static void test_memalign_family(void)
{
	int bad = 0;
	size_t sizes[] = { 0, 1, 100, 5000, 200000 };

	for (size_t a = 1; a <= (1 << 20); a <<= 1) {
		for (size_t i = 0; i < 5; i++) {
			void *p = memalign(a, sizes[i]), *q = aligned_alloc(a, sizes[i]), *r = NULL;
			int rc = a >= sizeof(void *) ? posix_memalign(&r, a, sizes[i]) : 0;

			if (!p || !ALIGNED(p, a) || malloc_usable_size(p) < sizes[i] ||
			    !q || !ALIGNED(q, a) || malloc_usable_size(q) < sizes[i] ||
			    (a >= sizeof(void *) && (rc || !r || !ALIGNED(r, a) ||
						     malloc_usable_size(r) < sizes[i]))) {
				bad++;
				diag("align %zu size %zu failed", a, sizes[i]);
			}
			if (p)
				memset(p, 1, sizes[i]);
			free(p);
			free(q);
			free(r);
		}
	}
	ok(!bad, "memalign/aligned_alloc/posix_memalign: alignments 1..1 MiB, sizes 0..200000");

	{
		void *p = memalign(48, 10);	/* rounded up to 64, as glibc */

		ok(p && ALIGNED(p, 64), "memalign(48) rounds the alignment up to 64");
		free(p);
	}
	{
		void *p = (void *)0x1234;
		size_t bad_aligns[] = { 0, 3, 4, 12, 24, 40, 4097 };
		int wrong = 0;

		for (size_t i = 0; i < sizeof(bad_aligns) / sizeof(bad_aligns[0]); i++)
			if (posix_memalign(&p, bad_aligns[i], 10) != EINVAL || p != (void *)0x1234)
				wrong++;
		ok(!wrong, "posix_memalign: EINVAL for bad alignments, *memptr untouched");
		errno = 0;
		ok(posix_memalign(&p, 64, SIZE_MAX - 100) == ENOMEM && p == (void *)0x1234,
		   "posix_memalign: ENOMEM for a huge size, *memptr untouched");
		errno = 0;
		p = aligned_alloc(24, 10);
		ok(!p && errno == EINVAL, "aligned_alloc(24): NULL, EINVAL");
		errno = 0;
		p = aligned_alloc(0, 10);
		ok(!p && errno == EINVAL, "aligned_alloc(0): NULL, EINVAL");
		errno = 0;
		p = memalign(SIZE_MAX / 2 + 2, 10);
		ok(!p && errno == EINVAL, "memalign(alignment > SIZE_MAX/2+1): NULL, EINVAL");
		errno = 0;
		p = memalign(64, SIZE_MAX - 10);
		ok(!p && errno == ENOMEM, "memalign(64, SIZE_MAX - 10): NULL, ENOMEM");
	}
	{
		long ps = sysconf(_SC_PAGESIZE);
		void *v = valloc(1), *pv = pvalloc(1), *pz = pvalloc(0);

		ok(v && ALIGNED(v, (size_t)ps), "valloc is page aligned");
		ok(pv && ALIGNED(pv, (size_t)ps) && malloc_usable_size(pv) >= (size_t)ps,
		   "pvalloc(1): page aligned, a whole page usable");
		ok(pz && malloc_usable_size(pz) >= (size_t)ps, "pvalloc(0): a whole page");
		free(v);
		free(pv);
		free(pz);
		errno = 0;
		v = pvalloc(SIZE_MAX - 10);
		ok(!v && errno == ENOMEM, "pvalloc(SIZE_MAX - 10): NULL, ENOMEM");
	}
}

static void test_errno_and_misc(void)
{
	void *p = malloc(100), *m = malloc(1 << 20);
	struct mallinfo2 mi;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	errno = 1234;
	free(p);
	ok(errno == 1234, "free preserves errno (heap chunk)");
	errno = 4321;
	free(m);
	ok(errno == 4321, "free preserves errno (mmapped chunk)");
	errno = 99;
	free(NULL);
	ok(errno == 99, "free(NULL) does nothing");
	ok(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is 0");

	p = malloc(1000);
	m = malloc(40 << 20);
	mi = mallinfo2();
	ok(mi.arena > 0 && mi.uordblks >= 1000 && mi.hblks >= 1 && mi.hblkhd >= (40 << 20),
	   "mallinfo2 sees the heap chunk and the mmapped one");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	ok(mallinfo().arena == (int)mi.arena, "mallinfo agrees with mallinfo2");
#pragma GCC diagnostic pop
	f = open_memstream(&buf, &len);
	ok(malloc_info(0, f) == 0, "malloc_info returns 0");
	fclose(f);
	ok(buf && strncmp(buf, "<malloc version=\"1\">", 20) == 0 && strstr(buf, "</malloc>") &&
	   strstr(buf, "<total type=\"mmap\" count=\""), "malloc_info writes glibc's XML");
	free(buf);
	errno = 0;
	ok(malloc_info(1, stdout) == -1 && errno == EINVAL, "malloc_info(1, ...): EINVAL");
	free(p);
	free(m);

	ok(mallopt(M_MMAP_THRESHOLD, 64 << 20) == 0, "mallopt: M_MMAP_THRESHOLD above 32 MiB refused");
	ok(mallopt(M_MMAP_THRESHOLD, 256 << 10) == 1 && stats().mmap_threshold == 256 << 10,
	   "mallopt: M_MMAP_THRESHOLD set");
	ok(mallopt(M_TOP_PAD, 64 << 10) == 1 && stats().top_pad == 64 << 10, "mallopt: M_TOP_PAD set");
	ok(mallopt(M_TRIM_THRESHOLD, 512 << 10) == 1 && stats().trim_threshold == 512 << 10,
	   "mallopt: M_TRIM_THRESHOLD set");
	ok(mallopt(M_MMAP_MAX, 1000) == 1, "mallopt: M_MMAP_MAX accepted");
	ok(mallopt(M_ARENA_MAX, 4) == 1, "mallopt: M_ARENA_MAX accepted");
	ok(mallopt(M_MXFAST, 1000) == 0, "mallopt: M_MXFAST above 160 refused");
	ok(mallopt(12345, 1) == 0, "mallopt: an unknown parameter refused");
	{
		int pipefd[2], saved = dup(2);
		char out[1024] = "";
		ssize_t n;

		if (pipe(pipefd) == 0) {
			dup2(pipefd[1], 2);
			malloc_stats();
			dup2(saved, 2);
			close(pipefd[1]);
			n = read(pipefd[0], out, sizeof(out) - 1);
			out[n > 0 ? n : 0] = '\0';
			close(pipefd[0]);
		}
		ok(strstr(out, "Arena 0:\nsystem bytes     = ") && strstr(out, "max mmap regions = "),
		   "malloc_stats prints glibc's report on stderr");
	}
}

static void *memalign_1m(void *arg)
{
	(void)arg;
	return memalign(1 << 20, 3000);
}

/* Many mapped chunks, more than the registry holds, freed in random order. */
static void test_many_mmapped(void)
{
	enum { N = 13000 };
	static char *p[N];
	struct heaplab_stats a = stats(), b;
	unsigned seed = 99;
	int bad = 0;

	mallopt(M_MMAP_THRESHOLD, 4096);
	{
		/* Below the threshold, but aligning it needs more than a fresh
		 * arena's top: the over-allocation is mapped and the chunk
		 * starts inside it. */
		pthread_t t;
		void *m;

		pthread_create(&t, NULL, memalign_1m, NULL);
		pthread_join(t, &m);
		ok(m && ALIGNED(m, 1 << 20) && stats().mmapped_chunks == a.mmapped_chunks + 1,
		   "memalign(1 MiB, 3000) with the threshold at 4 KiB: an aligned chunk in a mapping");
		free(m);
		ok(stats().mmapped_chunks == a.mmapped_chunks, "... which free unmaps");
	}
	malloc_trim(0);
	for (int i = 0; i < N; i++) {
		p[i] = malloc(200000);	/* more than top holds: a mapping */
		if (!p[i])
			bad++;
		else
			p[i][199999] = (char)i;
	}
	b = stats();
	for (int i = N - 1; i > 0; i--) {
		int j = (int)((seed = seed * 1103515245 + 12345) >> 8) % (i + 1);
		char *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	/* Those that top could still serve came from the heap. */
	ok(!bad && b.mmapped_chunks > a.mmapped_chunks + 12288,
	   "requests above the threshold get mappings: %llu at once, more than the registry's 12288",
	   (unsigned long long)(b.mmapped_chunks - a.mmapped_chunks));
	ok(stats().mmapped_chunks == a.mmapped_chunks, "freed in random order, all are unmapped");

	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/*
 * Heap chunks whose user data is at offset 0 or 16 of a page, where a
 * mapping's may be, in the main arena and in a thread's: free, realloc and
 * malloc_usable_size vet such pointers first and must still take them.
 */
static void *chunks_at_mapping_offset(void *arg)
{
	enum { N = 4000 };
	static __thread char *p[N];
	unsigned seed = 7;
	int found = 0, bad = 0;

	(void)arg;
	for (int i = 0; i < N; i++) {
		size_t n = 16 + ((seed = seed * 1103515245 + 12345) >> 16) % 1000;

		p[i] = malloc(n);
		if (((uintptr_t)p[i] & 4095) < 32) {
			found++;
			if (malloc_usable_size(p[i]) < n)
				bad++;
			p[i] = realloc(p[i], 3000);	/* moves: frees the old one */
			if (!p[i] || malloc_usable_size(p[i]) < 3000)
				bad++;
		}
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	return (void *)(intptr_t)(found && !bad ? found : -1);
}

static void test_chunks_at_mapping_offset(void)
{
	intptr_t found = (intptr_t)chunks_at_mapping_offset(NULL);
	char *m;

	ok(found > 0, "main arena: %ld chunks at page offset 0 or 16 sized, reallocated and freed",
	   (long)found);
	m = malloc(48 << 20);	/* more than top holds, and than the threshold */
	ok(m && ((uintptr_t)m & 4095) == 16 && malloc_usable_size(m) >= 48 << 20,
	   "a mapped chunk starts at page offset 16");
	free(m);
	ok(malloc_usable_size(m) == 0, "malloc_usable_size of a freed mapping's chunk is 0");
}

/* The same in a thread's arena (after test_many_mmapped: its arena is new). */
static void test_chunks_at_mapping_offset_thread(void)
{
	pthread_t t;
	void *found = NULL;

	pthread_create(&t, NULL, chunks_at_mapping_offset, NULL);
	pthread_join(t, &found);
	ok((intptr_t)found > 0, "thread arena: %ld chunks at page offset 0 or 16 sized, reallocated and freed",
	   (long)(intptr_t)found);
}

/* Random malloc/free/realloc with every byte checked. */
static void test_random_churn(void)
{
	enum { SLOTS = 2000, OPS = 200000 };
	static unsigned char *slot[SLOTS];
	static size_t len[SLOTS];
	unsigned seed = 12345;
	int bad = 0;

	for (int i = 0; i < OPS; i++) {
		unsigned r = seed = seed * 1103515245 + 12345;
		int s = (int)((r >> 8) % SLOTS);
		size_t n = (r >> 20) % 16 == 0 ? (r >> 12) % 300000 : (r >> 12) % 600;

		if (slot[s] && !pattern_ok(slot[s], len[s], (unsigned char)s))
			bad++;
		switch ((r >> 4) % 3) {
		case 0:
			free(slot[s]);
			slot[s] = malloc(n);
			break;
		case 1: {
			unsigned char *q = realloc(slot[s], n + 1);

			if (q && slot[s] && !pattern_ok(q, len[s] < n + 1 ? len[s] : n + 1, (unsigned char)s))
				bad++;
			slot[s] = q;
			n++;
			break;
		}
		default:
			free(slot[s]);
			slot[s] = NULL;
			n = 0;
		}
		if (slot[s]) {
			len[s] = n;
			pattern_fill(slot[s], n, (unsigned char)s);
		}
	}
	for (int s = 0; s < SLOTS; s++) {
		if (slot[s] && !pattern_ok(slot[s], len[s], (unsigned char)s))
			bad++;
		free(slot[s]);
	}
	ok(!bad, "200000 random malloc/realloc/free with contents checked (%d bad)", bad);
	ok(stats().in_use_bytes < (1 << 20), "everything freed: in-use bytes back near zero (%llu)",
	   (unsigned long long)stats().in_use_bytes);
}

int main(int argc, char **argv)
{
	(void)argc;
	preload_self(argv);
	test_heaplab_is_active();
	test_small_sizes();
	test_powers_of_two();
	test_zero_and_failure();
	test_calloc_reuse();
	test_calloc_untouched();
	test_realloc();
	test_memalign_family();
	test_random_churn();
	test_chunks_at_mapping_offset();
	test_many_mmapped();
	test_chunks_at_mapping_offset_thread();
	test_errno_and_misc();
	return tap_done();
}
