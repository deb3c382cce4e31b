// SPDX-License-Identifier: MIT
/*
 * footprint — the pages of libheaplab.so itself that an ordinary program
 * keeps resident (they count in its peak RSS like its heap does):
 *
 *   - the read-only data segment (.rodata: option names, error messages;
 *     .eh_frame) is read only on an error, by an option or by an unwinder:
 *     a program that sets no option and frees correctly never faults it in
 *     (the kernel maps 64 KiB around a fault, so one read costs all of it);
 *   - the code segment is resident whole as soon as malloc runs (a fault
 *     maps the 64 KiB around it), so its size is what every program pays:
 *     at most 10 pages (libc is called through the GOT, without PLT
 *     stubs, and the files a program reaches once or never are compiled
 *     for size: allocator/build.mk);
 *   - the data and bss segment (relro, data, the small variables) stays
 *     within a few pages: the big, sparsely touched tables (the heap
 *     bitmap, the mapped-chunk table) sit after the small variables, and
 *     the mapped chunks of a program, near each other in memory, fill
 *     neighbouring slots of their table;
 *   - the loader's segment (ELF headers, dynamic symbols, relocations)
 *     is read at every start-up: it fits one page (relocations cost 24
 *     bytes each there; a table of pointers in the library needs one per
 *     pointer).
 *
 * Read from /proc/self/pagemap (the present bit needs no privilege), after
 * mallocs and frees of every kind, with HEAPLAB_OPTIONS unset.
 */
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

struct seg {
	uintptr_t lo, hi;	/* page-aligned */
};

struct lib_segs {
	struct seg head;	/* the read-only PT_LOAD before the code */
	struct seg code;	/* the executable PT_LOAD */
	struct seg rodata;	/* the read-only PT_LOAD after the code */
	struct seg rw;		/* the writable PT_LOAD, bss included */
	int found;
};

static int find_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lib_segs *ls = arg;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	int seen_code = 0;

	(void)size;
	if (!strstr(info->dlpi_name, "libheaplab"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		struct seg s = { lo & ~(page - 1), (lo + ph->p_memsz + page - 1) & ~(page - 1) };

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_flags & PF_X) {
			seen_code = 1;
			ls->code = s;
		}
		else if (ph->p_flags & PF_W)
			ls->rw = s;
		else if (seen_code && !ls->rodata.lo)
			ls->rodata = s;
		else if (!seen_code && !ls->head.lo)
			ls->head = s;
	}
	ls->found = 1;
	return 1;
}

/* Resident pages in [lo, hi), or -1 if pagemap cannot be read. */
static long resident(uintptr_t lo, uintptr_t hi)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long n = 0;

	if (fd < 0)
		return -1;
	for (uintptr_t a = lo; a < hi; a += page) {
		uint64_t e = 0;

		if (pread(fd, &e, sizeof(e), (off_t)(a / page * sizeof(e))) != sizeof(e)) {
			n = -1;
			break;
		}
		n += (long)(e >> 63);
	}
	close(fd);
	return n;
}

static void *thread_work(void *arg)
{
	void *p[64];

	(void)arg;
	for (int r = 0; r < 100; r++) {
		for (int i = 0; i < 64; i++)
			p[i] = malloc(16 + (size_t)(i * 37 % 2000));
		for (int i = 0; i < 64; i++)
			free(p[i]);
	}
	return NULL;
}

/* Small blocks of every size class, through the bins, in one thread. */
static void small_blocks(void)
{
	static void *p[2000];

	for (int r = 0; r < 5; r++) {
		for (int i = 0; i < 2000; i++)
			p[i] = malloc(1 + (size_t)(i * 131 % 3000));
		for (int i = 0; i < 2000; i += 3)
			p[i] = realloc(p[i], 1 + (size_t)(i * 71 % 5000));
		for (int i = 0; i < 2000; i++)
			free(p[i]);
	}
}

/* Every kind of call a program makes, on every path but the error ones. */
static void workload(void)
{
	static void *p[4096];
	pthread_t t;
	char *big;

	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 4096; i++)
			p[i] = malloc(1 + (size_t)(i * 131 % 3000));
		for (int i = 0; i < 4096; i += 2)
			p[i] = realloc(p[i], 1 + (size_t)(i * 71 % 5000));
		for (int i = 0; i < 4096; i++)
			free(p[i]);
	}
	/* 64 mapped chunks alive at once, moved by mremap, then freed. */
	for (int i = 0; i < 64; i++)
		p[i] = calloc(1, (size_t)(200 + i * 47 % 3000) << 10);
	for (int i = 0; i < 64; i++)
		p[i] = realloc(p[i], (size_t)(400 + i * 31 % 4000) << 10);
	for (int i = 0; i < 64; i++)
		free(p[i]);
	big = calloc(1, 40 << 20);	/* above the dynamic threshold's cap */
	big = realloc(big, 48 << 20);
	free(big);
	big = memalign(4096, 100000);
	free(big);
	free(malloc(200 << 10));
	ok(pthread_create(&t, NULL, thread_work, NULL) == 0 && pthread_join(t, NULL) == 0,
	   "a thread allocates and exits");
	malloc_trim(0);
}

int main(int argc, char **argv)
{
	struct lib_segs ls = { 0 };
	long ro, rw;

	(void)argc;
	if (!getenv("HEAPLAB_TEST_REEXEC"))
		unsetenv("HEAPLAB_OPTIONS");	/* options are read from .rodata */
	preload_self(argv);
	dl_iterate_phdr(find_segs, &ls);
	if (!ok(ls.found && ls.code.lo && ls.rodata.lo && ls.rw.lo, "libheaplab.so's segments found"))
		return tap_done();
	/*
	 * One thread, small blocks only: relro and one page of .data and
	 * the small variables (the main arena with its bins' heads; with a
	 * whole chunk per head it took 2).
	 */
	small_blocks();
	rw = resident(ls.rw.lo, ls.rw.hi);
	ok(rw >= 0 && rw <= 2, "one thread, small blocks: at most 2 pages of data and bss resident (%ld)",
	   rw);
	workload();
	ro = resident(ls.rodata.lo, ls.rodata.hi);
	rw = resident(ls.rw.lo, ls.rw.hi);
	if (ro < 0 || rw < 0) {
		ok(0, "/proc/self/pagemap readable");
		return tap_done();
	}
	ok(ls.head.lo && (ls.head.hi - ls.head.lo) / 4096 == 1,
	   "the loader's segment (headers, symbols, relocations) spans 1 page (%lu)",
	   (unsigned long)((ls.head.hi - ls.head.lo) / 4096));
	/* 11 pages with PLT stubs and everything at -O2. */
	ok((ls.code.hi - ls.code.lo) / 4096 <= 10, "the code segment spans at most 10 pages (%lu)",
	   (unsigned long)((ls.code.hi - ls.code.lo) / 4096));
	ok(ro == 0, "no page of the read-only data segment resident (%ld of %lu)", ro,
	   (unsigned long)((ls.rodata.hi - ls.rodata.lo) / 4096));
	/*
	 * relro, .data and the small variables of .bss: 2 pages; the heap
	 * bitmap's page of the thread's heap: 1; the mapped-chunk table: a
	 * page per 64 MiB of address space the 64 mappings span, 4 at most
	 * here. With the big tables between the small variables and the
	 * slots hashed, 34.
	 */
	ok(rw <= 8, "at most 8 pages of data and bss resident (%ld of %lu)", rw,
	   (unsigned long)((ls.rw.hi - ls.rw.lo) / 4096));
	return tap_done();
}
