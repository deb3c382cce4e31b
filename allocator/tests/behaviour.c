// SPDX-License-Identifier: MIT
/*
 * behaviour.c — where chunks land, asserted through the heap dump, with
 * libheaplab.so preloaded (thread cache off): fast bins and their consolidation, the unsorted
 * bin sorted into small and large bins, best fit in a large bin; then the
 * kernel side: pages populated ahead of small carves, the dynamic mmap
 * threshold, trimming the top, malloc_trim.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

static int is(const char *got, const char *want, const char *what)
{
	int r = ok(strcmp(got, want) == 0, "%s: %s", what, want);

	if (!r)
		diag("got '%s'", got);
	return r;
}

/* Consecutive allocations from top sit back to back. */
static int adjacent(void *a, void *b, size_t chunk)
{
	return (char *)b == (char *)a + chunk;
}

static void test_fastbins(void)
{
	malloc_trim(0);
	void *guard0 = malloc(100), *a[5], *guard1, *big;
	size_t size;
	int adj = 1;

	for (int i = 0; i < 5; i++)
		a[i] = malloc(100);		/* chunk 112: fast bin 5 */
	guard1 = malloc(100);
	for (int i = 1; i < 5; i++)
		adj &= adjacent(a[i - 1], a[i], 112);
	ok(adj, "five 100-byte requests from top are adjacent 112-byte chunks");
	for (int i = 0; i < 5; i++)
		free(a[i]);
	is(chunk_state(a[0], &size), "free fast[5]", "a freed 112-byte chunk goes to a fast bin");
	is(chunk_state(a[4], NULL), "free fast[5]", "so does its neighbour (no coalescing)");
	big = malloc(2000);			/* a large request consolidates */
	is(chunk_state(a[0], &size), "free small[35]", "after a large request the five coalesced into small bin 35");
	ok(size == 560, "... as one 560-byte chunk (%zu)", size);
	is(chunk_state(a[1], NULL), "", "... and the chunk at a[1] no longer exists");
	/* The exact small bin serves the next request of that size. */
	{
		void *p = malloc(552);

		ok(p == a[0], "malloc(552) takes the 560-byte chunk from small bin 35");
		free(p);
	}
	free(big);
	free(guard0);
	free(guard1);
}

/*
 * Each scenario starts from a heap whose free memory is all in top: the
 * previous one freed everything, and malloc_trim consolidates the fast bins.
 */
static void test_unsorted_sorting(void)
{
	malloc_trim(0);
	void *x = malloc(600), *g1 = malloc(100), *y = malloc(1500), *g2 = malloc(100), *big;

	ok(adjacent(x, g1, 608) && adjacent(g1, y, 112) && adjacent(y, g2, 1520),
	   "four requests from top are adjacent");

	free(x);
	free(y);
	is(chunk_state(x, NULL), "free unsorted", "a freed 608-byte chunk waits in the unsorted bin");
	is(chunk_state(y, NULL), "free unsorted", "so does a 1520-byte one");
	big = malloc(3000);	/* fits neither: both get sorted on the way */
	is(chunk_state(x, NULL), "free small[38]", "the next malloc sorts the 608-byte chunk into small bin 38");
	is(chunk_state(y, NULL), "free large[71]", "and the 1520-byte chunk into large bin 71");
	free(big);
	free(g1);
	free(g2);
}

static void test_large_best_fit(void)
{
	malloc_trim(0);
	/* Chunks of 3152, 3456 and 3328 bytes, kept apart by live guards. */
	void *a = malloc(3144), *g1 = malloc(40), *b = malloc(3448), *g2 = malloc(40);
	void *c = malloc(3320), *g3 = malloc(40), *sorter, *p;
	size_t size;

	ok(adjacent(a, g1, 3152) && adjacent(g1, b, 48) && adjacent(b, g2, 3456) &&
	   adjacent(g2, c, 48) && adjacent(c, g3, 3328), "six requests from top are adjacent");

	free(a);
	free(b);
	free(c);
	sorter = malloc(6000);
	is(chunk_state(a, NULL), "free large[97]", "3152-byte chunk sorted into large bin 97");
	is(chunk_state(b, NULL), "free large[97]", "3456-byte chunk too");
	is(chunk_state(c, NULL), "free large[97]", "3328-byte chunk too");
	p = malloc(3200);	/* chunk 3216 */
	ok(p == c, "malloc(3200) takes the best fit, the 3328-byte chunk (not the largest, not the first)");
	is(chunk_state((char *)c + 3216, &size), "free unsorted", "the 112-byte remainder goes to the unsorted bin");
	ok(size == 112, "... with size 112 (%zu)", size);
	is(chunk_state(b, NULL), "free large[97]", "the 3456-byte chunk stays in its bin");
	free(p);
	free(sorter);
	free(g1);
	free(g2);
	free(g3);
}

static void test_dynamic_threshold(void)
{
	struct heaplab_stats a, b;
	void *p;

	malloc_trim(0);		/* no cached mapping from the tests before */
	a = stats();
	ok(a.mmap_threshold == 128 * 1024, "the mmap threshold starts at 128 KiB");
	p = malloc(1 << 20);
	b = stats();
	ok(b.mmapped_chunks == a.mmapped_chunks + 1 && b.mmap_calls == a.mmap_calls + 1,
	   "malloc(1 MiB) is served by its own mmap");
	free(p);
	a = stats();
	ok(a.munmap_calls == b.munmap_calls + 1 && a.mmapped_chunks == b.mmapped_chunks - 1,
	   "freeing it unmaps it");
	ok(a.mmap_threshold == (1 << 20) + 4096 && a.trim_threshold == 2 * a.mmap_threshold,
	   "freeing it raised the threshold to its size, trim threshold to twice that (%llu)",
	   (unsigned long long)a.mmap_threshold);
	p = malloc(1 << 20);
	b = stats();
	ok(b.mmap_calls == a.mmap_calls, "the next malloc(1 MiB) comes from the heap");
	free(p);
	p = malloc(40 << 20);
	free(p);
	ok(stats().mmap_threshold == a.mmap_threshold, "freeing 40 MiB leaves it (32 MiB cap)");
	p = malloc((32 << 20) - 4095);		/* a mapping of exactly 32 MiB */
	free(p);
	ok(stats().mmap_threshold == a.mmap_threshold,
	   "a 32 MiB mapping does not raise it either (glibc compares the flagged size)");
	p = malloc((32 << 20) - 4096 - 32);	/* a mapping of 32 MiB - 4 KiB */
	free(p);
	ok(stats().mmap_threshold == (32 << 20) - 4096, "one of 32 MiB - 4 KiB raises it to that");
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	p = malloc(1 << 20);
	free(p);
	ok(stats().mmap_threshold == 256 * 1024, "after mallopt(M_MMAP_THRESHOLD) the rule is off");
}

/*
 * Batches past the trim threshold allocated and freed over and over (glibc's
 * bench-malloc-simple): the first trim is paid back in page faults by the
 * next batch's growth, so later ones keep top, where glibc trims and
 * refaults every time. malloc_trim still gives it all back.
 */
static void test_refault_guard(void)
{
	static void *blk[1600];
	struct heaplab_stats a, b;
	char *brk1;

	a = stats();
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 1600; i++)
			blk[i] = malloc(1024);
		for (int i = 0; i < 1600; i++)
			free(blk[i]);
	}
	b = stats();
	ok(b.trims - a.trims <= 2, "20 batches of 1.6 MiB allocated and freed: top trimmed %llu "
	   "times, not after each", (unsigned long long)(b.trims - a.trims));
	brk1 = sbrk(0);
	malloc_trim(0);
	ok((char *)sbrk(0) < brk1 - (1 << 20), "malloc_trim gives the kept top back (%ld KiB)",
	   (long)(brk1 - (char *)sbrk(0)) / 1024);
}

/*
 * Batches in a thread's own arena, whose heap is trimmed by madvise: the
 * first trim is paid back, later ones keep top (the library without the
 * guard in threads' heaps trimmed after each of the 20 batches). A
 * thread keeps at most 512 KiB, so its batches are of 400 KiB. The
 * trims go to *arg (left at -1 if a malloc failed).
 */
static void *guard_thread(void *arg)
{
	static void *blk[400];
	struct heaplab_stats a, b;

	a = stats();
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 400; i++)
			if (!(blk[i] = malloc(1024)))
				return NULL;
		for (int i = 0; i < 400; i++)
			free(blk[i]);
	}
	b = stats();
	*(long *)arg = (long)(b.trims - a.trims);
	return NULL;
}

static void test_refault_guard_thread(void)
{
	struct heaplab_stats a, b;
	long trims = -1;
	pthread_t t;

	if (pthread_create(&t, NULL, guard_thread, &trims) != 0 || pthread_join(t, NULL) != 0)
		trims = -1;
	ok(trims >= 0 && trims <= 4, "a thread's 20 batches of 400 KiB: its heap trimmed %ld "
	   "times, not after each", trims);
	a = stats();
	malloc_trim(0);
	b = stats();
	ok(b.heap_bytes + (256 << 10) < a.heap_bytes, "malloc_trim gives the thread's kept top "
	   "back (heaps %llu -> %llu KiB)", (unsigned long long)a.heap_bytes / 1024,
	   (unsigned long long)b.heap_bytes / 1024);
}

static void test_trim(void)
{
	char *brk0, *brk1, *brk2;
	void *p;

	mallopt(M_MMAP_THRESHOLD, 32 << 20);	/* 8 MiB from the heap */
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	malloc_trim(0);
	brk0 = sbrk(0);
	p = malloc(8 << 20);
	brk1 = sbrk(0);
	ok(brk1 >= brk0 + (7 << 20), "malloc(8 MiB) below the threshold moves the break up");
	free(p);
	brk2 = sbrk(0);
	ok(brk2 < brk1 - (7 << 20), "freeing it trims top: the break goes down (%ld KiB)",
	   (long)(brk1 - brk2) / 1024);

	/* Trimming off: top stays, until malloc_trim. */
	mallopt(M_TRIM_THRESHOLD, -1);
	p = malloc(8 << 20);
	brk1 = sbrk(0);
	free(p);
	ok(sbrk(0) == brk1, "with M_TRIM_THRESHOLD -1 the break stays up");
	ok(malloc_trim(0) == 1 && (char *)sbrk(0) < brk1 - (7 << 20), "malloc_trim(0) brings it down");
}

/* Pages inside free chunks go back with madvise: no longer resident. */
static void test_malloc_trim_pages(void)
{
	enum { N = 8, SZ = 64 * 1024 };
	char *p[N];
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char vec[32];
	struct heaplab_stats a, b;
	char *page;
	int resident = 0;

	for (int i = 0; i < N; i++) {
		p[i] = malloc(SZ);
		memset(p[i], 1, SZ);
	}
	for (int i = 0; i < N; i += 2)
		free(p[i]);		/* kept apart by the odd ones */
	a = stats();
	ok(malloc_trim(0) == 1, "malloc_trim(0) reports memory released");
	b = stats();
	ok(b.madvise_calls >= a.madvise_calls + N / 2, "it madvised each free chunk (%llu calls)",
	   (unsigned long long)(b.madvise_calls - a.madvise_calls));
	page = (char *)(((uintptr_t)p[2] + 2 * ps) & ~(uintptr_t)(ps - 1));
	if (mincore(page, 12 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 12; i++)
			resident += vec[i] & 1;
	ok(resident == 0, "the free chunk's inner pages are no longer resident (%d of 12)", resident);
	ok(p[1][0] == 1 && p[1][SZ - 1] == 1, "live neighbours are untouched");
	for (int i = 1; i < N; i += 2)
		free(p[i]);
}

static void test_realloc_in_place(void)
{
	malloc_trim(0);
	char *p = malloc(2000), *q, *r, *g;

	memset(p, 7, 2000);
	q = realloc(p, 6000);
	ok(q == p && q[1999] == 7, "realloc grows the chunk before top in place");
	q = malloc(2000);
	g = malloc(100);
	free(q);		/* free neighbour, 2016 bytes, in the unsorted bin */
	r = realloc(p, 7000);
	ok(r == p && r[1999] == 7, "realloc grows into the free chunk that follows");
	r = realloc(p, 1000);
	ok(r == p && r[999] == 7, "realloc shrinks in place");
	is(chunk_state(p + 1008, NULL), "free unsorted", "the tail it gave back is a free chunk");
	free(r);
	free(g);
}

/*
 * A chunk right before top, grown past the mmap threshold: the heap grows
 * under it instead of the data moving to a mapping (bench python3's
 * json.dumps buffer moved so, and its peak was 3.5 MiB higher).
 */
static void test_realloc_top_past_threshold(void)
{
	size_t thr = stats().mmap_threshold, before;
	char *p, *q;

	malloc_trim(0);
	p = malloc(2000);
	memset(p, 7, 2000);
	if (strcmp(chunk_state(p + 2016, NULL), "top")) {
		ok(0, "a 2000-byte block comes from top after malloc_trim (%s follows it)",
		   chunk_state(p + 2016, NULL));
		free(p);
		return;
	}
	before = stats().mmapped_chunks;
	q = realloc(p, thr + 65536);
	ok(q == p && q[1999] == 7 && stats().mmapped_chunks == before,
	   "realloc of the chunk before top to the mmap threshold (%zu KiB) + 64 KiB: the heap "
	   "grows under it, no mapping, no copy", thr / 1024);
	free(q ? q : p);
}

/* Fill n blocks of varied sizes, check them, free them; 0 if all intact. */
static int churn_blocks(int n)
{
	char **p = malloc(n * sizeof(*p));
	int bad = 0;

	for (int i = 0; i < n; i++) {
		size_t len = 100 + (size_t)(i * 7919) % 60000;

		p[i] = malloc(len);
		if (!p[i])
			return 1;
		memset(p[i], i & 0xff, len);
	}
	for (int i = 0; i < n; i++) {
		size_t len = 100 + (size_t)(i * 7919) % 60000;

		bad += p[i][0] != (char)(i & 0xff) || p[i][len - 1] != (char)(i & 0xff);
	}
	for (int i = 0; i < n; i += 2)
		free(p[i]);
	for (int i = 1; i < n; i += 2)
		free(p[i]);
	free(p);
	return bad;
}

/* Runs f in a fork child; 0 with its wait status, -1 if it could not. */
static int fork_wait(int (*f)(void), int *status)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(f());
	return pid > 0 && waitpid(pid, status, 0) == pid ? 0 : -1;
}

/* Run f in a child; its exit status is the number of problems. */
static int in_child(int (*f)(void))
{
	int status;

	if (fork_wait(f, &status) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/*
 * A child that reports its failed checks as bits of its exit status: every
 * bit set when it could not run or did not exit (a crash fails them all,
 * where in_child's 100 + signal would read as some bits).
 */
static int child_bits(int (*f)(void))
{
	int status;

	if (fork_wait(f, &status) < 0 || !WIFEXITED(status))
		return 255;
	return WEXITSTATUS(status);
}

/* The program moves the break itself: the heap continues in a new segment. */
static int foreign_sbrk(void)
{
	int bad = 0;
	char *mine;

	free(malloc(100));
	mine = sbrk(64 * 1024);		/* the program's own use of the break */
	memset(mine, 0x5a, 64 * 1024);
	bad += churn_blocks(400);	/* 12 MiB: the heap must grow */
	for (int i = 0; i < 64 * 1024; i++)
		bad += mine[i] != 0x5a;
	bad += strstr(dump_text(), "fencepost") == NULL;
	bad += strstr(dump_text(), "corrupt") != NULL;	/* the walk got through */
	return bad > 100 ? 100 : bad;
}

/* Something is mapped right after the break: the heap continues in mmap'd segments. */
static int blocked_break(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *brk = (char *)(((uintptr_t)sbrk(0) + ps - 1) & ~(uintptr_t)(ps - 1));
	struct heaplab_stats a, b;
	int bad = 0;

	if (mmap(brk, 256 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0) != brk)
		return 99;
	a = stats();
	bad += churn_blocks(400);
	b = stats();
	bad += b.sbrk_calls <= a.sbrk_calls;		/* it did try the break */
	bad += b.heap_grows <= a.heap_grows;		/* and grew anyway */
	{
		const char *d = dump_text(), *q = d;
		int segs = 0;

		while ((q = strstr(q, " segment 0x")))
			segs++, q++;
		bad += segs < 2;
		bad += strstr(d, "corrupt") != NULL;
	}
	return bad > 100 ? 100 : bad;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * The decaying top, in a fresh process (the dynamic rule must still be on):
 * one bit of the exit status per failed check, see test_top_decay.
 */
static int top_decay_child(void)
{
	enum { MIB = 1 << 20, BLK = 12 * MIB };
	char *p[3], *brk0, *brk1;
	struct heaplab_stats st;
	long faults;
	int bad = 0;

	free(malloc(16 * MIB));		/* raises the thresholds to 16 and 32 MiB */
	if (stats().trim_threshold < 32 * MIB)
		return 1 << 7;
	brk0 = sbrk(0);
	for (int i = 0; i < 3; i++) {
		p[i] = malloc(BLK);	/* below the threshold: from the heap */
		p[i][0] = 1;		/* but hardly touched */
	}
	for (int i = 2; i >= 0; i--)
		free(p[i]);
	if ((char *)sbrk(0) > brk0 + MIB)
		bad |= 1 << 6;
	for (int i = 0; i < 3; i++) {
		p[i] = malloc(BLK);
		memset(p[i], i, BLK);	/* every page touched */
	}
	brk1 = sbrk(0);
	for (int i = 2; i >= 0; i--)
		free(p[i]);		/* top: 36 MiB, past the trim threshold */
	if (sbrk(0) != brk1)
		bad |= 1 << 0;
	st = stats();
	faults = minor_faults();
	for (int i = 0; i < 3; i++) {
		p[i] = malloc(BLK);
		memset(p[i], i, BLK);
	}
	if (sbrk(0) != brk1 || stats().sbrk_calls != st.sbrk_calls)
		bad |= 1 << 1;
	if (minor_faults() - faults > 100)
		bad |= 1 << 2;
	for (int i = 2; i >= 0; i--)
		free(p[i]);
	/*
	 * A period in which all of top was used, then one in which only 12
	 * MiB was. Only the sleeps are timed, each longer than a period (200
	 * ms): the free of p[0] after each ends the period begun before it,
	 * however long the allocations in between took.
	 */
	sleep_ms(250);
	for (int i = 0; i < 3; i++)
		p[i] = malloc(BLK);
	for (int i = 2; i >= 0; i--)
		free(p[i]);
	if ((char *)sbrk(0) < brk1 - MIB)
		bad |= 1 << 3;
	sleep_ms(250);
	free(malloc(BLK));
	if ((char *)sbrk(0) > brk1 - 20 * MIB || (char *)sbrk(0) < brk0 + BLK)
		bad |= 1 << 4;
	if (malloc_trim(0) != 1 || (char *)sbrk(0) > brk0 + MIB)
		bad |= 1 << 5;
	return bad;
}

/*
 * Small carves from the main arena's top fault the pages ahead of them in,
 * a window at a time with one madvise(MADV_POPULATE_WRITE); a big block's
 * inner pages are left for the program to touch or not. Returns the number
 * of checks that failed, each told with diag.
 */
static int populate_checks(const char *who)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char vec[16];
	struct heaplab_stats a, b;
	char *p = NULL, *page, *big;
	int calls = 0, ahead = 0, inner = 0, saved_errno = 0, bad = 0;

	/* Blocks of 200 bytes until one of them makes such a call. */
	for (int i = 0; i < 100000 && !calls; i++) {
		a = stats();
		errno = EDOM;
		p = malloc(200);
		saved_errno = errno;
		b = stats();
		calls = (int)(b.madvise_calls - a.madvise_calls);
	}
	if (calls != 1) {
		diag("%s: %d madvise calls in the malloc that made any", who, calls);
		return 1;
	}
	if (saved_errno != EDOM) {
		diag("%s: malloc changed errno to %d", who, saved_errno);
		bad++;
	}
	/* The call began at most a page below the top's start: the next 6 pages after p's. */
	page = (char *)(((uintptr_t)p + (uintptr_t)ps) & ~(uintptr_t)(ps - 1));
	if (mincore(page, 6 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 6; i++)
			ahead += vec[i] & 1;
	if (ahead != 6) {
		diag("%s: %d of the 6 pages after the carve are resident", who, ahead);
		bad++;
	}
	/* A block of 120 KiB: pages past the window (48 KiB on) are untouched. */
	big = malloc(120 << 10);
	page = (char *)(((uintptr_t)big + (48 << 10)) & ~(uintptr_t)(ps - 1));
	if (mincore(page, 16 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 16; i++)
			inner += vec[i] & 1;
	if (inner) {
		diag("%s: %d of 16 pages inside a fresh 120 KiB block are resident", who, inner);
		bad++;
	}
	free(big);
	return bad;
}

/*
 * A thread's arena populates nothing (its windows went to blocks the
 * threads never touched), and its heap is committed top_pad at a time.
 */
static void *populate_thread(void *arg)
{
	struct heaplab_stats a, b;
	int bad = 0;

	/* 1 MiB of small carves. */
	a = stats();
	for (int i = 0; i < 4000; i++)
		if (!malloc(256))
			bad++;
	b = stats();
	if (b.madvise_calls != a.madvise_calls) {
		diag("a thread's arena: %llu madvise calls for 1 MiB of small carves",
		     (unsigned long long)(b.madvise_calls - a.madvise_calls));
		bad++;
	}
	if (b.mprotect_calls - a.mprotect_calls > 16) {
		diag("a thread's arena: %llu mprotect calls to grow its heap by 1 MiB",
		     (unsigned long long)(b.mprotect_calls - a.mprotect_calls));
		bad++;
	}
	*(int *)arg = bad;
	return NULL;
}

/*
 * In a seccomp sandbox that refuses MADV_POPULATE_WRITE (EPERM, as a
 * browser's renderer policy might), the first refusal turns it off: one
 * failed call, then none, and the heap works on.
 */
static int populate_refused(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_POPULATE_WRITE, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct heaplab_stats a, b;
	int bad = 0;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 100;
	a = stats();
	for (int i = 0; i < 4000; i++) {
		char *p = malloc(200);

		if (!p)
			return 101;
		memset(p, 1, 200);	/* kept: the heap grows over fresh pages */
	}
	b = stats();
	if (b.madvise_calls - a.madvise_calls != 1)
		bad++;
	return bad;
}

/*
 * A trim drops the pages above the new break, populated or not. When the
 * heap then grows back over them with blocks of a page or more (which do
 * not populate) and small carves follow, those must populate the dropped
 * pages again, not take them for populated still. Run in a child (it sets
 * a trim threshold, so that only malloc_trim trims); exits with the calls
 * made by 400 KiB of small carves after that, at most 200.
 */
static int repopulated_after_trim(void)
{
	static void *blk[2000];
	struct heaplab_stats a, b;
	unsigned long long calls;

	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	for (int i = 0; i < 2000; i++)
		blk[i] = malloc(200);
	for (int i = 1999; i >= 0; i--)
		free(blk[i]);
	malloc_trim(0);
	for (int i = 0; i < 100; i++)
		blk[i] = malloc(6000);
	for (int i = 99; i >= 0; i--)
		free(blk[i]);
	a = stats();
	for (int i = 0; i < 2000; i++)
		blk[i] = malloc(200);
	b = stats();
	calls = b.madvise_calls - a.madvise_calls;
	return calls > 200 ? 200 : (int)calls;
}

static void test_populate_ahead(void)
{
	pthread_t t;
	int bad = -1, calls;

	malloc_trim(0);		/* free chunks' pages dropped: a big block's are fresh */
	ok(populate_checks("main arena") == 0,
	   "main arena: a small carve populates the pages ahead of top with one madvise, "
	   "keeps errno, and leaves a big block's pages alone");
	ok(pthread_create(&t, NULL, populate_thread, &bad) == 0 && pthread_join(t, NULL) == 0 &&
	   bad == 0, "a thread's arena: no populating in its own heap, committed top_pad at a time "
	   "(not a page)");
	calls = in_child(repopulated_after_trim);
	ok(calls >= 8 && calls <= 200, "small blocks over a trimmed heap grown back by big ones: "
	   "populated again (%d calls)", calls);
	ok(in_child(populate_refused) == 0, "refused by a seccomp filter (EPERM): one failed call, "
	   "then no more, and 4000 mallocs work on");
}

static void test_top_decay(void)
{
	int r = child_bits(top_decay_child);

	ok(!(r & 1 << 7), "a freed 16 MiB mapping raised the trim threshold to 32 MiB");
	ok(!(r & 1 << 6), "36 MiB of top hardly touched are trimmed at once, as glibc does");
	ok(!(r & 1 << 0), "36 MiB of top with every page touched: the break stays up (the top decays)");
	ok(!(r & 1 << 1), "the same blocks again come from the kept top: no sbrk");
	ok(!(r & 1 << 2), "... and their pages were still there: no page faults");
	ok(!(r & 1 << 3), "after a period in which all of top was used, it is all kept");
	ok(!(r & 1 << 4), "after one in which 12 MiB was, the untouched 24 MiB go back");
	ok(!(r & 1 << 5), "malloc_trim(0) gives back the rest at once");
}

/* "mmap cache: N mappings (B bytes, at most L), reused R, released E" */
static int cache_line(unsigned long v[5])
{
	const char *c = strstr(dump_text(), "mmap cache: ");

	return c && sscanf(c, "mmap cache: %lu mappings (%lu bytes, at most %lu), reused %lu, "
			   "released %lu", &v[0], &v[1], &v[2], &v[3], &v[4]) == 5;
}

/*
 * The cache of freed mappings, in a fresh process (one bit of the exit
 * status per failed check, see test_mmap_cache). 40 MiB is above the
 * dynamic threshold's cap: such blocks always get a mapping.
 */
static int mmap_cache_child(void)
{
	enum { MIB = 1 << 20, BIG = 40 * MIB };
	struct heaplab_stats a, b;
	unsigned long c[5];
	char *p, *q, *r, *u;
	size_t usable;
	long faults;
	int bad = 0, zero = 1;

	p = malloc(BIG);
	memset(p, 0x5a, BIG);
	usable = malloc_usable_size(p);
	a = stats();
	free(p);
	b = stats();
	if (b.munmap_calls != a.munmap_calls || !cache_line(c) || c[0] != 1 || c[1] < BIG)
		bad |= 1 << 0;
	faults = minor_faults();
	q = malloc(BIG);
	memset(q, 0x33, BIG);
	a = stats();
	if (a.mmap_calls != b.mmap_calls || minor_faults() - faults > 100 || !cache_line(c) ||
	    c[3] != 1 || c[0] != 0)
		bad |= 1 << 1;
	if (malloc_usable_size(q) != usable)
		bad |= 1 << 2;
	q = realloc(q, BIG + 8 * MIB);	/* a recycled mapping reallocs as any */
	if (!q || q[0] != 0x33 || q[BIG - 1] != 0x33 || malloc_usable_size(q) < BIG + 8 * MIB)
		bad |= 1 << 2;
	free(q);
	r = calloc(1, BIG);		/* the same mapping, full of 0x33: zeroed */
	for (size_t off = 0; off < BIG; off += 4096)
		zero &= r[off] == 0 && r[off + 4095] == 0;
	if (!zero)
		bad |= 1 << 3;
	free(r);
	a = stats();
	r = malloc(BIG + 4 * MIB);	/* grown with mremap, not mapped afresh */
	b = stats();
	if (b.mmap_calls != a.mmap_calls || b.mremap_calls != a.mremap_calls + 1 ||
	    malloc_usable_size(r) < BIG + 4 * MIB || malloc_usable_size(r) > BIG + 4 * MIB + 4096)
		bad |= 1 << 4;
	u = malloc(BIG);
	free(r);
	free(u);			/* 84 MiB freed: more than the cache holds */
	if (!cache_line(c) || c[0] != 1 || c[1] > c[2] || c[2] != 64 * MIB)
		bad |= 1 << 5;
	sleep_ms(80);
	a = stats();
	free(malloc(BIG));		/* the cached one is stale: unmapped, then a fresh one */
	b = stats();
	if (b.munmap_calls != a.munmap_calls + 1 || b.mmap_calls != a.mmap_calls + 1)
		bad |= 1 << 6;
	if (malloc_trim(0) != 1 || !cache_line(c) || c[0] != 0 || c[1] != 0 ||
	    stats().munmap_calls != b.munmap_calls + 1)
		bad |= 1 << 7;
	return bad;
}

static void test_mmap_cache(void)
{
	int r = child_bits(mmap_cache_child);

	ok(!(r & 1 << 0), "a freed 40 MiB mapping is kept in the mmap cache, not unmapped");
	ok(!(r & 1 << 1), "the next malloc(40 MiB) reuses it: no mmap, no page faults");
	ok(!(r & 1 << 2), "... with the usable size a fresh mapping has, and realloc keeps its data");
	ok(!(r & 1 << 3), "calloc given the recycled mapping zeroes it");
	ok(!(r & 1 << 4), "a larger request grows the cached mapping with mremap");
	ok(!(r & 1 << 5), "the cache never holds more than its bound (64 MiB)");
	ok(!(r & 1 << 6), "a mapping unused for a period goes back to the kernel");
	ok(!(r & 1 << 7), "malloc_trim(0) empties the cache");
}

static void test_unusual_breaks(void)
{
	int r;

	r = in_child(foreign_sbrk);
	ok(r == 0, "the program's own sbrk between mallocs: the heap goes on in a new segment, "
	   "fenced, and the program's memory is untouched (%d)", r);
	r = in_child(blocked_break);
	ok(r == 0, "a mapping blocks the break: the heap grows with mmap instead (%d)", r);
}

static void test_dump_format(void)
{
	const char *d = dump_text();

	ok(strstr(d, "heaplab heap dump, pid ") == d, "the dump starts with its title");
	ok(strstr(d, "arena 0 (main): heap ") != NULL, "it names the main arena");
	ok(strstr(d, "  top\n") != NULL, "it shows the top chunk");
	ok(strstr(d, "calls: malloc ") && strstr(d, "kernel: sbrk ") && strstr(d, "bytes: in-use "),
	   "it ends with the counters");
	{
		void *m = malloc(40 << 20);
		size_t size;

		is(chunk_state(m, &size), "mmapped", "it lists a chunk with a mapping of its own");
		ok(size >= (40 << 20), "... with its size (%zu)", size);
		free(m);
		is(chunk_state(m, NULL), "", "... until it is freed");
	}
}

/*
 * Freeing most of a big heap of small blocks gives its pages back without
 * malloc_trim; a small hole keeps its pages (they are likely reused).
 */
static void test_free_returns_pages(void)
{
	enum { N = 48 * 1024, SZ = 1000 };
	char **p = mmap(NULL, N * sizeof(*p), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char vec[16];
	struct heaplab_stats a, b;
	char *page;
	int resident = 0, intact = 1;

	if (!ok(p != MAP_FAILED, "a table outside the heap"))
		return;
	for (int i = 0; i < N; i++) {
		p[i] = malloc(SZ);
		memset(p[i], i & 0xff, SZ);
	}
	a = stats();
	for (int i = 0; i < N / 16; i += 2)
		free(p[i]);		/* small holes, kept apart */
	b = stats();
	ok(b.madvise_calls == a.madvise_calls, "small holes keep their pages");
	for (int i = 1; i < N / 16; i += 2)
		free(p[i]);
	for (int i = N / 16; i < N - N / 10; i++)
		free(p[i]);		/* the oldest 90% of 48 MiB */
	b = stats();
	ok(b.madvise_calls > a.madvise_calls, "freeing 90%% of the heap madvised (%llu calls)",
	   (unsigned long long)(b.madvise_calls - a.madvise_calls));
	page = (char *)(((uintptr_t)p[N / 4] + ps) & ~(uintptr_t)(ps - 1));
	if (mincore(page, 16 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 16; i++)
			resident += vec[i] & 1;
	ok(resident == 0, "pages in the middle of the freed blocks are not resident (%d of 16)",
	   resident);
	for (int i = N - N / 10; i < N; i++)
		intact &= p[i][0] == (char)(i & 0xff) && p[i][SZ - 1] == (char)(i & 0xff);
	ok(intact, "the surviving 10%% are untouched");
	for (int i = 0; i < N / 10; i++) {
		p[i] = malloc(SZ);
		memset(p[i], 7, SZ);
	}
	ok(1, "the released memory is reused");
	for (int i = 0; i < N / 10; i++)
		free(p[i]);
	for (int i = N - N / 10; i < N; i++)
		free(p[i]);
	munmap(p, N * sizeof(*p));
}

/*
 * The mapping holding addr, from /proc/self/smaps: whether its VmFlags
 * carry "hg" (MADV_HUGEPAGE) and its AnonHugePages in KiB. -1 if not found.
 */
static int vma_huge(const void *addr, long *anon_huge_kb)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, hg = -1;

	*anon_huge_kb = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)	/* a mapping's first line */
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			*anon_huge_kb = atol(line + 14);
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			hg = strstr(line, " hg") != NULL;
			break;
		}
	}
	fclose(f);
	return hg;
}

static int thp_kernel_on(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	return line[0] && !strstr(line, "[never]");
}

/*
 * With thp=1 (run as `behaviour thp`): a small heap is left alone; a heap
 * grown past 4 MiB and a fresh 8 MiB mapping ask for huge pages (and get
 * them when the kernel has THP on), a 1 MiB mapping does not; freeing 90%
 * of the heap and malloc_trim still give the memory back. Returns the
 * failed checks as bits.
 */
enum { THP_BLOCKS = 24 * 1024, THP_BLOCK = 1000 };

static int thp_child(void)
{
	static char *p[THP_BLOCKS];
	long ps = sysconf(_SC_PAGESIZE), kb, kb_full;
	unsigned char vec[64];
	char *small, *big, *brk0, *page;
	int bad = 0, resident = 0;

	small = malloc(THP_BLOCK);
	memset(small, 1, THP_BLOCK);
	if (vma_huge(small, &kb) != 0)
		bad |= 1;		/* a 1 KiB heap asked for huge pages */
	brk0 = sbrk(0);
	for (int i = 0; i < THP_BLOCKS; i++) {
		p[i] = malloc(THP_BLOCK);
		memset(p[i], 2, THP_BLOCK);
	}
	/* 16 MiB into a 24 MiB heap: past the 4 MiB from which it asks. */
	if (vma_huge(p[THP_BLOCKS * 2 / 3], &kb_full) != 1)
		bad |= 2;
	if (thp_kernel_on() && kb_full < 8192)
		bad |= 4;		/* advised, THP on, written: few huge pages */
	if (vma_huge(small, &kb) != 0)
		bad |= 8;		/* the heap's first 4 MiB stay in small pages */
	/* Free the oldest 90%: its pages go back, huge or not. */
	for (int i = 0; i < THP_BLOCKS - THP_BLOCKS / 10; i++)
		free(p[i]);
	page = (char *)(((uintptr_t)p[THP_BLOCKS / 2] + ps) & ~(uintptr_t)(ps - 1));
	if (mincore(page, 64 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 64; i++)
			resident += vec[i] & 1;
	vma_huge(p[THP_BLOCKS / 2], &kb);
	if (resident || kb > kb_full / 2)
		bad |= 64;		/* the freed middle of the heap is still there */
	/* The rest: top comes down to where the heap started growing. */
	for (int i = THP_BLOCKS - THP_BLOCKS / 10; i < THP_BLOCKS; i++)
		free(p[i]);
	malloc_trim(0);
	if ((char *)sbrk(0) > brk0 + (1 << 20))
		bad |= 128;
	/* Mappings last: freeing one raises the mmap threshold. */
	big = malloc(1 << 20);
	if (vma_huge(big, &kb) != 0)
		bad |= 32;		/* too small for a huge page */
	free(big);
	big = malloc(8 << 20);
	memset(big, 3, 8 << 20);
	if (vma_huge(big + (4 << 20), &kb) != 1)
		bad |= 16;
	free(big);
	free(small);
	return bad;
}

/*
 * In a fork child: this test again as "/proc/self/exe MODE", with options
 * HEAPLAB_OPTIONS (NULL: none, the library's defaults). Returns only if
 * the exec failed.
 */
static int exec_mode(char *mode, const char *options)
{
	char *args[] = { "/proc/self/exe", mode, NULL };

	if (options)
		setenv("HEAPLAB_OPTIONS", options, 1);
	else
		unsetenv("HEAPLAB_OPTIONS");
	execv(args[0], args);
	return 255;
}

static int thp_exec(void)
{
	return exec_mode("thp", "tcache_count=0,thp=1");
}

/*
 * A thread's arena heap (mmap'd, committed as it grows) with thp=1: advised
 * past 4 MiB, and its pages gone once everything in it is freed.
 */
static void *thp_arena_thread(void *arg)
{
	static char *p[THP_BLOCKS];
	long ps = sysconf(_SC_PAGESIZE), kb;
	unsigned char vec[16];
	char *page;
	int *bad = arg, resident = 0;

	for (int i = 0; i < THP_BLOCKS; i++) {
		p[i] = malloc(THP_BLOCK);
		memset(p[i], 2, THP_BLOCK);
	}
	if (vma_huge(p[THP_BLOCKS * 2 / 3], &kb) != 1)
		*bad |= 1;
	if (vma_huge(p[0], &kb) != 0)
		*bad |= 2;		/* its first 4 MiB stay in small pages */
	page = (char *)(((uintptr_t)p[THP_BLOCKS * 2 / 3] + ps) & ~(uintptr_t)(ps - 1));
	for (int i = 0; i < THP_BLOCKS; i++)
		free(p[i]);
	malloc_trim(0);
	if (mincore(page, 16 * (size_t)ps, vec) == 0)
		for (int i = 0; i < 16; i++)
			resident += vec[i] & 1;
	if (resident)
		*bad |= 4;
	return NULL;
}

static int thp_arena_child(void)
{
	pthread_t t;
	int bad = 0;

	if (pthread_create(&t, NULL, thp_arena_thread, &bad) != 0 || pthread_join(t, NULL) != 0)
		return 255;
	return bad;
}

static int thp_arena_exec(void)
{
	return exec_mode("thp-arena", "tcache_count=0,thp=1");
}

/* By default (thp=0) nothing asks for huge pages: not a big heap, not a big mapping. */
static int thp_off_child(void)
{
	static char *p[THP_BLOCKS];
	char *big;
	long kb;
	int bad = 0;

	for (int i = 0; i < THP_BLOCKS; i++) {
		p[i] = malloc(THP_BLOCK);
		memset(p[i], 2, THP_BLOCK);
	}
	if (vma_huge(p[THP_BLOCKS * 2 / 3], &kb) != 0)
		bad |= 1;
	big = malloc(8 << 20);
	memset(big, 3, 8 << 20);
	if (vma_huge(big + (4 << 20), &kb) != 0)
		bad |= 2;
	free(big);
	for (int i = 0; i < THP_BLOCKS; i++)
		free(p[i]);
	return bad;
}

/*
 * glibc-simple's pattern (allocator/bench/workloads) at a tenth of the
 * bench, with the thread cache (its default): batches of 25 to 1600 blocks
 * of each size from 16 to 1024 bytes. The cache keeps more or fewer of a
 * big batch by turns, so top is needed to 313 KiB and to 1 MiB by turns:
 * a guard that halved its pad at every trim not paid back trimmed the 1
 * MiB after each small turn and faulted it back in for the next (28 trims
 * and 64 growths; 5 and 20 when the pad is halved only after a period
 * without growth). Prints the counts; bits: too many trims, growths.
 */
static int turns_child(void)
{
	static const size_t sizes[] = { 16, 32, 64, 128, 256, 512, 1024 };
	static const int batches[] = { 25, 100, 400, 1600 };
	static void *blk[1600];
	struct heaplab_stats a = stats(), b;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t t = 0; t < sizeof(batches) / sizeof(batches[0]); t++) {
			for (int r = 0; r < 40000 / batches[t]; r++) {
				for (int i = 0; i < batches[t]; i++)
					blk[i] = malloc(sizes[s]);
				for (int i = 0; i < batches[t]; i++)
					free(blk[i]);
			}
		}
	}
	b = stats();
	printf("# glibc-simple's batches: %llu trims, %llu growths\n",
	       (unsigned long long)(b.trims - a.trims), (unsigned long long)(b.heap_grows - a.heap_grows));
	return (b.trims - a.trims > 12) | (b.heap_grows - a.heap_grows > 32) << 1;
}

static int turns_exec(void)
{
	return exec_mode("turns", NULL);
}

static void test_refault_guard_turns(void)
{
	int bits = child_bits(turns_exec);

	ok(bits == 0, "batches whose need of top differs by turns: top kept, not trimmed "
	   "and refaulted at each turn (bits %d)", bits);
}

static void test_thp(void)
{
	int bits = child_bits(thp_off_child);

	ok(!(bits & 1), "by default a 24 MiB heap does not ask for huge pages");
	ok(!(bits & 2), "... nor does an 8 MiB mapping");
	bits = child_bits(thp_exec);
	ok(!(bits & 1), "thp=1: a 1 KiB heap does not ask for huge pages");
	ok(!(bits & 2), "thp=1: a heap grown to 24 MiB asks for them (VmFlags hg) past 4 MiB");
	if (thp_kernel_on())
		ok(!(bits & 4), "... and gets them (AnonHugePages)");
	else
		ok(1, "# SKIP transparent huge pages are off in this kernel");
	ok(!(bits & 8), "... its first 4 MiB stay in small pages");
	ok(!(bits & 64), "thp=1: freeing 90%% of the heap gives its pages back, huge ones too");
	ok(!(bits & 128), "thp=1: freeing the rest brings the break back down");
	ok(!(bits & 32), "thp=1: a 1 MiB mapping does not ask for huge pages");
	ok(!(bits & 16), "thp=1: an 8 MiB mapping does");
	bits = child_bits(thp_arena_exec);
	ok(!(bits & 1), "thp=1: a thread's arena heap grown to 24 MiB asks for huge pages");
	ok(!(bits & 2), "... not its first 4 MiB");
	ok(!(bits & 4), "... and its pages go back when it is all freed");
}

int main(int argc, char **argv)
{
	/* The bins themselves: no thread cache in front of them. */
	setenv("HEAPLAB_OPTIONS", "tcache_count=0", 0);
	preload_self(argv);
	if (argc > 1 && !strcmp(argv[1], "thp"))
		return thp_child();
	if (argc > 1 && !strcmp(argv[1], "turns"))
		return turns_child();
	if (argc > 1 && !strcmp(argv[1], "thp-arena"))
		return thp_arena_child();
	setvbuf(stdout, NULL, _IONBF, 0);	/* no stdio buffer appearing mid-test */
	test_refault_guard();	/* first: they need the dynamic rule untouched */
	test_refault_guard_turns();
	test_refault_guard_thread();
	test_top_decay();
	test_mmap_cache();
	test_fastbins();
	test_unsorted_sorting();
	test_large_best_fit();
	test_realloc_in_place();
	test_realloc_top_past_threshold();
	test_dump_format();
	test_populate_ahead();
	test_dynamic_threshold();
	test_trim();
	test_malloc_trim_pages();
	test_unusual_breaks();
	test_free_returns_pages();
	test_thp();
	return tap_done();
}
