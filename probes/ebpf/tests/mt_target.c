// SPDX-License-Identifier: MIT
/*
 * mt_target — deterministic programs for the ebpf engine's tests.
 *
 *   mt_target basic      small mallocs that grow the break, one
 *                        malloc(200000) served by mmap, frees
 *   mt_target threads N  N threads, each mallocing small and large chunks
 *   mt_target forkexec   fork; the child execs `mt_target basic`
 *   mt_target hang       maps a page, says "ready" on stdout, sleeps
 *   mt_target churn N    N malloc/free pairs, some above the threshold
 *   mt_target heavy N    N malloc/free pairs (the benchmark's malloc-heavy
 *                        program): a window of live small chunks that moves
 *                        the break up and down, one chunk in 100 above the
 *                        pinned 128 KiB threshold (mmap/munmap)
 *   mt_target usdt       fires heaplab USDT probes with known arguments
 *                        (as libheaplab's would), then mallocs
 *   mt_target memsys N [together]
 *                        each of the six memory syscalls directly, some
 *                        failing (-EINVAL, -EFAULT, -ENOMEM), in the main
 *                        thread and then in N threads, one at a time (or
 *                        all at once)
 *   mt_target pairs N SIZE
 *                        N malloc(SIZE)/free pairs
 *   mt_target forks N    N malloc(1000)/free pairs in the process and in
 *                        a thread (1004), in each of N forked children
 *                        that do not exec (1001), in a vfork child before
 *                        it execs `pairs N 1002` and in a fork child that
 *                        execs `pairs N 1003`; then says on stderr whether
 *                        its own maps have a [uprobes] page
 *   mt_target spin FILE SIZE
 *                        malloc(SIZE)/free pairs until FILE exists (at
 *                        least one), then "pairs P uprobes U" on stdout: how
 *                        many, and whether its maps have a [uprobes] page
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void basic(void)
{
	void *small[64];

	for (int i = 0; i < 64; i++) {
		small[i] = malloc(4000);
		memset(small[i], 1, 4000);
	}
	sink = malloc(200000);
	free(sink);
	for (int i = 0; i < 64; i++)
		free(small[i]);
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 16; i++) {
		sink = malloc(1000 + i * 100);
		sink = malloc(300000);
		free(sink);
	}
	return NULL;
}

static int threads(int n)
{
	pthread_t t[64];

	if (n > 64)
		n = 64;
	/* Pinned, so every malloc(300000) is an mmap, not only the first. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	worker(NULL);
	return 0;
}

static int forkexec(const char *self)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execl(self, self, "basic", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	sink = malloc(150000);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void pairs(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
}

/* Has this process a [uprobes] page (uprobes' out-of-line area, mapped at
 * the first hit of a uretprobe or a single-stepped uprobe)? */
static int uprobes_page(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[uprobes]"))
			found = 1;
	fclose(f);
	return found;
}

static void *pairs_1004(void *arg)
{
	pairs((long)arg, 1004);
	return NULL;
}

/* Calls in a vfork child (the parent's mm, its uprobes), then an exec. */
static int vfork_pairs(const char *self, const char *arg, long n)
{
	int status;
	pid_t pid = vfork();

	if (pid == 0) {
		pairs(n, 1002);
		execl(self, self, "pairs", arg, "1002", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return !WIFEXITED(status) || WEXITSTATUS(status);
}

static int forks(const char *self, long n)
{
	char arg[32];
	pthread_t t;
	pid_t pid;
	int fails = 0, status;

	snprintf(arg, sizeof(arg), "%ld", n);
	pairs(n, 1000);
	pthread_create(&t, NULL, pairs_1004, (void *)n);
	pthread_join(t, NULL);
	for (long i = 0; i < n; i++) {
		pid = fork();
		if (pid == 0) {
			pairs(n, 1001);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		fails += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	fails += vfork_pairs(self, arg, n);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "pairs", arg, "1003", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	fails += !WIFEXITED(status) || WEXITSTATUS(status);
	fprintf(stderr, "uprobes page %d\n", uprobes_page());
	return fails ? 1 : 0;
}

static int spin(const char *file, size_t size)
{
	long n = 0;

	do {
		pairs(1000, size);
		n += 1000;
	} while (access(file, F_OK) != 0);
	printf("pairs %ld uprobes %d\n", n, uprobes_page());
	return 0;
}

static _Noreturn void hang(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	printf("ready %p\n", p);
	fflush(stdout);
	for (;;)
		pause();
}

static int churn(long n)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	for (long i = 0; i < n; i++) {
		size_t sz = (i % 16 == 0) ? 200000 : 16 + (i % 512);
		char *p = malloc(sz);

		sink = p;	/* a pair the compiler cannot drop */
		p[0] = 1;
		free(sink);
	}
	return 0;
}

static int heavy(long n)
{
	enum { WINDOW = 4096 };
	static char *live[WINDOW];

	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	for (long i = 0; i < n; i++) {
		size_t slot = (size_t)(i * 2654435761u) % WINDOW;
		size_t sz = i % 100 == 0 ? 200000 : 16 + (i * 37) % 4000;

		free(live[slot]);
		live[slot] = malloc(sz);
		live[slot][0] = 1;
		/* Every so often the window empties: the top is trimmed. */
		if (i % 200000 == 199999)
			for (int j = 0; j < WINDOW; j++) {
				free(live[j]);
				live[j] = NULL;
			}
	}
	return 0;
}

/*
 * Every kind the engine follows, with all its arguments and both kinds of
 * return (an address or 0, and -errno), raw: no libc wrapper between.
 */
static void *memsys_one(void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p, *q;

	(void)arg;
	p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	p[0] = 1;
	q = (char *)syscall(SYS_mremap, p, 4 * page, 8 * page, MREMAP_MAYMOVE, NULL);
	if (q == MAP_FAILED)
		q = p;
	syscall(SYS_mprotect, q, page, PROT_READ);
	syscall(SYS_madvise, q + page, page, MADV_DONTNEED);
	syscall(SYS_madvise, q + 1, page, MADV_DONTNEED);	/* EINVAL */
	/* EFAULT: mprotect split the mapping, and this spans both parts */
	syscall(SYS_mremap, q, 8 * page, 16 * page, 0, NULL);
	syscall(SYS_munmap, q + 1, page);		/* EINVAL: unaligned */
	syscall(SYS_munmap, q, 8 * page);
	syscall(SYS_mmap, NULL, (size_t)1 << 62, PROT_READ,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);	/* ENOMEM */
	return NULL;
}

static int memsys(int n, int together)
{
	pthread_t t[64];
	void *b0 = (void *)syscall(SYS_brk, 0);

	syscall(SYS_brk, (char *)b0 + 65536);
	syscall(SYS_brk, b0);
	if (n > 64)
		n = 64;
	memsys_one(NULL);
	/* One after another: the same addresses from run to run. */
	for (int i = 0; i < n; i++) {
		pthread_create(&t[i], NULL, memsys_one, NULL);
		if (!together)
			pthread_join(t[i], NULL);
	}
	for (int i = 0; together && i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static int usdt(void)
{
	DTRACE_PROBE2(heaplab, heap_grow, 0x1000, 4096);
	DTRACE_PROBE2(heaplab, trim, 0x2000, 8192);
	DTRACE_PROBE2(heaplab, threshold, 131072, 262144);
	sink = malloc(100);
	free(sink);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "basic";
	long n = argc > 2 ? atol(argv[2]) : 4;

	if (strcmp(mode, "basic") == 0)
		basic();
	else if (strcmp(mode, "threads") == 0)
		return threads((int)n);
	else if (strcmp(mode, "forkexec") == 0)
		return forkexec(argv[0]);
	else if (strcmp(mode, "hang") == 0)
		hang();
	else if (strcmp(mode, "heavy") == 0)
		return heavy(n);
	else if (strcmp(mode, "usdt") == 0)
		return usdt();
	else if (strcmp(mode, "churn") == 0)
		return churn(n);
	else if (strcmp(mode, "pairs") == 0)
		pairs(n, argc > 3 ? (size_t)atol(argv[3]) : 16);
	else if (strcmp(mode, "forks") == 0)
		return forks(argv[0], n);
	else if (strcmp(mode, "spin") == 0 && argc > 3)
		return spin(argv[2], (size_t)atol(argv[3]));
	else if (strcmp(mode, "memsys") == 0)
		return memsys((int)n, argc > 3 && !strcmp(argv[3], "together"));
	else {
		fprintf(stderr, "mt_target: unknown mode '%s'\n", mode);
		return 2;
	}
	return 0;
}
