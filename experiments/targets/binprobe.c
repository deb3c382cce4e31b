// SPDX-License-Identifier: MIT
/*
 * binprobe — looks at an allocator's bins from the outside, through address
 * reuse only. Run with the allocator preloaded, one probe per process so
 * every probe starts from a fresh heap:
 *
 *	binprobe tcache SIZE	free many SIZE blocks, then ask for 1100 B:
 *				"merged_at I" — the first freed block that
 *				was coalesced with its neighbours (blocks
 *				before it were held back, as glibc's
 *				per-thread cache holds 7), -1 if none was
 *	binprobe lifo SIZE	free a, b, c; malloc three times: "order"
 *				1 LIFO (c b a), 2 FIFO (a b c), 0 other
 *	binprobe merge SIZE	with the cache for SIZE full, free two
 *				neighbours x, y and ask for both at once:
 *				"merged 1" when the answer is x (coalesced
 *				on free), 0 when they were kept apart; "x"
 *				and "y" their addresses, for the heap dump
 *	binprobe large SIZE	with two freed neighbours of 24 B sitting in
 *				a bin that does not coalesce, malloc(SIZE):
 *				"consolidated 1" when that made them merge
 *	binprobe unsorted	free one 1000 B block, then malloc(100)
 *				twice: "carved 1" when the first came from
 *				the freed block, "remainder 1" when the
 *				second came from what was left of it
 *
 * Output is "KEY VALUE" lines written with write(2): stdio would allocate
 * its buffer from the very heap being probed.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCKS 512

/* Globals, so the compiler cannot prove a malloc unused and drop it. */
static void *volatile blocks[MAX_BLOCKS];
static void *volatile keep[8];

static void report(const char *key, long long value)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "%s %lld\n", key, value);

	if (write(STDOUT_FILENO, line, n) != n)
		_exit(3);
}

/*
 * The heap dump of an allocator that has one (heaplab), to stderr when
 * BINPROBE_DUMP is set. Looked up before any probe starts: a failed dlsym
 * allocates its error message, which would disturb the heap being probed.
 */
static void (*heap_dump)(int fd);

static void dump_if_any(void)
{
	if (heap_dump)
		heap_dump(STDERR_FILENO);
}

static int index_of(void *p, int n)
{
	for (int i = 0; i < n; i++)
		if (blocks[i] == p)
			return i;
	return -1;
}

static void probe_tcache(size_t size)
{
	size_t chunk = (size + 8 + 15) & ~(size_t)15;
	int n = 24 + (int)(2048 / chunk) + 1;

	if (n > MAX_BLOCKS)
		n = MAX_BLOCKS;
	for (int i = 0; i < n; i++)
		blocks[i] = malloc(size);
	keep[0] = malloc(size);			/* fence against the top */
	for (int i = 0; i < n; i++)
		free(blocks[i]);
	dump_if_any();
	keep[1] = malloc(1100);
	report("blocks", n);
	report("merged_at", index_of(keep[1], n));
}

static void probe_lifo(size_t size)
{
	void *a, *b, *c, *x, *y, *z;

	blocks[0] = a = malloc(size);
	blocks[1] = b = malloc(size);
	blocks[2] = c = malloc(size);
	keep[0] = malloc(size);
	free(a);
	free(b);
	free(c);
	blocks[3] = x = malloc(size);
	blocks[4] = y = malloc(size);
	blocks[5] = z = malloc(size);
	report("order", x == c && y == b && z == a ? 1 :
			x == a && y == b && z == c ? 2 : 0);
}

/*
 * Fill every cache level that holds back single blocks of SIZE, so the
 * blocks the probe frees next reach the bins. The probe's own blocks are
 * allocated before this, or they would come straight out of that cache.
 */
static void fill_cache(size_t size, int first, int n)
{
	for (int i = first; i < first + n; i++)
		blocks[i] = malloc(size);
	keep[5] = malloc(size);			/* fence */
	for (int i = first; i < first + n; i++)
		free(blocks[i]);
}

static void probe_merge(size_t size)
{
	size_t chunk = (size + 8 + 15) & ~(size_t)15;
	uintptr_t x, y;

	blocks[100] = malloc(size);
	blocks[101] = malloc(size);
	x = (uintptr_t)blocks[100];
	y = (uintptr_t)blocks[101];
	keep[0] = malloc(size);			/* fence */
	fill_cache(size, 0, 64);
	free(blocks[100]);
	free(blocks[101]);
	dump_if_any();
	/* Exactly two chunks' worth, so a merged pair is an exact fit. */
	keep[1] = malloc(2 * chunk - 16);
	report("chunk", chunk);
	report("merged", (uintptr_t)keep[1] == x);
	report("x", (long long)x);
	report("y", (long long)y);
}

static void probe_large(size_t size)
{
	void *x, *y;

	blocks[100] = x = malloc(24);
	blocks[101] = y = malloc(24);
	keep[0] = malloc(24);
	fill_cache(24, 0, 64);
	free(x);
	free(y);
	keep[1] = malloc(size);
	/* x and y merged form a 64 B chunk: a 48 B request fits it exactly. */
	keep[2] = malloc(48);
	report("consolidated", keep[2] == x);
}

static void probe_unsorted(void)
{
	uintptr_t x;

	blocks[100] = malloc(1000);
	x = (uintptr_t)blocks[100];
	keep[0] = malloc(1000);
	fill_cache(1000, 0, 16);
	free(blocks[100]);
	keep[1] = malloc(100);
	keep[2] = malloc(100);
	report("carved", (uintptr_t)keep[1] == x);
	report("remainder", (uintptr_t)keep[2] > x &&
			    (uintptr_t)keep[2] < x + 1000);
}

int main(int argc, char **argv)
{
	size_t size = argc > 2 ? strtoull(argv[2], NULL, 0) : 0;

	if (argc < 2)
		return 2;
	if (getenv("BINPROBE_DUMP"))
		heap_dump = (void (*)(int))dlsym(RTLD_DEFAULT, "heaplab_dump");
	if (!strcmp(argv[1], "tcache") && size)
		probe_tcache(size);
	else if (!strcmp(argv[1], "lifo") && size)
		probe_lifo(size);
	else if (!strcmp(argv[1], "merge") && size)
		probe_merge(size);
	else if (!strcmp(argv[1], "large") && size)
		probe_large(size);
	else if (!strcmp(argv[1], "unsorted"))
		probe_unsorted();
	else
		return 2;
	return 0;
}
