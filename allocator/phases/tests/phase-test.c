/* SPDX-License-Identifier: MIT */
/*
 * phase-test — each teaching allocator's idea, checked from the inside.
 *
 * Run without arguments it is a TAP test: for every phase (and a few
 * HEAPLAB_OPTIONS settings) it runs itself again with that phase preloaded,
 * as `phase-test N`, and reports what the child found. The child talks to
 * the allocator the way an experiment does: the malloc API plus the
 * heaplab_phase_* symbols found with dlsym(RTLD_DEFAULT, ...) (phase.h).
 *
 * Where the outcome depends on what is already in the heap (the child's own
 * start-up allocations), the child reads the heap with heaplab_phase_walk
 * first and predicts exactly which chunk a fit must choose and how many list
 * nodes it must visit.
 *
 * Never built with sanitizers: it runs with a phase as its malloc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator/phases/phase.h"
#include "lab/tests/tap.h"

/*
 * The checks call the allocator with impossible sizes, free a stack address
 * on purpose and look up freed pointers in the heap walk (as addresses, never
 * dereferenced). The build uses -fno-builtin so the compiler cannot drop a
 * malloc/free pair it deems unused.
 */
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

/* glibc declares these in <malloc.h>; the phases provide them too. */
void *memalign(size_t align, size_t n);
void *pvalloc(size_t n);
size_t malloc_usable_size(void *p);

/* ------------------------------------------------------------------ */
/* The child: one phase preloaded, results as "ok DESC" lines          */
/* ------------------------------------------------------------------ */

static int failures;

static __attribute__((format(printf, 2, 3)))
int check(int cond, const char *fmt, ...)
{
	va_list ap;

	fputs(cond ? "ok " : "not ok ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
	return cond;
}

static int phase;
static const char *options;	/* HEAPLAB_OPTIONS */
static heaplab_phase_stats_fn *get_stats;
static heaplab_phase_walk_fn *walk_fn;
static heaplab_phase_dump_fn *dump_fn;

#define MAX_CHUNKS	(1 << 18)
static struct heaplab_chunk chunks[MAX_CHUNKS];
static size_t nchunks;		/* entries in chunks[] from the last walk() */
static size_t nheap;		/* of which in the sbrk heap (not mmapped) */
static int walk_overflows;	/* walks that did not fit chunks[] */

static struct heaplab_phase_stats stats(void)
{
	struct heaplab_phase_stats s;

	get_stats(&s);
	return s;
}

/* Takes a picture of the heap. Allocates nothing. */
static void walk(void)
{
	size_t i;

	nchunks = walk_fn(chunks, MAX_CHUNKS);
	if (nchunks > MAX_CHUNKS) {
		walk_overflows++;	/* reported at the end */
		nchunks = MAX_CHUNKS;
	}
	for (nheap = 0, i = 0; i < nchunks; i++)
		if (chunks[i].state != HEAPLAB_CHUNK_MMAPPED)
			nheap++;
}

static struct heaplab_chunk *find(const void *p)
{
	size_t i;

	for (i = 0; i < nchunks; i++)
		if (chunks[i].addr == (uintptr_t)p)
			return &chunks[i];
	return NULL;
}

static size_t max_free(void)
{
	size_t i, m = 0;

	walk();
	for (i = 0; i < nheap; i++)
		if (chunks[i].state == HEAPLAB_CHUNK_FREE && chunks[i].size > m)
			m = chunks[i].size;
	return m;
}

/*
 * Fill every free chunk in the heap (from phase 3 on, malloc would reuse
 * them), so that what is allocated next is carved from the top, side by
 * side, in a known order. The plugs stay allocated. Requests stay below
 * phase 6's mmap threshold so that they really come from the heap.
 */
static void plug(void)
{
	struct heaplab_phase_stats s = stats();
	size_t m, cap = s.mmap_threshold ? (s.mmap_threshold - 1) & ~(size_t)15 : SIZE_MAX;

	if (phase < 3)
		return;
	while ((m = max_free()) > 0)
		malloc(m < cap ? m : cap);
}

/* The payload a phase gives a request: rounded up to 16, at least 16. */
static size_t need_for(size_t n)
{
	return n < 16 ? 16 : (n + 15) & ~(size_t)15;
}

/*
 * From the last walk: which chunk must a fit choose for N bytes, and how
 * many list nodes must it visit? NULL when none fits (the heap grows).
 */
static struct heaplab_chunk *predict(size_t n, uint32_t fit, uint64_t *visits)
{
	struct heaplab_chunk *best = NULL;
	size_t i, need = need_for(n);

	*visits = nheap;
	for (i = 0; i < nheap; i++) {
		if (chunks[i].state != HEAPLAB_CHUNK_FREE || chunks[i].size < need)
			continue;
		if (fit == HEAPLAB_FIT_FIRST) {
			*visits = i + 1;
			return &chunks[i];
		}
		if (!best || chunks[i].size < best->size)
			best = &chunks[i];
	}
	return best;
}

static void check_symbols(void)
{
	const char *name = dlsym(RTLD_DEFAULT, "heaplab_phase_name");
	const char *idea = dlsym(RTLD_DEFAULT, "heaplab_phase_idea");
	char want[16];
	struct heaplab_phase_stats s;

	snprintf(want, sizeof(want), "phase%d", phase);
	check(name && !strcmp(name, want), "heaplab_phase_name is %s", want);
	check(idea && *idea, "heaplab_phase_idea says what the phase adds");
	s = stats();
	check(s.abi == HEAPLAB_PHASE_ABI && (int)s.phase == phase,
	      "stats: abi %u, phase %u", s.abi, s.phase);
	check(s.header_size == (phase <= 2 ? 16 : 32), "stats: %u-byte header",
	      s.header_size);
	check(s.mallocs > 0 && s.heap_size > 0 && s.live_bytes > 0,
	      "stats count this process's start-up allocations (%llu mallocs)",
	      (unsigned long long)s.mallocs);
	check(s.fit == (phase < 3 ? HEAPLAB_FIT_NONE :
			options && strstr(options, "fit=best") ? HEAPLAB_FIT_BEST :
			HEAPLAB_FIT_FIRST), "stats: fit %u, as HEAPLAB_OPTIONS says", s.fit);
	check(s.mmap_threshold == (phase < 6 ? 0 :
				   options && strstr(options, "mmap_threshold=64k") ?
				   64 * 1024 : 128 * 1024),
	      "stats: mmap_threshold %llu, as HEAPLAB_OPTIONS says",
	      (unsigned long long)s.mmap_threshold);
}

/* Every size 0..4096: aligned, usable size >= request, the walk agrees. */
static void check_alignment(void)
{
	static void *ptrs[4097];
	size_t n, misaligned = 0, short_usable = 0, bad_walk = 0, no_magic = 0;
	size_t hdr = stats().header_size;
	struct heaplab_chunk *c;

	for (n = 0; n <= 4096; n++) {
		ptrs[n] = malloc(n);
		if (!ptrs[n])
			break;
		memset(ptrs[n], 0x5a, n);
		if ((uintptr_t)ptrs[n] & 15)
			misaligned++;
		if (malloc_usable_size(ptrs[n]) < n)
			short_usable++;
	}
	check(n == 4097, "malloc of every size 0..4096 succeeds");
	walk();
	for (n = 0; n <= 4096 && ptrs[n]; n++) {
		const char *h = (char *)ptrs[n] - hdr;

		c = find(ptrs[n]);
		if (!c || c->size != malloc_usable_size(ptrs[n]) ||
		    c->state == HEAPLAB_CHUNK_FREE ||
		    c->magic != (phase == 1 ? -1 : 1)) {
			bad_walk++;
			continue;
		}
		/* Walk back from the pointer: header, size, state, magic. */
		if (phase >= 2 &&
		    (*(const uint32_t *)(h + 12) != 0xDEADBEEF ||
		     *(const uint32_t *)(h + 8) != 1 ||
		     (*(const size_t *)h & ~(size_t)1) != c->size))
			no_magic++;
	}
	check(!misaligned, "every pointer 16-byte aligned (%zu misaligned)", misaligned);
	check(!short_usable, "usable size >= request for every size (%zu short)", short_usable);
	check(!bad_walk, "the walk shows every chunk, in use, its size, magic state (%zu wrong)",
	      bad_walk);
	if (phase >= 2)
		check(!no_magic, "walking back from every pointer: its size, used, "
		      "0xDEADBEEF (%zu wrong)", no_magic);
	for (n = 0; n <= 4096 && ptrs[n]; n++)
		free(ptrs[n]);
}

static void check_api(void)
{
	void *p, *q;
	char *s;
	size_t i, page = getpagesize();
	int rc, ok_contents;
	uint64_t frees;

	free(NULL);
	check(1, "free(NULL) returns");

	errno = 0;
	p = calloc(SIZE_MAX / 2, 3);
	check(!p && errno == ENOMEM, "calloc overflow: NULL, ENOMEM");
	errno = 0;
	p = malloc(SIZE_MAX);
	check(!p && errno == ENOMEM, "malloc(SIZE_MAX): NULL, ENOMEM");
	errno = 0;
	p = malloc(PTRDIFF_MAX);
	check(!p && errno == ENOMEM, "malloc(PTRDIFF_MAX): NULL, ENOMEM");

	/* calloc clears memory even when it reuses a chunk that held data. */
	s = malloc(1000);
	memset(s, 0xaa, 1000);
	free(s);
	s = calloc(10, 100);
	for (ok_contents = !!s, i = 0; s && i < 1000; i++)
		if (s[i])
			ok_contents = 0;
	check(ok_contents, "calloc returns zeroed memory");
	free(s);

	p = (void *)1;
	check(posix_memalign(&p, 3, 10) == EINVAL && p == (void *)1,
	      "posix_memalign(3): EINVAL, result untouched");
	check(posix_memalign(&p, 0, 10) == EINVAL, "posix_memalign(0): EINVAL");
	check(posix_memalign(&p, 24, 10) == EINVAL, "posix_memalign(24): EINVAL");
	check(posix_memalign(&p, sizeof(void *) / 2, 10) == EINVAL,
	      "posix_memalign(sizeof(void *) / 2): EINVAL");
	rc = posix_memalign(&p, SIZE_MAX / 2 + 1, 10);
	check(rc == ENOMEM, "posix_memalign(2^63): ENOMEM");
	for (i = 8; i <= 65536; i <<= 1) {
		rc = posix_memalign(&p, i, 100);
		if (rc || (uintptr_t)p % i || malloc_usable_size(p) < 100)
			break;
		memset(p, 1, malloc_usable_size(p));
		free(p);
	}
	check(i > 65536, "posix_memalign 8..65536: aligned, usable >= 100, freeable");
	errno = 0;
	check(!aligned_alloc(48, 96) && errno == EINVAL, "aligned_alloc(48): EINVAL");
	p = aligned_alloc(256, 1000);
	check(p && !((uintptr_t)p & 255) && malloc_usable_size(p) >= 1000,
	      "aligned_alloc(256, 1000)");
	q = realloc(p, 5000);
	check(q && malloc_usable_size(q) >= 5000, "realloc of an aligned block");
	free(q);
	p = memalign(48, 10);
	check(p && !((uintptr_t)p & 63), "memalign(48) rounds up to 64");
	free(p);
	p = valloc(10);
	check(p && !((uintptr_t)p % page), "valloc: page aligned");
	free(p);
	p = pvalloc(1);
	check(p && !((uintptr_t)p % page) && malloc_usable_size(p) >= page,
	      "pvalloc(1): a whole page");
	free(p);

	s = malloc(20);
	memcpy(s, "abcdefghijklmnopqrs", 20);
	s = realloc(s, 100000);
	check(s && !memcmp(s, "abcdefghijklmnopqrs", 20) &&
	      malloc_usable_size(s) >= 100000, "realloc grows and keeps the contents");
	s = realloc(s, 10);
	check(s && !memcmp(s, "abcdefghij", 10) && malloc_usable_size(s) >= 10,
	      "realloc shrinks and keeps the contents");
	frees = stats().frees;
	check(realloc(s, 0) == NULL && stats().frees == frees + 1,
	      "realloc(p, 0) frees p and returns NULL, as glibc");
	p = realloc(NULL, 50);
	check(p && malloc_usable_size(p) >= 50, "realloc(NULL, 50) allocates");
	check(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is 0");
	free(p);
}

static void check_counters(void)
{
	struct heaplab_phase_stats a, b;
	size_t usable;
	void *p;

	a = stats();
	p = malloc(1234);
	b = stats();
	usable = malloc_usable_size(p);
	check(b.bytes_requested == a.bytes_requested + 1234 &&
	      b.mallocs == a.mallocs + 1 &&
	      b.live_bytes == a.live_bytes + malloc_usable_size(p),
	      "malloc(1234) counted: bytes requested, mallocs, live bytes");
	check(b.peak_live_bytes >= b.live_bytes &&
	      b.peak_footprint >= b.heap_size + b.mapped_bytes,
	      "peaks are at least the current values");
	free(p);
	a = stats();
	check(a.frees == b.frees + 1 && a.live_bytes == b.live_bytes - usable,
	      "free counted: frees, live bytes");
}

/* Writes the dump to a memfd, returns it NUL-terminated (or NULL). */
static char *dump_text(void)
{
	int fd = memfd_create("dump", 0);
	off_t len;
	char *buf;

	if (fd < 0)
		return NULL;
	dump_fn(fd);
	len = lseek(fd, 0, SEEK_END);
	buf = malloc(len + 1);
	if (buf && pread(fd, buf, len, 0) == len)
		buf[len] = 0;
	close(fd);
	return buf;
}

static void check_dump(void)
{
	char line[128], *text;
	void *guard, *p;

	plug();
	p = malloc(777);
	guard = malloc(16);
	snprintf(line, sizeof(line), "\n0x%lx %zu used %s\n", (unsigned long)p,
		 malloc_usable_size(p), phase == 1 ? "-" : "ok");
	text = dump_text();
	check(text && !strncmp(text, "# phase", 7), "dump starts with a summary line");
	check(text && strstr(text, line), "dump shows the chunk: %.*s",
	      (int)strlen(line) - 2, line + 1);
	free(text);
	free(p);
	snprintf(line, sizeof(line), "\n0x%lx 784 %s\n", (unsigned long)p,
		 phase == 1 ? "used -" : "free ok");
	text = dump_text();
	check(text && strstr(text, line), "after free the dump shows %s",
	      phase == 1 ? "it still used: phase 1's free does nothing" : "it free");
	free(text);
	free(guard);
}

/* Phases 1-2 grow in a malloc/free loop; from phase 3 on freed memory is reused. */
static void check_growth(void)
{
	struct heaplab_phase_stats a, b;
	int i;

	a = stats();
	for (i = 0; i < 1000; i++)
		free(malloc(64));
	b = stats();
	if (phase <= 2)
		check(b.heap_size - a.heap_size >= 1000 * 64 &&
		      b.sbrk_calls - a.sbrk_calls == 1000,
		      "1000 x malloc(64)/free: the heap grows %llu bytes in 1000 sbrk calls",
		      (unsigned long long)(b.heap_size - a.heap_size));
	else
		check(b.heap_size - a.heap_size <= 64 + 32 && b.sbrk_calls - a.sbrk_calls <= 1,
		      "1000 x malloc(64)/free: the heap stays flat (%llu bytes grown)",
		      (unsigned long long)(b.heap_size - a.heap_size));
}

/* Phase 2 on: a double free and a pointer that malloc never made abort. */
static void check_bad_free(void)
{
	static const char *const what[] = { "double free", "invalid pointer" };
	int i;

	for (i = 0; i < 2; i++) {
		int fds[2], status;
		char msg[256] = "";
		ssize_t got;
		pid_t pid;

		if (!check(!pipe(fds), "pipe for the %s child", what[i]))
			continue;
		pid = fork();
		if (pid == 0) {
			char fake[64] __attribute__((aligned(16))) = { 0 };
			void *p = malloc(48);

			dup2(fds[1], 2);
			alarm(5);
			if (i == 0) {
				free(p);
				free(p);
			} else {
				free(fake + 32);
			}
			_exit(0);
		}
		close(fds[1]);
		got = read(fds[0], msg, sizeof(msg) - 1);
		msg[got > 0 ? got : 0] = 0;
		msg[strcspn(msg, "\n")] = 0;
		close(fds[0]);
		waitpid(pid, &status, 0);
		if (phase == 1)
			check(WIFEXITED(status) && !*msg,
			      "%s: phase 1 cannot tell, free does nothing", what[i]);
		else
			check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
			      strstr(msg, "heaplab phase") &&
			      (strstr(msg, what[i]) || strstr(msg, "invalid pointer")),
			      "%s: aborts with \"%s\"", what[i], msg);
	}
}

/*
 * Phase 3 on: the fragment experiment. 100 blocks of 32 B, the even ones
 * freed, then malloc(64): none of the 32-byte holes fits. X (128 B, before
 * them) and Y (64 B, after them) are freed too, so first fit finds X and
 * stops early while best fit must look at every node to be sure Y is the
 * tightest. The walk predicts the exact chunk and node count.
 */
static void check_fit(uint32_t fit)
{
	struct heaplab_phase_stats a, b;
	struct heaplab_chunk *want;
	uint64_t visits;
	void *x, *y, *g, *blocks[100], *q;
	int i;

	plug();
	x = malloc(128);
	for (i = 0; i < 100; i++)
		blocks[i] = malloc(32);
	y = malloc(64);
	g = malloc(16);		/* keeps Y away from the top */
	free(x);
	for (i = 0; i < 100; i += 2)
		free(blocks[i]);
	free(y);

	walk();
	want = predict(64, fit, &visits);
	a = stats();
	q = malloc(64);
	b = stats();
	check(want && q == (void *)(uintptr_t)want->addr &&
	      q == (fit == HEAPLAB_FIT_FIRST ? x : y),
	      "fragment: 100 x 32 B, evens freed, malloc(64) takes %s (%s fit)",
	      fit == HEAPLAB_FIT_FIRST ? "X, the first that fits" : "Y, the tightest",
	      fit == HEAPLAB_FIT_FIRST ? "first" : "best");
	check(b.last_traversed == visits && b.searches == a.searches + 1 &&
	      b.nodes_traversed == a.nodes_traversed + visits,
	      "fragment: the search visits %llu of %zu list nodes (predicted %llu)",
	      (unsigned long long)b.last_traversed, nheap, (unsigned long long)visits);
	if (fit == HEAPLAB_FIT_BEST)
		check(b.last_traversed == nheap, "best fit traverses the whole list");
	else
		check(b.last_traversed < nheap - 100, "first fit stops early, at X");
	check(b.heap_size == a.heap_size, "no sbrk: a free chunk was reused");
	free(q);
	free(g);
	for (i = 1; i < 100; i += 2)
		free(blocks[i]);
}

/* Phases 1-2 never search: the same request always grows the heap. */
static void check_no_reuse(void)
{
	struct heaplab_phase_stats a, b;
	void *p = malloc(64), *q;

	free(p);
	a = stats();
	q = malloc(64);
	b = stats();
	check(q != p && b.sbrk_calls == a.sbrk_calls + 1 && b.searches == 0,
	      "malloc after free: a new chunk from sbrk, no search");
	free(q);
}

/*
 * A free chunk bigger than the request: phase 3 hands it out whole, phase 4
 * on split it and the rest is a new free node right after it.
 */
static void check_split(void)
{
	struct heaplab_chunk *rest;
	size_t count;
	char *p, *guard, *q;

	plug();
	p = malloc(512);
	guard = malloc(16);
	free(p);
	walk();
	count = nheap;
	q = malloc(16);
	walk();
	check(q == p, "malloc(16) reuses the free 512-byte chunk");
	rest = find(p + 16 + 32);
	if (phase == 3) {
		check(nheap == count && malloc_usable_size(q) == 512 && !rest,
		      "no split: all 512 bytes handed out, still %zu chunks", nheap);
	} else {
		check(nheap == count + 1 && malloc_usable_size(q) == 16,
		      "split: 16 bytes handed out, the list gains a node (%zu -> %zu)",
		      count, nheap);
		check(rest && rest->state == HEAPLAB_CHUNK_FREE && rest->size == 512 - 16 - 32,
		      "split: the rest is a free chunk of 464 bytes right after it");
	}
	free(q);
	free(guard);
}

/* Allocate A, B, C side by side; free B then A: one free chunk or two? */
static void check_coalesce(void)
{
	struct heaplab_phase_stats s0, s1;
	struct heaplab_chunk *ca, *cb;
	size_t sz = 64;
	char *a, *b, *c, *d;

	plug();
	a = malloc(sz);
	b = malloc(sz);
	c = malloc(sz);
	d = malloc(sz);		/* keeps C's right neighbour in use */
	if (!check(b == a + sz + 32 && c == b + sz + 32,
		   "A, B, C of %zu bytes lie side by side", sz))
		return;
	s0 = stats();
	free(b);
	free(a);
	s1 = stats();
	walk();
	ca = find(a);
	cb = find(b);
	if (phase >= 5) {
		check(ca && ca->state == HEAPLAB_CHUNK_FREE && ca->size == 2 * sz + 32 && !cb,
		      "free B, free A: one free chunk of %zu bytes", 2 * sz + 32);
		check(s1.merges == s0.merges + 1, "one merge counted");
		/* Both neighbours at once: C lies between A+B and D. */
		free(d);
		free(c);
		walk();
		ca = find(a);
		check(ca && ca->state == HEAPLAB_CHUNK_FREE && ca->size >= 4 * sz + 96 &&
		      !find(c) && !find(d), "free D, free C: A, B, C, D are one chunk");
		check(stats().merges >= s1.merges + 2, "free C merged with both neighbours");
	} else {
		check(ca && cb && ca->state == HEAPLAB_CHUNK_FREE &&
		      cb->state == HEAPLAB_CHUNK_FREE && ca->size == sz && cb->size == sz,
		      "free B, free A: two free chunks side by side (no coalescing)");
		free(c);
		free(d);
	}
}

/* Phase 6: big requests get their own mapping; the threshold is honoured. */
static void check_mmap(void)
{
	struct heaplab_phase_stats a, b, c;
	size_t t = stats().mmap_threshold;
	struct heaplab_chunk *ch;
	char *p, *q;

	a = stats();
	p = malloc(200 * 1024);
	b = stats();
	if (phase < 6) {
		check(p && b.mmap_calls == 0 && b.heap_size > a.heap_size,
		      "malloc(200 KiB) comes from sbrk: no mmap in phase %d", phase);
		free(p);
		return;
	}
	memset(p, 7, 200 * 1024);
	walk();
	ch = find(p);
	check(b.mmap_calls == a.mmap_calls + 1 && b.mapped_bytes >= a.mapped_bytes + 200 * 1024 &&
	      b.heap_size == a.heap_size, "malloc(200 KiB): one mmap, the heap untouched");
	check(ch && ch->state == HEAPLAB_CHUNK_MMAPPED && ch->magic == 1,
	      "the walk shows it mmapped");
	free(p);
	c = stats();
	check(c.munmap_calls == b.munmap_calls + 1 && c.mapped_bytes == a.mapped_bytes,
	      "free: munmap, mapped bytes back to %llu", (unsigned long long)a.mapped_bytes);

	a = stats();
	p = malloc(t);
	q = malloc(t - 1);
	b = stats();
	check(b.mmap_calls == a.mmap_calls + 1 && b.mapped_bytes > a.mapped_bytes,
	      "threshold %zu: malloc(%zu) is mmapped, malloc(%zu) is not", t, t, t - 1);
	free(p);
	free(q);
}

/* Threads allocating at once: nothing lost, nothing overwritten. */
static void *churn(void *arg)
{
	unsigned seed = (uintptr_t)arg, i, j;
	unsigned char *slot[64] = { 0 };
	size_t len[64] = { 0 };
	long bad = 0;

	for (i = 0; i < 20000; i++) {
		j = rand_r(&seed) % 64;
		if (slot[j]) {
			size_t k;

			for (k = 0; k < len[j]; k++)
				if (slot[j][k] != (unsigned char)(j + (uintptr_t)arg))
					bad++;
			free(slot[j]);
		}
		len[j] = rand_r(&seed) % 600;
		slot[j] = malloc(len[j]);
		memset(slot[j], j + (uintptr_t)arg, len[j]);
	}
	for (j = 0; j < 64; j++)
		free(slot[j]);
	return (void *)bad;
}

static void check_threads(void)
{
	pthread_t t[4];
	void *bad;
	long total = 0;
	int i;

	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &bad);
		total += (long)bad;
	}
	check(!total, "4 threads x 20000 malloc/free: no block overwritten (%ld bad bytes)",
	      total);
}

/* fork while another thread allocates: the child's malloc must not hang. */
static volatile int stop_spinning;

/* Bounded: phases 1-2 never reuse, so each round is a new chunk. */
static void *spin(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100000 && !stop_spinning; i++)
		free(malloc(100));
	return NULL;
}

static void check_fork(void)
{
	pthread_t t;
	int i, status, hung = 0;
	pid_t pid;

	pthread_create(&t, NULL, spin, NULL);
	for (i = 0; i < 30; i++) {
		pid = fork();
		if (pid == 0) {
			alarm(5);
			free(malloc(100));
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status))
			hung++;
	}
	stop_spinning = 1;
	pthread_join(t, NULL);
	check(!hung, "fork while a thread allocates: every child can malloc (%d hung)", hung);
}

static int child(int n)
{
	uint32_t fit;

	phase = n;
	options = getenv("HEAPLAB_OPTIONS");
	get_stats = (heaplab_phase_stats_fn *)dlsym(RTLD_DEFAULT, "heaplab_phase_stats");
	walk_fn = (heaplab_phase_walk_fn *)dlsym(RTLD_DEFAULT, "heaplab_phase_walk");
	dump_fn = (heaplab_phase_dump_fn *)dlsym(RTLD_DEFAULT, "heaplab_phase_dump");
	if (!check(get_stats && walk_fn && dump_fn,
		   "heaplab_phase_stats, _walk, _dump found with dlsym"))
		return 1;
	check_symbols();
	check_alignment();
	check_api();
	check_counters();
	check_dump();
	check_growth();
	check_bad_free();
	fit = stats().fit;
	if (phase >= 3) {
		check_fit(fit);
		check_split();
		check_coalesce();
	} else {
		check_no_reuse();
	}
	check_mmap();
	check_threads();
	check_fork();
	check(!walk_overflows, "every heap walk fit the test's buffer");
	puts("done");
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The parent: TAP, one child per phase and setting                    */
/* ------------------------------------------------------------------ */

static void run_child(const char *build, int n, const char *options)
{
	char lib[4096], arg[8], label[64], *line = NULL;
	int fds[2], status, done = 0, seen = 0;
	size_t cap = 0;
	FILE *in;
	pid_t pid;

	snprintf(lib, sizeof(lib), "%s/phases/libphase%d.so", build, n);
	snprintf(arg, sizeof(arg), "%d", n);
	snprintf(label, sizeof(label), "phase%d%s%s", n, options ? " " : "",
		 options ? options : "");
	if (pipe(fds) || (pid = fork()) < 0) {
		ok(0, "%s: cannot start the child: %s", label, strerror(errno));
		return;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		setenv("LD_PRELOAD", lib, 1);
		if (options)
			setenv("HEAPLAB_OPTIONS", options, 1);
		else
			unsetenv("HEAPLAB_OPTIONS");
		execl("/proc/self/exe", "phase-test", arg, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (getline(&line, &cap, in) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "ok ", 3)) {
			ok(1, "%s: %s", label, line + 3);
			seen++;
		} else if (!strncmp(line, "not ok ", 7)) {
			ok(0, "%s: %s", label, line + 7);
			seen++;
		} else if (!strcmp(line, "done")) {
			done = 1;
		} else {
			diag("%s: %s", label, line);
		}
	}
	free(line);
	fclose(in);
	waitpid(pid, &status, 0);
	ok(done && seen > 10 && WIFEXITED(status),
	   "%s: the child ran to the end (%d checks, %s %d)", label, seen,
	   WIFEXITED(status) ? "exit" : "signal",
	   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(int argc, char **argv)
{
	const char *build = getenv("HEAPLAB_BUILD");
	char lib[4096];
	int n;

	if (argc == 2)
		return child(atoi(argv[1]));
	if (!build)
		build = "build";
	for (n = 1; n <= 6; n++) {
		snprintf(lib, sizeof(lib), "%s/phases/libphase%d.so", build, n);
		if (!ok(access(lib, R_OK) == 0, "%s is built", lib))
			continue;
		run_child(build, n, NULL);
		if (n >= 3)
			run_child(build, n, "fit=best");
		if (n == 6)
			run_child(build, n, "mmap_threshold=64k");
	}
	return tap_done();
}
