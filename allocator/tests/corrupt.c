// SPDX-License-Identifier: MIT
/*
 * corrupt.c — heap corruption is reported and aborts, never goes on
 * silently. Each case runs in a child (this program re-executed with the
 * case's name, libheaplab.so preloaded): the child prints the pointer the
 * report must name, corrupts the heap; the parent checks SIGABRT and the
 * exact line "heaplab: FUNCTION(): PROBLEM (ptr=0x...)" on stderr.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

/* Writing outside the objects is the point of this file. */
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"

static void expect_ptr(const void *p)
{
	printf("%p\n", p);
	fflush(stdout);
}

static void *volatile sink;

static void double_free_fast(void)
{
	char *p = malloc(24);

	expect_ptr(p);
	free(p);
	free(p);
}

/* Sizes above 1032 bypass the thread cache and reach the bins. */
static void double_free_small(void)
{
	char *p = malloc(1500);

	sink = malloc(10);
	expect_ptr(p);
	free(p);
	free(p);
}

static void double_free_top(void)
{
	char *p = malloc(5000);	/* the last chunk: freeing it feeds top */

	expect_ptr(p);
	free(p);
	free(p);
}

static void invalid_stack(void)
{
	_Alignas(16) size_t fake[8] = { 0, 0x91 };	/* a plausible header */

	expect_ptr(&fake[2]);
	free(&fake[2]);
}

static void invalid_misaligned(void)
{
	char *p = malloc(100);

	expect_ptr(p + 8);
	free(p + 8);
}

static void invalid_interior(void)
{
	char *p = malloc(1000);

	memset(p, 0, 1000);
	expect_ptr(p + 512);
	free(p + 512);
}

static void invalid_fake_arena(void)
{
	/* A header claiming a chunk of another arena's heap. */
	_Alignas(16) size_t fake[8] = { 0, 0x90 | 4 | 1 };

	expect_ptr(&fake[2]);
	free(&fake[2]);
}

static void invalid_fake_mmapped(void)
{
	/* A page that looks exactly like a mapping of one chunk. */
	static _Alignas(4096) size_t page[512];

	page[0] = 0;
	page[1] = 4096 | 2;	/* size 4096, IS_MMAPPED */
	expect_ptr(&page[2]);
	free(&page[2]);
}

/* The same, for a chunk memalign placed inside its mapping (not at 16). */
static void invalid_fake_aligned_mmapped(void)
{
	static _Alignas(4096) size_t page[512];

	page[4] = 32;			/* prev_size: the chunk's offset in the mapping */
	page[5] = (4096 - 32) | 2;
	expect_ptr(&page[6]);
	free(&page[6]);
}

/* A page of the program's own: where a mapping's chunk would start. */
static void invalid_foreign_mapping(void)
{
	char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	expect_ptr(map + 16);
	free(map + 16);
}

/*
 * A big block freed twice: its mapping went back to the kernel (freeing it
 * raised the threshold to its size, so the cache does not keep it), and
 * its header with it. Reading it would be a SIGSEGV.
 */
static void double_free_mmapped(void)
{
	char *p = malloc(1 << 20);

	expect_ptr(p);
	free(p);
	free(p);
}

/* The same with the threshold set: the freed mapping is in the cache. */
static void double_free_mmapped_cached(void)
{
	char *p;

	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	p = malloc(1 << 20);
	expect_ptr(p);
	free(p);
	free(p);
}

/* memalign's mapped chunk: its user data at the start of a page. */
static void double_free_memalign_mmapped(void)
{
	char *p = memalign(4096, 1 << 20);

	expect_ptr(p);
	free(p);
	free(p);
}

static void realloc_freed_mmapped(void)
{
	char *p = malloc(1 << 20);

	expect_ptr(p);
	free(p);
	sink = realloc(p, 2 << 20);
}

static void corrupt_size_large(void)
{
	char *p = malloc(100), *q = malloc(100);

	sink = malloc(100);
	((size_t *)q)[-1] = 0x10001;	/* an overflow from p: q claims 64 KiB */
	expect_ptr(q);
	free(q);
	(void)p;
}

static void corrupt_size_zero(void)
{
	char *p = malloc(100), *q = malloc(100);

	sink = malloc(100);
	memset(p, 0, 112);		/* overruns into q's size word */
	expect_ptr(q);
	free(q);
}

static void corrupt_boundary_tag(void)
{
	char *p = malloc(1500), *q = malloc(1500);

	sink = malloc(10);
	free(p);
	((size_t *)q)[-2] = 0x100;	/* q's prev_size: p's boundary tag */
	expect_ptr(q - 0x100);		/* where the bad tag points */
	free(q);
}

static void corrupt_links(void)
{
	char *p = malloc(1500);

	sink = malloc(10);
	free(p);
	((void **)p)[0] = (void *)0x4141414141414140;	/* use after free */
	expect_ptr(p);
	sink = malloc(1500);
}

static void corrupt_top(void)
{
	char *p = malloc(100);	/* chunk of 112, top right after it */

	*(size_t *)(p + 104) = ~(size_t)0xf | 1;	/* house of force */
	expect_ptr(p + 112);
	sink = malloc(1000);
}

static void double_free_tcache_other_thread_cache(void);

/* Only HEAPLAB_OPTIONS=check=1 notices this before it does harm. */
static void check_option(void)
{
	char *p = malloc(1500), *g = malloc(10);

	sink = g;
	free(p);
	((size_t *)g)[-2] = 0x40;	/* p's boundary tag */
	expect_ptr(p);
	sink = malloc(8);
}

static void realloc_freed(void)
{
	char *p = malloc(40);

	free(p);		/* into the thread cache */
	expect_ptr(p);
	sink = realloc(p, 80);
}

/* p sits in the cache of a live thread; the main thread frees it again. */
static void *volatile parked;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_state;

static void *park_in_cache(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&park_lock);
	parked = malloc(40);
	free(parked);		/* into this thread's cache */
	park_state = 1;
	pthread_cond_broadcast(&park_cond);
	while (park_state != 2)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return NULL;
}

static void double_free_tcache_other_thread_cache(void)
{
	pthread_t t;

	pthread_create(&t, NULL, park_in_cache, NULL);
	pthread_mutex_lock(&park_lock);
	while (park_state != 1)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	expect_ptr(parked);
	free(parked);
}

/*
 * Chunks of the main thread freed by another thread: the first 7 stay in
 * that thread's cache, the next 64 go through its outbox to the main
 * arena's pending list (the last freed at its head), which the main
 * thread takes into its cache at its next trip to the arena. Whatever
 * comes that way is checked before it is cached.
 */
#define RF_N	(7 + 64)
static void *rf_blocks[RF_N];
static void *rf_own;		/* a chunk of the freeing thread's arena */
static _Alignas(16) size_t rf_fake[32];
static int rf_stage;
static pthread_mutex_t rf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rf_cond = PTHREAD_COND_INITIALIZER;

static void rf_set(int stage)
{
	pthread_mutex_lock(&rf_lock);
	rf_stage = stage;
	pthread_cond_broadcast(&rf_cond);
	pthread_mutex_unlock(&rf_lock);
}

static void rf_wait(int stage)
{
	pthread_mutex_lock(&rf_lock);
	while (rf_stage < stage)
		pthread_cond_wait(&rf_cond, &rf_lock);
	pthread_mutex_unlock(&rf_lock);
}

/* A list link as the cache writes it (safe-linking: mangled with its address). */
static size_t rf_link(void *pos, void *to)
{
	return ((size_t)pos >> 12) ^ (size_t)to;
}

/* arg: free the fake chunk among them (as the 8th). */
static void *rf_free_all(void *arg)
{
	rf_own = malloc(200);
	for (int i = 0; i < RF_N; i++) {
		if (arg && i == 7)
			free(&rf_fake[2]);
		if (!arg || i != RF_N - 1)
			free(rf_blocks[i]);
	}
	return NULL;
}

static void rf_setup(int fake)
{
	pthread_t t;

	for (int i = 0; i < RF_N; i++)
		rf_blocks[i] = malloc(200);
	pthread_create(&t, NULL, rf_free_all, fake ? rf_fake : NULL);
	pthread_join(t, NULL);
}

/* A pointer that is not ours, among them: its size looks right. */
static void remote_not_ours(void)
{
	rf_fake[1] = 208 | 1;	/* 200 bytes' chunk, PREV_INUSE */
	expect_ptr(&rf_fake[2]);
	rf_setup(1);		/* the fake and 63 of ours to the pending list */
	sink = malloc(200);	/* an empty cache bin: the trip that takes them */
}

/*
 * A use-after-free write links a chunk of the freeing thread's own arena
 * (still in use there) behind the last one pending, with the cache key
 * read from a freed chunk: on the main arena's list, it is not the main
 * arena's.
 */
static void remote_wrong_arena(void)
{
	size_t *x, *y;

	rf_setup(0);
	x = rf_blocks[RF_N - 1];
	y = rf_own;
	y[1] = x[1];
	y[0] = rf_link(&y[0], NULL);
	x[0] = rf_link(&x[0], y);
	expect_ptr(y);
	sink = malloc(200);
}

/* Freed again after its owner took it into its cache. */
static void *rf_free_again(void *arg)
{
	(void)arg;
	rf_own = malloc(200);
	for (int i = 0; i < RF_N; i++)
		free(rf_blocks[i]);
	rf_set(1);
	rf_wait(2);
	free(rf_blocks[8]);
	return NULL;
}

static void remote_double_free(void)
{
	pthread_t t;

	for (int i = 0; i < RF_N; i++)
		rf_blocks[i] = malloc(200);
	pthread_create(&t, NULL, rf_free_again, NULL);
	rf_wait(1);
	sink = malloc(200);	/* takes the pending chunks */
	expect_ptr(rf_blocks[8]);
	rf_set(2);
	pthread_join(t, NULL);
}

static const struct corruption {
	const char *name;
	void (*run)(void);
	const char *want;	/* the report without " (ptr=...)" */
	const char *options;
} cases[] = {
	{ "double_free_fast", double_free_fast, "heaplab: free(): double free detected", NULL },
	{ "double_free_small", double_free_small, "heaplab: free(): double free detected", NULL },
	{ "double_free_top", double_free_top, "heaplab: free(): double free detected", NULL },
	{ "invalid_stack", invalid_stack, "heaplab: free(): invalid pointer", NULL },
	{ "invalid_misaligned", invalid_misaligned, "heaplab: free(): invalid pointer", NULL },
	{ "invalid_interior", invalid_interior, "heaplab: free(): invalid size", NULL },
	{ "invalid_fake_mmapped", invalid_fake_mmapped, "heaplab: free(): invalid pointer", NULL },
	{ "invalid_fake_aligned_mmapped", invalid_fake_aligned_mmapped,
	  "heaplab: free(): invalid pointer", NULL },
	{ "invalid_foreign_mapping", invalid_foreign_mapping, "heaplab: free(): invalid pointer", NULL },
	{ "double_free_mmapped", double_free_mmapped, "heaplab: free(): double free detected", NULL },
	{ "double_free_mmapped_cached", double_free_mmapped_cached,
	  "heaplab: free(): double free detected", NULL },
	{ "double_free_memalign_mmapped", double_free_memalign_mmapped,
	  "heaplab: free(): double free detected", NULL },
	{ "realloc_freed_mmapped", realloc_freed_mmapped,
	  "heaplab: realloc(): invalid pointer (freed chunk)", NULL },
	{ "invalid_fake_arena", invalid_fake_arena, "heaplab: free(): invalid pointer", NULL },
	{ "corrupt_size_large", corrupt_size_large, "heaplab: free(): invalid size", NULL },
	{ "corrupt_size_zero", corrupt_size_zero, "heaplab: free(): invalid size", NULL },
	{ "corrupt_boundary_tag", corrupt_boundary_tag,
	  "heaplab: free(): corrupted size vs. prev_size while consolidating", NULL },
	{ "corrupt_links", corrupt_links, "heaplab: malloc(): unsorted double linked list corrupted", NULL },
	{ "corrupt_top", corrupt_top, "heaplab: malloc(): corrupted top size", NULL },
	{ "double_free_other_cache", double_free_tcache_other_thread_cache,
	  "heaplab: free(): double free detected", NULL },
	{ "remote_not_ours", remote_not_ours, "heaplab: free(): invalid pointer", NULL },
	{ "remote_wrong_arena", remote_wrong_arena, "heaplab: free(): invalid pointer", NULL },
	{ "remote_double_free", remote_double_free, "heaplab: free(): double free detected", NULL },
	{ "realloc_freed", realloc_freed, "heaplab: realloc(): invalid pointer (freed chunk)", NULL },
	{ "check_option", check_option, "heaplab: malloc(): heap check: boundary tag mismatch", "check=1" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t r;

	while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	return len;
}

static void run_case(const struct corruption *c)
{
	int out[2], err[2], status;
	char got_out[256], got_err[1024], want[512];
	pid_t pid;

	if (pipe(out) || pipe(err)) {
		ok(0, "%s: pipes", c->name);
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		if (c->options)
			setenv("HEAPLAB_OPTIONS", c->options, 1);
		execl("/proc/self/exe", "corrupt", c->name, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	read_all(out[0], got_out, sizeof(got_out));
	read_all(err[0], got_err, sizeof(got_err));
	close(out[0]);
	close(err[0]);
	waitpid(pid, &status, 0);
	got_out[strcspn(got_out, "\n")] = '\0';
	snprintf(want, sizeof(want), "%s (ptr=%s)\n", c->want, got_out);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the program aborts", c->name);
	if (!ok(strcmp(got_err, want) == 0, "%s: reports '%s'", c->name, c->want))
		diag("stderr: %s", got_err);
}

int main(int argc, char **argv)
{
	preload_self(argv);
	if (argc == 2) {
		setvbuf(stdout, NULL, _IONBF, 0);	/* stdio must not malloc mid-case */
		for (size_t i = 0; i < NCASES; i++)
			if (!strcmp(argv[1], cases[i].name)) {
				cases[i].run();
				return 0;	/* not detected */
			}
		return 2;
	}
	for (size_t i = 0; i < NCASES; i++)
		run_case(&cases[i]);
	return tap_done();
}
