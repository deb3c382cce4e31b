// SPDX-License-Identifier: MIT
/*
 * threads.c — libheaplab.so with threads (preloaded): the per-thread cache,
 * one arena per thread up to arena_max, chunks freed by another thread going
 * home to their arena, heaps shrinking and unmapped, caches returned at
 * thread exit, and fork from a threaded process.
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

static void fill(unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(tag + i);
}

static int check(const unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(tag + i))
			return 0;
	return 1;
}

/* A block that carries its own size and tag in front of its pattern. */
struct block {
	size_t n;
	unsigned tag;
	unsigned char data[];
};

static struct block *block_new(unsigned *seed)
{
	unsigned r = rnd(seed);
	size_t n = r % 8 == 0 ? r % 200000 : r % 700;
	struct block *b = malloc(sizeof(*b) + n);

	if (b) {
		b->n = n;
		b->tag = rnd(seed);
		fill(b->data, n, b->tag);
	}
	return b;
}

static int block_ok(const struct block *b)
{
	return check(b->data, b->n, b->tag);
}

/* Stress: private churn plus a shared table where threads swap blocks. */
#define SHARED 256
static struct block *shared[SHARED];
static int stress_bad;

static void *stress(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct block *mine[64] = { 0 };
	int bad = 0;

	for (int i = 0; i < 60000; i++) {
		unsigned r = rnd(&seed);
		int k = (int)(r % 64);

		if (r & 0x100000) {
			if (mine[k] && !block_ok(mine[k]))
				bad++;
			free(mine[k]);
			mine[k] = block_new(&seed);
		} else {
			/* Another thread's block, freed here: cross-thread free. */
			struct block *b = __atomic_exchange_n(&shared[r % SHARED], block_new(&seed),
							      __ATOMIC_ACQ_REL);

			if (b && !block_ok(b))
				bad++;
			free(b);
		}
	}
	for (int k = 0; k < 64; k++) {
		if (mine[k] && !block_ok(mine[k]))
			bad++;
		free(mine[k]);
	}
	__atomic_add_fetch(&stress_bad, bad, __ATOMIC_RELAXED);
	return NULL;
}

static void test_stress(void)
{
	pthread_t t[4];
	int bad = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, stress, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < SHARED; i++) {
		if (shared[i] && !block_ok(shared[i]))
			bad++;
		free(shared[i]);
		shared[i] = NULL;
	}
	ok(stress_bad == 0 && bad == 0, "4 threads x 60000 ops with cross-thread frees: contents intact");
	ok(stats().arenas >= 2, "threads got arenas of their own (%u arenas)", stats().arenas);
}

/* Producer/consumer: one thread allocates, another checks and frees. */
#define RING 1024
static struct block *ring[RING];
static unsigned head, tail;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static int consumer_bad;
enum { ITEMS = 100000 };

static void *producer(void *arg)
{
	unsigned seed = 77;

	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		struct block *b = block_new(&seed);

		pthread_mutex_lock(&ring_lock);
		while (head - tail == RING)
			pthread_cond_wait(&ring_cond, &ring_lock);
		ring[head++ % RING] = b;
		pthread_cond_broadcast(&ring_cond);
		pthread_mutex_unlock(&ring_lock);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		struct block *b;

		pthread_mutex_lock(&ring_lock);
		while (head == tail)
			pthread_cond_wait(&ring_cond, &ring_lock);
		b = ring[tail++ % RING];
		pthread_cond_broadcast(&ring_cond);
		pthread_mutex_unlock(&ring_lock);
		if (!b || !block_ok(b))
			consumer_bad++;
		free(b);
	}
	return NULL;
}

static void test_producer_consumer(void)
{
	struct heaplab_stats before = stats(), after;
	pthread_t p, c;

	pthread_create(&p, NULL, producer, NULL);
	pthread_create(&c, NULL, consumer, NULL);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	after = stats();
	ok(consumer_bad == 0, "producer/consumer: 100000 blocks allocated in one thread, freed in another");
	ok(after.in_use_bytes < before.in_use_bytes + (256 << 10),
	   "... and all their memory is free again (in use %llu -> %llu)",
	   (unsigned long long)before.in_use_bytes, (unsigned long long)after.in_use_bytes);
}

/* A chunk allocated by a thread, freed by main, goes back to its arena. */
static void *alloc_5000(void *arg)
{
	(void)arg;
	return malloc(5000);	/* above the thread cache: straight to the bins */
}

/* The arena header line above the dump line of mem. */
static int arena_of_chunk(const void *mem, char *state, size_t len)
{
	const char *d = dump_text(), *line, *a, *last = NULL;
	char key[64];
	int n = -1;

	snprintf(key, sizeof(key), "0x%016lx  0x%016lx", (unsigned long)mem - 16, (unsigned long)mem);
	line = strstr(d, key);
	if (!line)
		return -1;
	for (a = d; (a = strstr(a, "\narena ")) && a < line; a++)
		last = a;
	if (last)
		sscanf(last, "\narena %d", &n);
	snprintf(state, len, "%s", chunk_state(mem, NULL));
	return n;
}

/*
 * The arena and state of the chunk that holds address mem (a freed chunk
 * may have merged with a free neighbour), from one dump.
 */
static int arena_holding(const void *mem, char *state, size_t len)
{
	const char *d = dump_text(), *l;
	uintptr_t a = (uintptr_t)mem;
	int arena = -1;

	for (l = d; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		unsigned long c, m;
		size_t size;
		char st[32] = "", bin[32] = "";

		if (sscanf(l, "arena %d", &arena) == 1)
			continue;
		if (sscanf(l, " %lx %lx %zu %31s %31s", &c, &m, &size, st, bin) >= 4 &&
		    c <= a && a < c + size) {
			snprintf(state, len, "%s %s", st, bin);
			return arena;
		}
	}
	return -1;
}

static void test_chunk_goes_home(void)
{
	pthread_t t;
	void *p;
	char state[128];
	int home, after;

	pthread_create(&t, NULL, alloc_5000, NULL);
	pthread_join(t, &p);
	home = arena_of_chunk(p, state, sizeof(state));
	ok(home > 0, "a thread's chunk comes from a non-main arena (arena %d)", home);
	free(p);
	after = arena_holding(p, state, sizeof(state));
	ok(after == home && (strncmp(state, "free", 4) == 0 || strncmp(state, "top", 3) == 0),
	   "freed by the main thread, it is free in its own arena (arena %d: %s)", after, state);
}

/*
 * Chunks of another live thread's arena that this thread frees past what
 * its cache keeps go through its outbox to that arena's pending list,
 * without the arena's lock: they are not free in the arena until its own
 * thread next goes there, which takes them back (into its cache).
 */
#define OB_N 300
static void *ob_blocks[OB_N];
static int ob_stage, ob_reused;
static char *ob_lo, *ob_hi;	/* the memory ob_blocks span */
static pthread_mutex_t ob_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ob_cond = PTHREAD_COND_INITIALIZER;

static void ob_set(int stage)
{
	pthread_mutex_lock(&ob_lock);
	ob_stage = stage;
	pthread_cond_broadcast(&ob_cond);
	pthread_mutex_unlock(&ob_lock);
}

static void ob_wait(int stage)
{
	pthread_mutex_lock(&ob_lock);
	while (ob_stage < stage)
		pthread_cond_wait(&ob_cond, &ob_lock);
	pthread_mutex_unlock(&ob_lock);
}

static void *ob_owner(void *arg)
{
	void *q[OB_N], *big;

	(void)arg;
	for (int i = 0; i < OB_N; i++) {
		ob_blocks[i] = malloc(200);
		if (!ob_lo || (char *)ob_blocks[i] < ob_lo)
			ob_lo = ob_blocks[i];
		if ((char *)ob_blocks[i] + 200 > ob_hi)
			ob_hi = (char *)ob_blocks[i] + 200;
	}
	ob_set(1);
	ob_wait(2);
	big = malloc(3000);	/* past the cache: takes the arena lock */
	for (int i = 0; i < OB_N; i++) {
		q[i] = malloc(200);
		ob_reused += (char *)q[i] >= ob_lo && (char *)q[i] < ob_hi;
	}
	ob_set(3);
	ob_wait(4);
	for (int i = 0; i < OB_N; i++)
		free(q[i]);
	free(big);
	return NULL;
}

static void test_outbox(void)
{
	pthread_t t;
	int pending = 0, in_bins = 0, status = 0, first = 7 + 40;
	pid_t pid;

	pthread_create(&t, NULL, ob_owner, NULL);
	ob_wait(1);
	/* 7 fill this thread's cache bin, 40 more wait in the outbox. */
	for (int i = 0; i < first; i++)
		free(ob_blocks[i]);
	for (int i = 0; i < first; i++) {
		const char *st = chunk_state(ob_blocks[i], NULL);

		pending += strncmp(st, "free tcache", 11) == 0;
		in_bins += strcmp(st, "free unsorted") == 0 || strncmp(st, "free small", 10) == 0;
	}
	ok(pending == first && in_bins == 0,
	   "another live thread's chunks freed here wait for it, none freed into its bins "
	   "(%d of %d waiting, %d in bins)", pending, first, in_bins);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);
		free(ob_blocks[first - 1]);	/* in this thread's outbox */
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	   "freeing one of them again aborts (double free)");
	for (int i = first; i < OB_N; i++)
		free(ob_blocks[i]);
	malloc_trim(0);		/* sends what is left in the outbox home */
	ob_set(2);
	ob_wait(3);
	pending = 0;
	for (int i = 0; i < OB_N; i++)
		pending += strcmp(chunk_state(ob_blocks[i], NULL), "free tcache (another thread)") == 0;
	/*
	 * Its first trip to the arena took them all (its cache bin, which it
	 * then emptied, and its bins); most of its next mallocs reuse their
	 * memory (7 stay in this thread's cache). Not the same addresses:
	 * where the freed blocks merged with top or each other, the 3000
	 * bytes of that trip may be carved first, shifting the rest.
	 */
	ok(pending == 0 && ob_reused >= OB_N / 2,
	   "the owner took them back: %d still waiting, %d of its next 300 mallocs are in their memory",
	   pending, ob_reused);
	ob_set(4);
	pthread_join(t, NULL);
}

/*
 * What others freed for a thread comes back into its cache, past the
 * limit its bin has for its own frees (7): a thread whose chunks another
 * frees (a producer) finds them there, instead of in its arena's bins
 * through a free and a malloc each.
 */
#define AD_N (7 + 4 * 64)
static void *ad_blocks[AD_N], *ad_used[40], *ad_trips[1200];
static int ad_stage, ad_cached, ad_left;
static pthread_mutex_t ad_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ad_cond = PTHREAD_COND_INITIALIZER;

static void ad_set(int stage)
{
	pthread_mutex_lock(&ad_lock);
	ad_stage = stage;
	pthread_cond_broadcast(&ad_cond);
	pthread_mutex_unlock(&ad_lock);
}

static void ad_wait(int stage)
{
	pthread_mutex_lock(&ad_lock);
	while (ad_stage < stage)
		pthread_cond_wait(&ad_cond, &ad_lock);
	pthread_mutex_unlock(&ad_lock);
}

static void *ad_owner(void *arg)
{
	void *p;

	(void)arg;
	for (int i = 0; i < AD_N; i++)
		ad_blocks[i] = malloc(200);
	ad_set(1);
	ad_wait(2);
	p = malloc(200);	/* its bin is empty: a trip to the arena */
	for (int i = 0; i < AD_N; i++)
		ad_cached += strcmp(chunk_state(ad_blocks[i], NULL), "free tcache") == 0;
	/*
	 * It goes on using that size a little, and the arena a lot (each
	 * malloc(500) from an empty bin is a trip): the surplus that sat
	 * unused from one look to the next goes back to the arena.
	 */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 10; i++)
			ad_used[round * 10 + i] = malloc(200);
		for (int i = 0; i < 300; i++)
			ad_trips[round * 300 + i] = malloc(500);
	}
	for (int i = 0; i < AD_N; i++)
		ad_left += strcmp(chunk_state(ad_blocks[i], NULL), "free tcache") == 0;
	for (int i = 0; i < 40; i++)
		free(ad_used[i]);
	for (int i = 0; i < 1200; i++)
		free(ad_trips[i]);
	free(p);
	return NULL;
}

static void test_adopt(void)
{
	pthread_t t;

	pthread_create(&t, NULL, ad_owner, NULL);
	ad_wait(1);
	/* Up to 7 into this thread's cache, then four outboxes (or more). */
	for (int i = 0; i < AD_N; i++)
		free(ad_blocks[i]);
	ad_set(2);
	pthread_join(t, NULL);
	malloc_trim(0);		/* sends what is left in this thread's outbox home */
	ok(ad_cached >= 4 * 64 - 1,
	   "chunks another thread freed come back into their owner's cache past its bin's "
	   "limit of 7 (%d of %d there after one malloc)", ad_cached, AD_N);
	ok(ad_left <= 7,
	   "what sat there unused while it made 1200 trips to the arena went back "
	   "(%d left in its cache, of %d less the 40 it used)", ad_left, ad_cached);
}

/* Heaps of a non-main arena grow, then shrink and go away. */
static void *big_churn(void *arg)
{
	enum { N = 1000 };
	static char *p[N];
	struct heaplab_stats *out = arg;

	mallopt(M_MMAP_THRESHOLD, 1 << 20);	/* 100 KiB chunks from the heaps */
	for (int i = 0; i < N; i++) {
		p[i] = malloc(100 << 10);
		if (p[i])
			p[i][0] = 1;
	}
	out[0] = stats();
	for (int i = N - 1; i >= 0; i--)
		free(p[i]);
	out[1] = stats();
	return NULL;
}

static void test_heaps_shrink(void)
{
	struct heaplab_stats st[2], before = stats();
	pthread_t t;

	pthread_create(&t, NULL, big_churn, st);
	pthread_join(t, NULL);
	ok(st[0].heaps >= before.heaps + 1, "100 MiB in a thread's arena took more heaps (%llu -> %llu)",
	   (unsigned long long)before.heaps, (unsigned long long)st[0].heaps);
	ok(st[1].heaps < st[0].heaps, "freeing it unmapped the emptied heaps (%llu left)",
	   (unsigned long long)st[1].heaps);
	/*
	 * Back to what the heaps held before, not 90 MiB less than at the
	 * peak: the thread may reuse an arena an earlier test's thread left
	 * with free memory below a block still live (in this thread's
	 * cache), which the 100 MiB partly filled and which stays mapped.
	 */
	ok(st[0].heap_bytes >= before.heap_bytes + (32 << 20) &&
	   st[1].heap_bytes <= before.heap_bytes + (1 << 20),
	   "and gave the memory back (%llu KiB before, %llu at the peak, %llu after)",
	   (unsigned long long)before.heap_bytes >> 10,
	   (unsigned long long)st[0].heap_bytes >> 10, (unsigned long long)st[1].heap_bytes >> 10);
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
}

/* Thread exit returns the thread's cache: nothing leaks per thread. */
static void *short_lived(void *arg)
{
	void *p[20];

	(void)arg;
	for (int i = 0; i < 20; i++)
		p[i] = malloc(16 + 48 * (i % 10));
	for (int i = 0; i < 20; i++)
		free(p[i]);	/* all of them land in this thread's cache */
	return NULL;
}

static void test_thread_exit(void)
{
	struct heaplab_stats a, b;
	pthread_t t;

	for (int i = 0; i < 20; i++) {
		pthread_create(&t, NULL, short_lived, NULL);
		pthread_join(t, NULL);
	}
	a = stats();
	for (int i = 0; i < 2000; i++) {
		pthread_create(&t, NULL, short_lived, NULL);
		pthread_join(t, NULL);
	}
	b = stats();
	ok(b.in_use_bytes <= a.in_use_bytes + 4096,
	   "2000 threads that exit with full caches leak nothing (in use %lld bytes more)",
	   (long long)(b.in_use_bytes - a.in_use_bytes));
	ok(b.arenas == a.arenas, "their arenas are reused, not multiplied (%u arenas)", b.arenas);
	ok(strstr(dump_text(), "tcache (another thread)") == NULL,
	   "no chunk is left in the cache of a thread that exited");
	ok(b.heap_bytes <= a.heap_bytes + (256 << 10), "the heaps do not grow (%llu -> %llu KiB)",
	   (unsigned long long)a.heap_bytes >> 10, (unsigned long long)b.heap_bytes >> 10);
}

/* Fork while other threads hammer the allocator; both sides allocate. */
static volatile int hammering;

static void *hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (__atomic_load_n(&hammering, __ATOMIC_RELAXED)) {
		struct block *b = block_new(&seed);

		free(b);
	}
	return NULL;
}

static void test_fork(void)
{
	pthread_t t[3];
	int children_ok = 0, parent_ok = 1;

	hammering = 1;
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 100));
	for (int n = 0; n < 30; n++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			unsigned seed = (unsigned)n;
			struct block *b[100];
			int bad = 0;

			alarm(10);	/* a deadlock shows up as SIGALRM */
			for (int i = 0; i < 100; i++)
				b[i] = block_new(&seed);
			for (int i = 0; i < 100; i++) {
				bad += !block_ok(b[i]);
				free(b[i]);
			}
			_exit(bad ? 1 : 0);
		}
		{
			unsigned seed = (unsigned)n + 1000;
			struct block *b = block_new(&seed);

			parent_ok &= block_ok(b);
			free(b);
		}
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			children_ok++;
	}
	hammering = 0;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ok(children_ok == 30, "30 forks from a 4-thread process: every child allocates and exits (%d)",
	   children_ok);
	ok(parent_ok, "the parent allocates after each fork");
}

/* The thread cache: LIFO per size, 7 deep, then the arena's bins. */
static void test_tcache(void)
{
	void *p[8];
	size_t size;

	void *guard;

	for (int i = 0; i < 8; i++)
		p[i] = malloc(200);
	guard = malloc(200);	/* keeps the eighth from merging into top */
	for (int i = 0; i < 8; i++)
		free(p[i]);
	ok(strcmp(chunk_state(p[0], &size), "free tcache") == 0, "a freed 208-byte chunk waits in the thread cache");
	ok(strcmp(chunk_state(p[6], NULL), "free tcache") == 0, "so do the next six");
	ok(strncmp(chunk_state(p[7], NULL), "free", 4) == 0 &&
	   strcmp(chunk_state(p[7], NULL), "free tcache") != 0,
	   "the eighth goes to the arena (%s)", chunk_state(p[7], NULL));
	ok(malloc(200) == p[6], "malloc takes the last cached chunk first");
	free(guard);
}

/* realloc that moves a chunk leaves the old one in the cache, as glibc. */
static void test_realloc_to_tcache(void)
{
	char *p = malloc(300), *guard = malloc(300), *q;

	memset(p, 7, 300);
	q = realloc(p, 5000);	/* the guard stops it growing in place */
	ok(q != p && q[299] == 7, "realloc(300 -> 5000) moved the block, contents kept");
	ok(strcmp(chunk_state(p, NULL), "free tcache") == 0,
	   "the chunk it left waits in the thread cache (%s)", chunk_state(p, NULL));
	ok(malloc(300) == p, "the next malloc(300) takes it back");
	free(q);
	free(guard);
}

static int cached_among(void **p, int n)
{
	int cached = 0;

	for (int i = 0; i < n; i++)
		cached += strcmp(chunk_state(p[i], NULL), "free tcache") == 0;
	return cached;
}

/*
 * By default a bin grows when the program keeps freeing more than it holds
 * and then allocating them again; one burst of frees does not grow it (the
 * test above). A grown bin that stays idle while the thread keeps going
 * to the arena for other sizes gives half of its chunks back.
 */
static void test_tcache_adapts(void)
{
	void *p[100], *guard = NULL, *other[700];
	int n;

	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 100; i++)
			p[i] = malloc(400);
		if (round == 0)
			guard = malloc(400);
		for (int i = 0; i < 100; i++)
			free(p[i]);
	}
	ok(cached_among(p, 100) == 100,
	   "after 8 batches of 100 the 416-byte bin holds all 100 (%d)", cached_among(p, 100));
	/*
	 * Trips to the arena for another size (each 112-byte malloc misses):
	 * within two looks for idle bins (2 x 256 trips) the oldest goes.
	 */
	for (n = 0; n < 700; n++) {
		other[n] = malloc(100);
		if (n % 16 == 15 && strcmp(chunk_state(p[0], NULL), "free tcache") != 0)
			break;
	}
	ok(n < 600, "idle, the bin gave chunks back after %d trips to the arena", n + 1);
	ok(cached_among(p, 100) == 50, "half of them (%d still cached)", cached_among(p, 100));
	ok(strcmp(chunk_state(p[99], NULL), "free tcache") == 0 &&
	   strcmp(chunk_state(p[50], NULL), "free tcache") == 0 &&
	   strcmp(chunk_state(p[49], NULL), "free tcache") != 0,
	   "the newest stayed, the oldest went to the arena");
	malloc_trim(0);
	ok(cached_among(p, 100) == 7, "malloc_trim leaves the base 7 (%d still cached)",
	   cached_among(p, 100));
	for (int i = 0; i < n && i < 700; i++)
		free(other[i]);
	free(guard);
}

/*
 * `threads borrow`: a thread of a fresh process (its own new arena, an
 * empty cache) misses its bin when nothing in the arena fits: it borrows
 * the smallest larger cached chunk, at most twice its size, before it
 * carves top. Exit status: the checks that failed, as bits.
 */
static void *borrow_thread(void *arg)
{
	void *p[8], *q, *r;
	intptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < 8; i++)
		p[i] = malloc(200);	/* 208-byte chunks, from top */
	for (int i = 0; i < 8; i++)
		free(p[i]);		/* 7 cached; the last goes back into top */
	q = malloc(184);		/* 192: its bin is empty, the arena's bins too */
	if (q != p[6] || malloc_usable_size(q) < 200)
		bad |= 1;
	r = malloc(80);			/* 96: twice that is less than 208 */
	for (int i = 0; i < 7; i++)
		if (r == p[i])
			bad |= 2;
	free(q);			/* back to its own bin */
	if (malloc(200) != q)
		bad |= 4;
	return (void *)bad;
}

static int borrow(void)
{
	pthread_t t;
	void *bad = (void *)(intptr_t)128;

	if (pthread_create(&t, NULL, borrow_thread, NULL) == 0)
		pthread_join(t, &bad);
	return (int)(intptr_t)bad;
}

static void test_tcache_borrow(void)
{
	pid_t pid = fork();
	int status = -1, bits;

	if (pid == 0) {
		execl("/proc/self/exe", "threads", "borrow", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	bits = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	ok(!(bits & ~7), "borrow: the child ran (status %d)", bits);
	ok(!(bits & 1), "a miss the arena would carve from top takes the next larger cached chunk");
	ok(!(bits & 2), "... but none more than twice its size");
	ok(!(bits & 4), "... and freed, the chunk goes back to its own bin");
}

static void test_arena_max(void)
{
	/* Now a fresh process state is not available; check the limit holds. */
	ok(stats().arenas <= 8 * (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
	   "never more arenas than 8 x cores (%u)", stats().arenas);
}

/* `threads arenas`: four threads alive at once, then print the arena count. */
static pthread_barrier_t all_in;

static void *hold_arena(void *arg)
{
	void *p = malloc(100);

	(void)arg;
	pthread_barrier_wait(&all_in);
	free(p);
	return NULL;
}

static int count_arenas(void)
{
	pthread_t t[4];

	pthread_barrier_init(&all_in, NULL, 5);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hold_arena, NULL);
	pthread_barrier_wait(&all_in);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("%u\n", stats().arenas);
	return 0;
}

/* `threads batches`: 8 batches of 100 x 400 B, then how many of the last are cached. */
static int batches(void)
{
	void *p[100], *guard = malloc(400);

	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 100; i++)
			p[i] = malloc(400);
		for (int i = 0; i < 100; i++)
			free(p[i]);
	}
	printf("%d\n", cached_among(p, 100));
	free(guard);
	return 0;
}

int main(int argc, char **argv)
{
	preload_self(argv);
	if (argc == 2 && !strcmp(argv[1], "arenas"))
		return count_arenas();
	if (argc == 2 && !strcmp(argv[1], "batches"))
		return batches();
	if (argc == 2 && !strcmp(argv[1], "borrow"))
		return borrow();
	setvbuf(stdout, NULL, _IONBF, 0);
	test_tcache();
	test_realloc_to_tcache();
	test_tcache_adapts();
	test_tcache_borrow();
	test_stress();
	test_producer_consumer();
	test_chunk_goes_home();
	test_outbox();
	test_adopt();
	test_heaps_shrink();
	test_thread_exit();
	test_fork();
	test_arena_max();
	return tap_done();
}
