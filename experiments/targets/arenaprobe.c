// SPDX-License-Identifier: MIT
/*
 * arenaprobe NTHREADS [SIZE] — NTHREADS threads each malloc(SIZE) (default
 * 100) and hold it while the main thread reads /proc/self/maps, so every
 * block's mapping is seen with all threads alive at once. Prints:
 *
 *	block I ADDR START END PERMS	the mapping block I lies in ([heap]: 1)
 *	reserve START END		PROT_NONE memory right after a mapping
 *					holding blocks (a heap's reserved tail)
 *	malloc_info_heaps N		arenas glibc's malloc_info() counts, when
 *					the allocator has malloc_info
 *
 * The main thread allocates nothing before the threads do, so with glibc
 * it is the threads that ask for arenas.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 256

static pthread_barrier_t allocated, inspected;
static void *volatile blocks[MAX_THREADS];
static size_t block_size = 100;
static char maps[1 << 20];

static void *worker(void *arg)
{
	intptr_t i = (intptr_t)arg;

	blocks[i] = malloc(block_size);
	pthread_barrier_wait(&allocated);
	pthread_barrier_wait(&inspected);
	free(blocks[i]);
	return NULL;
}

static void read_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		exit(3);
	while ((n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += n;
	maps[len] = '\0';
	close(fd);
}

/* The maps line containing ADDR: its bounds and permissions. */
static int find_mapping(uintptr_t addr, uintptr_t *start, uintptr_t *end,
			char perms[5], int *is_heap)
{
	for (char *l = maps; *l; ) {
		char *nl = strchr(l, '\n');
		unsigned long s, e;
		char p[5];

		if (sscanf(l, "%lx-%lx %4s", &s, &e, p) == 3 &&
		    addr >= s && addr < e) {
			*start = s;
			*end = e;
			memcpy(perms, p, 5);
			*is_heap = nl ? !!memmem(l, nl - l, "[heap]", 6) :
					!!strstr(l, "[heap]");
			return 0;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return -1;
}

static void print_reserve(uintptr_t end)
{
	uintptr_t s, e;
	char perms[5];
	int heap;

	if (find_mapping(end, &s, &e, perms, &heap) == 0 && s == end &&
	    !strcmp(perms, "---p"))
		printf("reserve 0x%lx 0x%lx\n", (unsigned long)s,
		       (unsigned long)e);
}

/* True when SYM comes from the same object as the malloc in use. */
static int same_object_as_malloc(void *sym)
{
	Dl_info a, b;

	return sym && dladdr(sym, &a) && dladdr(dlsym(RTLD_DEFAULT, "malloc"),
						&b) &&
	       strcmp(a.dli_fname, b.dli_fname) == 0;
}

/*
 * The allocator's own count: glibc's malloc_info prints one <heap nr=...>
 * per arena. Only asked of the allocator in use: with another one
 * preloaded, dlsym would find glibc's idle malloc_info instead.
 */
static void print_malloc_info(void)
{
	int (*info)(int, FILE *) = (int (*)(int, FILE *))dlsym(RTLD_DEFAULT,
							       "malloc_info");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int heaps = 0;

	if (!same_object_as_malloc((void *)info))
		return;
	f = open_memstream(&buf, &len);
	if (!f || info(0, f) != 0) {
		if (f)
			fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	for (char *p = buf; (p = strstr(p, "<heap nr=")); p++)
		heaps++;
	printf("malloc_info_heaps %d\n", heaps);
	free(buf);
}

int main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	int n = argc > 1 ? atoi(argv[1]) : 0;

	if (n < 1 || n > MAX_THREADS)
		return 2;
	if (argc > 2)
		block_size = strtoull(argv[2], NULL, 0);
	pthread_barrier_init(&allocated, NULL, n + 1);
	pthread_barrier_init(&inspected, NULL, n + 1);
	for (intptr_t i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, worker, (void *)i) != 0)
			return 3;
	pthread_barrier_wait(&allocated);
	read_maps();
	for (int i = 0; i < n; i++) {
		uintptr_t s, e;
		char perms[5] = "?";
		int heap = 0;

		if (find_mapping((uintptr_t)blocks[i], &s, &e, perms, &heap))
			s = e = 0;
		printf("block %d 0x%lx 0x%lx 0x%lx %s %d\n", i,
		       (unsigned long)(uintptr_t)blocks[i], (unsigned long)s,
		       (unsigned long)e, perms, heap);
		if (e)
			print_reserve(e);
	}
	print_malloc_info();
	fflush(stdout);
	pthread_barrier_wait(&inspected);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
