// SPDX-License-Identifier: MIT
/*
 * replayer — replays the allocator calls `heaplab replay` prepared (see
 * experiments/replay.h) under whatever allocator is preloaded:
 *
 *	replayer OPFILE
 *
 * One thread per recorded thread; op i starts only once op i-1 is done, so
 * the sequence of live bytes is the recorded one, and a block freed by
 * another thread than the one that made it is freed that way here too.
 * Prints "ops", "ns" (from the moment all threads are ready until the last
 * op, footprint sampling excluded), "peak_footprint" (break growth plus rw
 * anonymous mappings, sampled after the ops flagged RP_SAMPLE: footprint.h)
 * and, under a teaching allocator, its own "phase_peak_footprint".
 *
 * The op file and the handle array are mapped with mmap, never malloc'd:
 * the heap belongs to the calls being replayed.
 */
#include <errno.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "experiments/replay.h"
#include "experiments/targets/footprint.h"

static const struct rp_header *hdr;
static const uint32_t *first;
static const struct rp_op *ops;
static void **handle;

static _Atomic uint64_t turn;			/* the op that may run now */
static _Atomic uint32_t wake[RP_MAX_THREADS];	/* futex word per thread */
static _Atomic long long sample_ns;
static struct footprint fp;
static long long phase0;		/* the phase's footprint at start */
static pthread_barrier_t ready;

static long long ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void futex(_Atomic uint32_t *word, int op, uint32_t val)
{
	syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static void wait_turn(uint32_t t, uint64_t i)
{
	while (atomic_load(&turn) != i) {
		uint32_t seen = atomic_load(&wake[t]);

		if (atomic_load(&turn) == i)
			break;
		futex(&wake[t], FUTEX_WAIT, seen);
	}
}

static void pass_turn(uint32_t t, uint64_t i)
{
	atomic_store(&turn, i + 1);
	if (i + 1 < hdr->nops && ops[i + 1].thread != t) {
		uint32_t u = ops[i + 1].thread;

		atomic_fetch_add(&wake[u], 1);
		futex(&wake[u], FUTEX_WAKE, 1);
	}
}

static void failed(uint64_t i)
{
	report("failed_op", (long long)i);
	_exit(4);
}

static void run_op(uint64_t i)
{
	const struct rp_op *o = &ops[i];
	void *p = NULL;

	switch (o->kind) {
	case RP_MALLOC: p = malloc(o->size); break;
	case RP_CALLOC: p = calloc(o->arg, o->size); break;
	case RP_REALLOC: p = realloc(handle[o->old], o->size); break;
	case RP_FREE: free(handle[o->old]); handle[o->old] = NULL; return;
	case RP_MEMALIGN: p = memalign(o->arg, o->size); break;
	case RP_POSIX_MEMALIGN:
		if (posix_memalign(&p, o->arg, o->size))
			p = NULL;
		break;
	case RP_ALIGNED_ALLOC: p = aligned_alloc(o->arg, o->size); break;
	case RP_VALLOC: p = valloc(o->size); break;
	case RP_PVALLOC: p = pvalloc(o->size); break;
	default: failed(i);
	}
	if (!p)
		failed(i);
	/* Touch it, as the program did when it used the block. */
	if (p && o->size)
		((volatile char *)p)[0] = 1;
	if (o->kind == RP_REALLOC)
		handle[o->old] = NULL;
	handle[o->handle] = p;
}

static void *worker(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;

	pthread_barrier_wait(&ready);
	for (uint32_t i = first[t]; i != RP_NONE; i = ops[i].next) {
		wait_turn(t, i);
		run_op(i);
		if (ops[i].flags & RP_SAMPLE) {
			long long t0 = ns_now();

			footprint_sample(&fp);
			atomic_fetch_add(&sample_ns, ns_now() - t0);
		}
		pass_turn(t, i);
	}
	return NULL;
}

static int load(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);
	void *m;

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < (off_t)sizeof(*hdr))
		return -1;
	m = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	hdr = m;
	if (memcmp(hdr->magic, RP_MAGIC, 8) || !hdr->nthreads ||
	    hdr->nthreads > RP_MAX_THREADS ||
	    (uint64_t)sb.st_size != sizeof(*hdr) + hdr->nthreads * 4 +
				    hdr->nops * sizeof(struct rp_op))
		return -1;
	first = (const uint32_t *)(hdr + 1);
	ops = (const struct rp_op *)(first + hdr->nthreads);
	handle = mmap(NULL, (hdr->nhandles + 1) * sizeof(void *),
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	return handle == MAP_FAILED ? -1 : 0;
}

int main(int argc, char **argv)
{
	static pthread_t tids[RP_MAX_THREADS];
	pthread_attr_t attr;
	long long t0, t1;

	if (argc != 2 || load(argv[1]) < 0)
		return 2;
	phase_lookup();
	pthread_barrier_init(&ready, NULL, hdr->nthreads + 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (uint32_t t = 0; t < hdr->nthreads; t++)
		if (pthread_create(&tids[t], &attr, worker,
				   (void *)(uintptr_t)t))
			return 5;
	/* The baseline: every thread's stack is mapped by now. */
	footprint_start(&fp);
	if (phase_stats) {
		struct heaplab_phase_stats st;

		phase_stats(&st);
		phase0 = st.heap_size + st.mapped_bytes;
	}
	t0 = ns_now();
	pthread_barrier_wait(&ready);
	for (uint32_t t = 0; t < hdr->nthreads; t++)
		pthread_join(tids[t], NULL);
	t1 = ns_now();
	footprint_sample(&fp);
	report("ops", (long long)hdr->nops);
	report("threads", hdr->nthreads);
	report("ns", t1 - t0 - atomic_load(&sample_ns));
	report("peak_footprint", fp.peak);
	report("samples", fp.samples);
	if (phase_stats) {
		struct heaplab_phase_stats st;

		phase_stats(&st);
		report("phase_peak_footprint",
		       (long long)st.peak_footprint - phase0);
	}
	return 0;
}
