// SPDX-License-Identifier: MIT
/*
 * fuzz.c — randomized malloc/free/realloc/memalign/calloc from four threads
 * over a shared table (so most frees are cross-thread), every byte checked,
 * malloc_trim and a fork thrown in, under several HEAPLAB_OPTIONS that push
 * the allocator down its rarer paths. Each option set runs in a child.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>

#include "lab/tests/tap.h"
#include "allocator/tests/preload.h"

#define SLOTS 512
#define ITERS 100000
static unsigned char *slot[SLOTS];
static size_t slot_len[SLOTS];
static pthread_mutex_t slot_lock[SLOTS];
static int bad;

static void fill(unsigned char *p, size_t n, unsigned t)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(t + i * 13);
}

static int intact(const unsigned char *p, size_t n, unsigned t)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(t + i * 13))
			return 0;
	return 1;
}

static size_t pick_size(unsigned r)
{
	switch ((r >> 10) % 16) {
	case 0:
		return (r >> 12) % 400000;	/* around the mmap threshold */
	case 1:
	case 2:
		return (r >> 12) % 5000;	/* large bins */
	default:
		return (r >> 12) % 300;		/* thread cache and fast bins */
	}
}

static void step(unsigned r)
{
	unsigned k = r % SLOTS;
	size_t n = pick_size(r), keep;
	unsigned char *p, *q;

	pthread_mutex_lock(&slot_lock[k]);
	p = slot[k];
	if (p && !intact(p, slot_len[k], k))
		bad++;
	switch ((r >> 20) % 6) {
	case 0:
		free(p);
		p = NULL;
		break;
	case 1:
		q = realloc(p, ++n);
		keep = slot_len[k] < n ? slot_len[k] : n;
		if (q && p && !intact(q, keep, k))
			bad++;
		p = q;
		break;
	case 2: {
		size_t align = (size_t)16 << ((r >> 23) % 10);

		free(p);
		p = memalign(align, n);
		if (p && ((uintptr_t)p & (align - 1)))
			bad++;
		break;
	}
	case 3:
		free(p);
		p = calloc(1, n);
		for (size_t i = 0; p && i < n; i++)
			if (p[i]) {
				bad++;
				break;
			}
		break;
	default:
		free(p);
		p = malloc(n);
	}
	if (p)
		fill(p, n, k);
	slot[k] = p;
	slot_len[k] = p ? n : 0;
	pthread_mutex_unlock(&slot_lock[k]);
}

static void *worker(void *arg)
{
	unsigned s = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < ITERS; i++) {
		s = s * 1103515245 + 12345;
		step(s >> 4);
		if (i % 25000 == 0 && (uintptr_t)arg == 1)
			malloc_trim(0);
	}
	return NULL;
}

static int run(void)
{
	pthread_t t[4];
	pid_t pid;
	int status;

	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_init(&slot_lock[i], NULL);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	pid = fork();
	if (pid == 0) {
		void *x = malloc(100), *y = malloc(300000);

		free(x);
		free(y);
		_exit(0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		bad++;
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i] && !intact(slot[i], slot_len[i], (unsigned)i))
			bad++;
		free(slot[i]);
	}
	printf("bad=%d\n", bad);
	return bad != 0;
}

static const char *const option_sets[] = {
	"",
	"mmap_threshold=4096",
	"tcache_count=0,max_fast=0",
	"top_pad=0,trim_threshold=0,arena_max=1,thp=1",
	"tcache_count=300,max_fast=160,perturb=85",
	"check=1,arena_max=2,mmap_threshold=64k",
};

int main(int argc, char **argv)
{
	preload_self(argv);
	if (argc == 2 && !strcmp(argv[1], "run"))
		return run();
	for (size_t i = 0; i < sizeof(option_sets) / sizeof(option_sets[0]); i++) {
		char out[256] = "";
		int fd[2], status;
		ssize_t n;
		pid_t pid;

		if (pipe(fd))
			return 1;
		pid = fork();
		if (pid == 0) {
			dup2(fd[1], 1);
			close(fd[0]);
			setenv("HEAPLAB_OPTIONS", option_sets[i], 1);
			execl("/proc/self/exe", "fuzz", "run", (char *)NULL);
			_exit(127);
		}
		close(fd[1]);
		n = read(fd[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		close(fd[0]);
		waitpid(pid, &status, 0);
		if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strcmp(out, "bad=0\n"),
			"4 threads x %d random calls, contents checked, with HEAPLAB_OPTIONS='%s'",
			ITERS, option_sets[i]))
			diag("status %#x, output %s", status, out);
	}
	return tap_done();
}
