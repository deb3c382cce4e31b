/* SPDX-License-Identifier: MIT */
/*
 * phase6.c — mmap for large blocks: each gets a mapping of its own,
 * unmapped on free.
 *
 * One of heaplab's six teaching allocators: each is a working malloc (try
 * LD_PRELOAD=build/phases/libphase6.so ls -l) that adds one idea to the
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
 * 4. Splitting. A free chunk bigger than the request is split in two: the
 *    front serves the request, the rest gets a header of its own right after
 *    it and joins the list, free, as the very next node:
 *
 *      before:  | hdr |             free, 512                      |
 *      after:   | hdr | used, 16 | hdr | free, 512 - 16 - 32 = 464 |
 *
 *    A rest too small for a header and the smallest payload is not worth a
 *    chunk: the request takes it too.
 *
 * 5. Coalescing with boundary tags. free merges the chunk with each
 *    neighbour that is free, so that no two free chunks ever touch (side by
 *    side, each might be too small for a request both could serve together):
 *
 *      | A used | B free | C used |   free(A):   |    A+B free     | C used |
 *
 *    The neighbour after starts where our payload ends. The one before is
 *    Knuth's trick, used by dlmalloc and glibc: a free chunk copies its size
 *    into the last word of its payload, its footer, just before the next
 *    header. So the word before any header gives the previous chunk's size,
 *    and its header is that far back: found in O(1), without walking the
 *    list. The footer exists only while a chunk is free (in use, those bytes
 *    are the program's), so a chunk must know whether the word before it is a
 *    footer at all: bit 0 of the size word, PREV_INUSE (sizes are multiples
 *    of 16, so the low bits are spare), says the chunk before is in use.
 *    glibc packs the same bit into its size field, and its prev_size word is
 *    likewise valid only while the previous chunk is free. The first chunk
 *    has PREV_INUSE set, so nobody looks before it.
 *
 * 6. mmap for large blocks. The sbrk heap only shrinks from its top, so a
 *    big block freed in the middle stays the process's memory for good. A
 *    request of mmap_threshold bytes or more (128 KiB by default, glibc's
 *    starting value; HEAPLAB_OPTIONS=mmap_threshold=N, N in bytes with an
 *    optional k, m or g) gets a mapping of its own: fresh zeroed pages, a
 *    header at their start with state CHUNK_MMAPPED, the payload after it.
 *    free sees that state and munmaps the mapping, so the memory goes back to
 *    the kernel at once (watch with `strace -e mmap,munmap`). Mapped chunks
 *    stay out of the heap list; a list of their own lets the dump show them.
 *
 * The chunk in this phase:
 *
 *   chunk ->  +---------------------+
 *             | size              |P|   struct chunk, 32 bytes; P: PREV_INUSE
 *             | state    | magic    |   CHUNK_USED or CHUNK_FREE, 0xDEADBEEF
 *             | next                |   the next chunk in the list
 *             | (padding)           |   keeps the payload 16-byte aligned
 *   mem   ->  +---------------------+   <- what malloc returns
 *             |  payload: size      |   size = the request rounded up to 16
 *             |  bytes              |   (at least 16)
 *             |            [footer] |   while free: a copy of size
 *             +---------------------+
 *
 *   heap_first                                            heap_last
 *       v                                                     v
 *   +--------+--------+   +--------+------------+   +--------+--------+
 *   | header |  used  |-->| header |    free    |-->| header |  used  |--> NULL
 *   +--------+--------+   +--------+------------+   +--------+--------+
 *
 *   mapping -> | header: CHUNK_MMAPPED | payload ...      | rest of the page |
 *              ^ page-aligned            size = mapping length - header
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
#include <sys/mman.h>
#include <unistd.h>

#include "allocator/phases/phase.h"

#define PHASE		6
#define PHASE_NAME	"phase6"
#define EXPORT		__attribute__((visibility("default")))

#define ALIGNMENT	16		/* every payload starts and ends here */
#define MIN_PAYLOAD	16		/* malloc(0) still gets a pointer */

/* ------------------------------------------------------------------ */
/* The chunk                                                           */
/* ------------------------------------------------------------------ */

#define MAGIC		0xDEADBEEFu	/* in every header we made */
#define PREV_INUSE	1		/* size-word bit: chunk before in use */

enum { CHUNK_USED = 1, CHUNK_FREE, CHUNK_ALIAS, CHUNK_MMAPPED };

struct chunk {
	size_t size;		/* payload bytes (16s) | PREV_INUSE */
	uint32_t state;		/* CHUNK_USED, _FREE, _ALIAS or _MMAPPED */
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
	return c->size & ~(size_t)PREV_INUSE;
}

/* Where the chunk after C in memory starts (it may not be ours). */
static struct chunk *next_chunk(struct chunk *c)
{
	return (struct chunk *)(mem(c) + chunk_size(c));
}

/* The footer: C's last payload word, a copy of its size while C is free. */
static size_t *footer(struct chunk *c)
{
	return (size_t *)next_chunk(c) - 1;
}

/*
 * The chunk before C in memory, from the footer just before C's header. Only
 * meaningful when C's PREV_INUSE bit is clear.
 */
static struct chunk *prev_chunk(struct chunk *c)
{
	return (struct chunk *)((char *)c - ((size_t *)c)[-1] - HDR);
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
	.mmap_threshold = 128 * 1024,
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
/* Options: HEAPLAB_OPTIONS=fit=first|best,mmap_threshold=N           */
/* ------------------------------------------------------------------ */

extern char **environ;

static int options_read;
static uint32_t fit = HEAPLAB_FIT_FIRST;
static size_t mmap_threshold = 128 * 1024;

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

/* A size in bytes: decimal digits, then maybe k, m or g (KiB, MiB, GiB). */
static int parse_size(const char *s, size_t len, size_t *out)
{
	unsigned shift = 0;
	size_t v = 0, i;

	if (len > 1) {
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		}
		if (shift)
			len--;
	}
	if (!len)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (SIZE_MAX - 9) / 10)
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	if (v > SIZE_MAX >> shift)
		return 0;
	*out = v << shift;
	return 1;
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
	} else if (is_word(entry, klen, "mmap_threshold")) {
		if (!eq || !parse_size(val, vlen, &mmap_threshold))
			bad_option(entry, len, "mmap_threshold is a size in "
				   "bytes, e.g. 131072 or 128k");
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
	stats.mmap_threshold = mmap_threshold;
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

static struct chunk *mapped_first;	/* the mmapped chunks, newest first */

/*
 * A chunk of SIZE payload bytes in a mapping of its own: the header at the
 * start of the pages, the length rounded up to whole pages (the payload gets
 * the rest of the last page too). NULL with errno = ENOMEM if the kernel
 * says no.
 */
static struct chunk *chunk_map(size_t size)
{
	size_t page = getpagesize();
	size_t len = (HDR + size + page - 1) & ~(page - 1);
	struct chunk *c;

	c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (c == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	stats.mmap_calls++;
	stats.mapped_bytes += len;
	note_footprint();
	c->size = (len - HDR) | PREV_INUSE;	/* nothing before it */
	c->state = CHUNK_MMAPPED;
	c->magic = MAGIC;
	c->next = mapped_first;
	mapped_first = c;
	return c;
}

/* Back to the kernel. The list of mapped chunks is only for the heap dump. */
static void chunk_unmap(struct chunk *c)
{
	size_t len = HDR + chunk_size(c);
	struct chunk **pp;

	for (pp = &mapped_first; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	c->magic = 0;
	munmap(c, len);
	stats.munmap_calls++;
	stats.mapped_bytes -= len;
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

/*
 * Cut the free chunk C down to SIZE payload bytes if what is left can be a
 * chunk of its own: its header goes right after C's new payload, and it
 * takes C's place before C's old successor in the list. The rest is free,
 * so it gets a footer; the chunk before it (C) will be in use.
 */
static void split(struct chunk *c, size_t size)
{
	struct chunk *rest;

	if (chunk_size(c) < size + HDR + MIN_PAYLOAD)
		return;
	rest = (struct chunk *)(mem(c) + size);
	rest->size = (chunk_size(c) - size - HDR) | PREV_INUSE;
	rest->state = CHUNK_FREE;
	rest->magic = MAGIC;
	rest->next = c->next;
	*footer(rest) = chunk_size(rest);
	c->next = rest;
	c->size = size | (c->size & PREV_INUSE);
	if (heap_last == c)
		heap_last = rest;
	stats.splits++;
}

/* C's successor in the list, if that is also its neighbour in memory. */
static struct chunk *neighbour_after(struct chunk *c)
{
	return c->next && c->next == next_chunk(c) ? c->next : NULL;
}

/* Tell the chunk after C in memory whether C is in use. */
static void set_prev_inuse(struct chunk *c, int inuse)
{
	struct chunk *n = neighbour_after(c);

	if (!n)
		return;
	if (inuse)
		n->size |= PREV_INUSE;
	else
		n->size &= ~(size_t)PREV_INUSE;
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
	if (n >= mmap_threshold) {
		c = chunk_map(size);
		if (!c)
			return NULL;
		note_alloc(chunk_size(c));
		return mem(c);
	}
	c = find_free(size);
	if (c) {
		split(c, size);
	} else {
		c = heap_grow(HDR + size);
		if (!c)
			return NULL;
		/*
		 * The last chunk's footer may be read only if that chunk is
		 * free and ends right here (no gap in the break).
		 */
		c->size = size | PREV_INUSE;
		if (heap_last && heap_last->state == CHUNK_FREE &&
		    next_chunk(heap_last) == c)
			c->size = size;
		c->magic = MAGIC;
		append(c);
	}
	c->state = CHUNK_USED;
	set_prev_inuse(c, 1);
	note_alloc(chunk_size(c));
	return mem(c);
}

/*
 * A takes in B, the free chunk right after it in memory and in the list. B's
 * header becomes payload; its magic is wiped so that a stale pointer to it
 * is caught rather than taken for a chunk.
 */
static void absorb(struct chunk *a, struct chunk *b)
{
	a->size += HDR + chunk_size(b);		/* keeps A's PREV_INUSE bit */
	a->next = b->next;
	b->magic = 0;
	if (heap_last == b)
		heap_last = a;
	stats.merges++;
}

/*
 * A mapped chunk goes back to the kernel. Any other is marked free and merged
 * with whichever neighbours are free: the one after, found from its size;
 * the one before, found from its footer. Then it writes its own footer and
 * clears the next chunk's PREV_INUSE.
 */
static void chunk_free(void *p)
{
	struct chunk *c = chunk(p), *n;

	if (c->state == CHUNK_MMAPPED) {
		note_free(chunk_size(c));
		chunk_unmap(c);
		return;
	}
	if (c->state != CHUNK_USED)
		bad_pointer("double free", p);
	c->state = CHUNK_FREE;
	note_free(chunk_size(c));
	n = neighbour_after(c);
	if (n && n->state == CHUNK_FREE)
		absorb(c, n);
	if (!(c->size & PREV_INUSE)) {
		n = prev_chunk(c);
		if (n->magic != MAGIC || n->state != CHUNK_FREE || n->next != c)
			bad_pointer("heap corrupted: bad footer before", p);
		absorb(n, c);
		c = n;
	}
	*footer(c) = chunk_size(c);
	set_prev_inuse(c, 0);
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
 * Follow a list. A header whose magic is gone cannot be trusted to say
 * where the next one is, so the walk reports it and stops there.
 */
static size_t list_walk(struct chunk *c,
			void (*visit)(const struct heaplab_chunk *, void *),
			void *arg)
{
	struct heaplab_chunk ch;
	size_t n = 0;

	for (; c; c = c->next) {
		ch.addr = (uintptr_t)mem(c);
		ch.size = chunk_size(c);
		ch.state = c->state == CHUNK_FREE ? HEAPLAB_CHUNK_FREE :
			   c->state == CHUNK_MMAPPED ? HEAPLAB_CHUNK_MMAPPED :
			   HEAPLAB_CHUNK_USED;
		ch.magic = c->magic == MAGIC;
		visit(&ch, arg);
		n++;
		if (!ch.magic)
			break;
	}
	return n;
}

/* The sbrk heap in address order, then the mapped chunks. */
static size_t heap_walk(void (*visit)(const struct heaplab_chunk *, void *),
			void *arg)
{
	size_t n = list_walk(heap_first, visit, arg);

	return n + list_walk(mapped_first, visit, arg);
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
	"mmap: big requests get a mapping of their own, munmapped on free";

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
