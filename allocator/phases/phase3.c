/* SPDX-License-Identifier: MIT */
/*
 * phase3.c — the free list: freed chunks are found again and reused.
 *
 * One of heaplab's six teaching allocators: each is a working malloc (try
 * LD_PRELOAD=build/phases/libphase3.so ls -l) that adds one idea to the
 * one before, so that diff between two consecutive phases shows just that
 * idea. The ideas so far:
 *
 * 1. Bump. The kernel gives a process one growable region for its heap; it
 *    ends at the "program break". sbrk(n) moves the break n bytes up and
 *    returns where it was, so the n bytes there are new, zeroed and ours
 *    (sbrk(0) just says where the break is). The dumbest malloc that works
 *    moves the break for every request: one sbrk call each (watch them with
 *    `strace -e brk`). free cannot give anything back, since the break only
 *    moves at its end and a freed block is usually in the middle: free does
 *    nothing, and a program that frees and allocates in a loop grows the heap
 *    without bound. Even so, each block's size must be kept (realloc copies
 *    that many bytes, malloc_usable_size reports it): a size word sits just
 *    before every block.
 *
 * 2. Header. The size word becomes a struct hidden just before every
 *    pointer malloc returns: size, state (used or free) and a magic number,
 *    0xDEADBEEF. malloc asks sbrk for header plus payload and returns the
 *    address just past the header; free(p) steps back one header from p. The
 *    magic proves that a pointer handed to free came from malloc and that
 *    nothing wrote over the header (walk back from any pointer, in gdb
 *    `x/8wx p-32`, and 0xdeadbeef is there); the state catches a double free.
 *    The heap can now be walked, each header saying where the next chunk
 *    starts. Still a bump allocator: free only marks the chunk free.
 *
 * 3. Free list. Every chunk, used or free, is linked into one list in
 *    address order (the header gains a next pointer). free marks the chunk
 *    free; malloc first searches the list for a free chunk big enough and
 *    hands it out again, and only when none fits moves the break and appends
 *    a new chunk. HEAPLAB_OPTIONS=fit=first (the default) takes the first
 *    free chunk big enough and stops; fit=best walks the whole list for the
 *    smallest. Both count the nodes they visit (nodes_traversed and
 *    last_traversed in heaplab_phase_stats): the price of one list is that
 *    every malloc walks past every chunk in use. A reused chunk is handed out
 *    whole, however big.
 *
 * The chunk in this phase:
 *
 *   chunk ->  +---------------------+
 *             | size                |   struct chunk, 32 bytes
 *             | state    | magic    |   CHUNK_USED or CHUNK_FREE, 0xDEADBEEF
 *             | next                |   the next chunk in the list
 *             | (padding)           |   keeps the payload 16-byte aligned
 *   mem   ->  +---------------------+   <- what malloc returns
 *             |  payload: size      |   size = the request rounded up to 16
 *             |  bytes              |   (at least 16)
 *             +---------------------+
 *
 *   heap_first                                            heap_last
 *       v                                                     v
 *   +--------+--------+   +--------+------------+   +--------+--------+
 *   | header |  used  |-->| header |    free    |-->| header |  used  |--> NULL
 *   +--------+--------+   +--------+------------+   +--------+--------+
 *
 * Why 16: malloc must return memory aligned for any type. On x86-64 that is
 * 16 bytes (long double, SSE vectors; glibc's own string functions rely on
 * it), so every payload starts at a multiple of 16 and is a multiple of 16
 * long, which keeps the next chunk's payload aligned too. "chunk" is the
 * allocator's whole block, "mem" the pointer the program gets: the names
 * glibc's malloc.c uses.
 *
 * Every entry point takes one lock, so threads never see a half-made chunk.
 * Everything here runs inside the process being served, so nothing in this
 * file may call malloc: no stdio (printf allocates its buffers); messages
 * are formatted into stack buffers and written with write(2). Besides the
 * malloc API, the counters, a heap walk and a dump are exported for
 * experiments: allocator/phases/phase.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator/phases/phase.h"

#define PHASE		3
#define PHASE_NAME	"phase3"
#define EXPORT		__attribute__((visibility("default")))

#define ALIGNMENT	16		/* every payload starts and ends here */
#define MIN_PAYLOAD	16		/* malloc(0) still gets a pointer */

/* ------------------------------------------------------------------ */
/* The chunk                                                           */
/* ------------------------------------------------------------------ */

#define MAGIC		0xDEADBEEFu	/* in every header we made */

enum { CHUNK_USED = 1, CHUNK_FREE, CHUNK_ALIAS };

struct chunk {
	size_t size;		/* payload bytes, a multiple of 16 */
	uint32_t state;		/* CHUNK_USED, CHUNK_FREE, or CHUNK_ALIAS */
	uint32_t magic;		/* MAGIC while the header is intact */
	struct chunk *next;	/* the next chunk, in address order */
} __attribute__((aligned(ALIGNMENT)));	/* keeps the payload aligned */

#define HDR		sizeof(struct chunk)

static char *mem(struct chunk *c)
{
	return (char *)c + HDR;
}

static struct chunk *chunk(void *mem)
{
	return (struct chunk *)((char *)mem - HDR);
}

static size_t chunk_size(const struct chunk *c)
{
	return c->size;
}

/* ------------------------------------------------------------------ */
/* One lock for the whole heap                                         */
/* ------------------------------------------------------------------ */

/*
 * Every entry point takes this lock, so threads never see a half-made chunk.
 * A statically initialised pthread mutex needs no allocation, and locking it
 * never calls malloc (which would deadlock on this very lock).
 */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(void)
{
	pthread_mutex_lock(&heap_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&heap_lock);
}

/*
 * fork() copies only the calling thread. If another thread held the lock at
 * that moment the child would wait for it forever, so fork takes the lock
 * first (prepare) and both sides let go of it afterwards.
 */
static void unlock_in_child(void)
{
	pthread_mutex_init(&heap_lock, NULL);
}

/* ------------------------------------------------------------------ */
/* Counters and messages                                               */
/* ------------------------------------------------------------------ */

static struct heaplab_phase_stats stats = {
	.abi = HEAPLAB_PHASE_ABI,
	.phase = PHASE,
	.header_size = HDR,
	.fit = HEAPLAB_FIT_FIRST,
};

static void note_alloc(size_t size)
{
	stats.mallocs++;
	stats.live_bytes += size;
	if (stats.live_bytes > stats.peak_live_bytes)
		stats.peak_live_bytes = stats.live_bytes;
}

static void note_free(size_t size)
{
	stats.frees++;
	stats.live_bytes -= size;
}

static void note_footprint(void)
{
	uint64_t now = stats.heap_size + stats.mapped_bytes;

	if (now > stats.peak_footprint)
		stats.peak_footprint = now;
}

/* A line of text built in a stack buffer: printf would allocate. */
struct line {
	char buf[200];
	size_t len;
};

static void put_mem(struct line *l, const char *s, size_t len)
{
	while (len-- && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_str(struct line *l, const char *s)
{
	put_mem(l, s, strlen(s));
}

static void put_num(struct line *l, uint64_t v, unsigned base)
{
	char digits[24];
	int n = 0;

	if (base == 16)
		put_str(l, "0x");
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = digits[--n];
}

static void put_line(struct line *l, int fd)
{
	size_t off = 0;
	ssize_t w;

	l->buf[l->len++] = '\n';
	while (off < l->len) {
		w = write(fd, l->buf + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	l->len = 0;
}

/* ------------------------------------------------------------------ */
/* Options: HEAPLAB_OPTIONS=fit=first|best                             */
/* ------------------------------------------------------------------ */

extern char **environ;

static int options_read;
static uint32_t fit = HEAPLAB_FIT_FIRST;

static void bad_option(const char *entry, size_t len, const char *why)
{
	struct line l = { .len = 0 };

	put_str(&l, "heaplab " PHASE_NAME ": HEAPLAB_OPTIONS: ignoring '");
	put_mem(&l, entry, len);
	put_str(&l, "': ");
	put_str(&l, why);
	put_line(&l, 2);
}

/* Is the LEN bytes at S exactly WORD? */
static int is_word(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(s, word, len);
}

/* One KEY=VALUE entry of LEN bytes. */
static void set_option(const char *entry, size_t len)
{
	const char *eq = memchr(entry, '=', len);
	size_t klen = eq ? (size_t)(eq - entry) : len;
	const char *val = entry + klen + 1;
	size_t vlen = eq ? len - klen - 1 : 0;

	if (is_word(entry, klen, "fit")) {
		if (eq && is_word(val, vlen, "first"))
			fit = HEAPLAB_FIT_FIRST;
		else if (eq && is_word(val, vlen, "best"))
			fit = HEAPLAB_FIT_BEST;
		else
			bad_option(entry, len, "fit is first or best");
	}
}

/*
 * HEAPLAB_OPTIONS holds KEY=VALUE entries separated by commas. Keys this
 * phase has no use for are left alone: the variable is shared with
 * libheaplab and the other phases. getenv does not allocate and the string
 * is parsed where it lies. It is read on the first malloc after libc has set
 * up the environment (the dynamic loader calls malloc before that, and those
 * first calls get the defaults).
 */
static void read_options(void)
{
	const char *s, *end;

	if (options_read || !environ)
		return;
	options_read = 1;
	for (s = getenv("HEAPLAB_OPTIONS"); s && *s; s = *end ? end + 1 : end) {
		end = strchrnul(s, ',');
		if (end > s)
			set_option(s, end - s);
	}
	stats.fit = fit;
}

/* ------------------------------------------------------------------ */
/* Growing the heap: the only place that talks to the kernel           */
/* ------------------------------------------------------------------ */

static struct chunk *heap_first;	/* every chunk, in address order */
static struct chunk *heap_last;

/*
 * Moves the break up by N bytes (a multiple of 16) and returns the old
 * break, or NULL with errno = ENOMEM.
 *
 * The break is not necessarily 16-aligned when we first see it, so the few
 * bytes up to the next multiple of 16 are skipped.
 */
static void *heap_grow(size_t n)
{
	char *cur = sbrk(0), *p;
	size_t pad;

	if (cur == (char *)-1)
		return NULL;
	pad = -(uintptr_t)cur & (ALIGNMENT - 1);
	if (n > PTRDIFF_MAX - pad) {
		errno = ENOMEM;
		return NULL;
	}
	p = sbrk(pad + n);
	if (p == (char *)-1) {
		errno = ENOMEM;
		return NULL;
	}
	stats.sbrk_calls++;
	stats.heap_size += pad + n;
	note_footprint();
	return p + pad;
}

/* ------------------------------------------------------------------ */
/* malloc and free, called with the lock held                          */
/* ------------------------------------------------------------------ */

/* The payload for a request of N bytes: rounded up to 16; 0 if too big. */
static size_t payload_size(size_t n)
{
	if (n > PTRDIFF_MAX / 2)
		return 0;
	if (n < MIN_PAYLOAD)
		return MIN_PAYLOAD;
	return (n + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
}

/*
 * A pointer that free() or realloc() cannot have handed out, or a header
 * that something wrote over: say so and stop, as glibc does, before the
 * heap is corrupted any further.
 */
static void __attribute__((noreturn)) bad_pointer(const char *what, void *p)
{
	struct line l = { .len = 0 };

	put_str(&l, "heaplab " PHASE_NAME ": ");
	put_str(&l, what);
	put_str(&l, ": ");
	put_num(&l, (uintptr_t)p, 16);
	put_line(&l, 2);
	abort();
}

/*
 * The free chunk to reuse for SIZE payload bytes, or NULL. First fit stops
 * at the first one big enough; best fit must look at every chunk to know
 * which is the smallest. Either way, used chunks are visited too: they are
 * in the same list.
 */
static struct chunk *find_free(size_t size)
{
	struct chunk *c, *best = NULL;
	uint64_t visited = 0;

	for (c = heap_first; c; c = c->next) {
		visited++;
		if (c->state != CHUNK_FREE || chunk_size(c) < size)
			continue;
		if (fit == HEAPLAB_FIT_FIRST) {
			best = c;
			break;
		}
		if (!best || chunk_size(c) < chunk_size(best))
			best = c;
	}
	stats.searches++;
	stats.nodes_traversed += visited;
	stats.last_traversed = visited;
	return best;
}

/* A new chunk from the top of the heap goes at the end of the list. */
static void append(struct chunk *c)
{
	c->next = NULL;
	if (heap_last)
		heap_last->next = c;
	else
		heap_first = c;
	heap_last = c;
}

static void *chunk_alloc(size_t n)
{
	size_t size = payload_size(n);
	struct chunk *c;

	read_options();
	if (!size) {
		errno = ENOMEM;
		return NULL;
	}
	c = find_free(size);
	if (!c) {
		c = heap_grow(HDR + size);
		if (!c)
			return NULL;
		c->size = size;
		c->magic = MAGIC;
		append(c);
	}
	c->state = CHUNK_USED;
	note_alloc(chunk_size(c));
	return mem(c);
}

/* Marks the chunk free: the next malloc it fits will find it in the list. */
static void chunk_free(void *p)
{
	struct chunk *c = chunk(p);

	if (c->state != CHUNK_USED)
		bad_pointer("double free", p);
	c->state = CHUNK_FREE;
	note_free(chunk_size(c));
}

static size_t chunk_usable(void *p)
{
	return chunk_size(chunk(p));
}

/*
 * Alignments above 16 (posix_memalign and friends). Ask for enough extra to
 * find an address P aligned as wanted inside the payload with room for a
 * header before it, and make that header an alias: state CHUNK_ALIAS, and
 * instead of a size it holds the distance back to the real payload. free(P)
 * and malloc_usable_size(P) follow it back to the chunk. Glibc's memalign
 * splits the front off instead (and so could this phase, from phase 4 on).
 */
static void *chunk_alloc_aligned(size_t align, size_t n)
{
	struct chunk *alias;
	char *raw, *p;

	if (align <= ALIGNMENT)
		return chunk_alloc(n);
	if (n > SIZE_MAX - align - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	raw = chunk_alloc(n + align + HDR);
	if (!raw || !((uintptr_t)raw & (align - 1)))
		return raw;
	p = (char *)(((uintptr_t)raw + HDR + align - 1) &
		     ~(uintptr_t)(align - 1));
	alias = chunk(p);
	alias->size = p - raw;
	alias->state = CHUNK_ALIAS;
	alias->magic = MAGIC;
	return p;
}

/* The payload a pointer from the malloc family belongs to, header checked. */
static char *mem_of(void *p)
{
	struct chunk *c = chunk(p);

	if (c->magic != MAGIC)
		bad_pointer("invalid pointer (no magic number before it)", p);
	if (c->state == CHUNK_ALIAS)
		return mem_of((char *)p - c->size);
	return p;
}

static size_t usable_of(void *p)
{
	char *raw = mem_of(p);

	return chunk_usable(raw) - ((char *)p - raw);
}

/* ------------------------------------------------------------------ */
/* Looking inside: walk and dump                                       */
/* ------------------------------------------------------------------ */

/*
 * Follow the list. A header whose magic is gone cannot be trusted to say
 * where the next one is, so the walk reports it and stops there.
 */
static size_t heap_walk(void (*visit)(const struct heaplab_chunk *, void *),
			void *arg)
{
	struct heaplab_chunk ch;
	struct chunk *c;
	size_t n = 0;

	for (c = heap_first; c; c = c->next) {
		ch.addr = (uintptr_t)mem(c);
		ch.size = chunk_size(c);
		ch.state = c->state == CHUNK_FREE ? HEAPLAB_CHUNK_FREE
						  : HEAPLAB_CHUNK_USED;
		ch.magic = c->magic == MAGIC;
		visit(&ch, arg);
		n++;
		if (!ch.magic)
			break;
	}
	return n;
}

struct walk_out {
	struct heaplab_chunk *out;
	size_t max, n;
};

static void walk_into(const struct heaplab_chunk *ch, void *arg)
{
	struct walk_out *w = arg;

	if (w->n < w->max)
		w->out[w->n] = *ch;
	w->n++;
}

static void dump_line(const struct heaplab_chunk *ch, void *arg)
{
	static const char *const state[] = { "?", "used", "free", "mmapped" };
	struct line l = { .len = 0 };

	put_num(&l, ch->addr, 16);
	put_str(&l, " ");
	put_num(&l, ch->size, 10);
	put_str(&l, " ");
	put_str(&l, state[ch->state <= 3 ? ch->state : 0]);
	put_str(&l, ch->magic < 0 ? " -" : ch->magic ? " ok" : " BAD");
	put_line(&l, *(int *)arg);
}

/* ------------------------------------------------------------------ */
/* What experiments read (see phase.h)                                 */
/* ------------------------------------------------------------------ */

EXPORT const char heaplab_phase_name[] = PHASE_NAME;
EXPORT const char heaplab_phase_idea[] =
	"free list: all chunks in one list, malloc reuses a free one";

EXPORT void heaplab_phase_stats(struct heaplab_phase_stats *out)
{
	lock();
	*out = stats;
	unlock();
}

EXPORT size_t heaplab_phase_walk(struct heaplab_chunk *out, size_t max)
{
	struct walk_out w = { out, max, 0 };

	lock();
	heap_walk(walk_into, &w);
	unlock();
	return w.n;
}

EXPORT void heaplab_phase_dump(int fd)
{
	struct line l = { .len = 0 };

	lock();
	put_str(&l, "# ");
	put_str(&l, heaplab_phase_name);
	put_str(&l, " heap: ");
	put_num(&l, stats.heap_size, 10);
	put_str(&l, " bytes from sbrk, ");
	put_num(&l, stats.mapped_bytes, 10);
	put_str(&l, " mapped, ");
	put_num(&l, stats.live_bytes, 10);
	put_str(&l, " live; address size state magic");
	put_line(&l, fd);
	heap_walk(dump_line, &fd);
	unlock();
}

/* ------------------------------------------------------------------ */
/* The malloc API                                                      */
/* ------------------------------------------------------------------ */

/*
 * Every function a program may call to get or give back heap memory, so
 * that no pointer from glibc's malloc ever reaches our free (glibc's valloc,
 * for one, would call its own allocator). They call each other only through
 * static functions: a call to the exported malloc could be caught by another
 * preloaded library (an interposer that counts calls) and counted twice.
 */

static void *do_malloc(size_t n)
{
	void *p;

	lock();
	stats.bytes_requested += n;
	p = chunk_alloc(n);
	unlock();
	return p;
}

static void do_free(void *p)
{
	if (!p)
		return;
	lock();
	chunk_free(mem_of(p));
	unlock();
}

EXPORT void *malloc(size_t n)
{
	return do_malloc(n);
}

EXPORT void free(void *p)
{
	do_free(p);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	p = do_malloc(n);
	/* Fresh sbrk memory is zero, but a reused chunk holds old data. */
	if (p)
		memset(p, 0, n);
	return p;
}

/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees p, returns NULL. */
EXPORT void *realloc(void *p, size_t n)
{
	size_t have;
	void *q;

	if (!p)
		return do_malloc(n);
	if (!n) {
		do_free(p);
		return NULL;
	}
	lock();
	stats.bytes_requested += n;
	have = usable_of(p);
	if (n <= have) {
		unlock();
		return p;
	}
	q = chunk_alloc(n);
	if (q) {
		memcpy(q, p, have);
		chunk_free(mem_of(p));
	}
	unlock();
	return q;
}

static void *aligned(size_t align, size_t n)
{
	void *p;

	lock();
	stats.bytes_requested += n;
	p = chunk_alloc_aligned(align, n);
	unlock();
	return p;
}

static int power_of_two(size_t x)
{
	return x && !(x & (x - 1));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;
	int saved = errno;

	if (align < sizeof(void *) || !power_of_two(align))
		return EINVAL;
	p = aligned(align, n);
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, n);
}

/* Like glibc: an alignment that is not a power of two is rounded up to one. */
EXPORT void *memalign(size_t align, size_t n)
{
	size_t a = ALIGNMENT;

	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	while (a < align)
		a <<= 1;
	return aligned(a, n);
}

EXPORT void *valloc(size_t n)
{
	return aligned(getpagesize(), n);
}

/* The page-aligned allocation, rounded up to whole pages (at least one). */
EXPORT void *pvalloc(size_t n)
{
	size_t page = getpagesize();

	if (n > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	n = n ? (n + page - 1) & ~(page - 1) : page;
	return aligned(page, n);
}

EXPORT size_t malloc_usable_size(void *p)
{
	size_t n;

	if (!p)
		return 0;
	lock();
	n = usable_of(p);
	unlock();
	return n;
}

__attribute__((constructor)) static void phase_init(void)
{
	pthread_atfork(lock, unlock, unlock_in_child);
	lock();
	read_options();
	unlock();
}
