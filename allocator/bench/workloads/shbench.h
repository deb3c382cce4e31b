/* SPDX-License-Identifier: MIT */
/*
 * shbench.h — the shape of MicroQuill's SmartHeap benchmarks sh6bench and
 * sh8bench, as mimalloc-bench runs them (4 threads). Each thread, per
 * iteration: allocates a run of blocks whose size cycles through 1..1000
 * bytes, frees every other one in reverse order, fills the holes again,
 * frees the run front to back and keeps a tenth alive until the next
 * iteration. sh8bench adds cross-thread frees: the kept tenth is mailed to
 * the next thread, which frees it.
 */
#ifndef HEAPLAB_BENCH_SHBENCH_H
#define HEAPLAB_BENCH_SHBENCH_H

#include <pthread.h>

#include "wl.h"

#define SH_THREADS 4
#define SH_RUN 2500
#define SH_KEEP (SH_RUN / 10)

struct sh_mail {
	pthread_mutex_t lock;
	void *blk[SH_KEEP];
	size_t len[SH_KEEP];
	int n;
};

struct sh_thread {
	int id, cross;
	long iters;
	void *keep[SH_KEEP];
	size_t keep_len[SH_KEEP];
};

static struct sh_mail sh_box[SH_THREADS];

static size_t sh_size(unsigned i)
{
	return 1 + (i * 37u) % 1000u;
}

/* Frees what the previous thread mailed us. */
static void sh_drain(int id)
{
	struct sh_mail *m = &sh_box[id];

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->n; i++)
		wl_free(m->blk[i], m->len[i]);
	m->n = 0;
	pthread_mutex_unlock(&m->lock);
}

/* Mails the kept blocks to the next thread, or frees them if its box is full. */
static void sh_mail_keep(struct sh_thread *t)
{
	struct sh_mail *m = &sh_box[(t->id + 1) % SH_THREADS];

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < SH_KEEP; i++) {
		if (!t->keep[i])
			continue;
		if (m->n < SH_KEEP) {
			m->blk[m->n] = t->keep[i];
			m->len[m->n++] = t->keep_len[i];
		} else {
			wl_free(t->keep[i], t->keep_len[i]);
		}
		t->keep[i] = NULL;
	}
	pthread_mutex_unlock(&m->lock);
}

static void *sh_worker(void *arg)
{
	struct sh_thread *t = arg;
	void *blk[SH_RUN];
	size_t len[SH_RUN];
	unsigned s = (unsigned)t->id * 101u;

	for (long it = 0; it < t->iters; it++) {
		if (t->cross)
			sh_drain(t->id);
		for (int i = 0; i < SH_RUN; i++) {
			len[i] = sh_size(s++);
			blk[i] = wl_malloc(len[i]);
		}
		for (int i = SH_RUN - 1; i >= 0; i -= 2)
			wl_free(blk[i], len[i]);
		for (int i = SH_RUN - 1; i >= 0; i -= 2) {
			len[i] = sh_size(s++);
			blk[i] = wl_malloc(len[i]);
		}
		/* The kept tenth of the last iteration dies now, or is mailed. */
		if (t->cross) {
			sh_mail_keep(t);
		} else {
			for (int i = 0; i < SH_KEEP; i++)
				wl_free(t->keep[i], t->keep_len[i]);
		}
		for (int i = 0; i < SH_RUN; i++) {
			if (i % 10 == 0) {
				t->keep[i / 10] = blk[i];
				t->keep_len[i / 10] = len[i];
			} else {
				wl_free(blk[i], len[i]);
			}
		}
	}
	for (int i = 0; i < SH_KEEP; i++)
		wl_free(t->keep[i], t->keep_len[i]);
	return NULL;
}

static int sh_main(int argc, char **argv, const char *name, int cross)
{
	double scale = wl_scale(argc, argv, name);
	static struct sh_thread th[SH_THREADS];
	pthread_t tid[SH_THREADS];

	/* Every mailbox is ready before any thread can post to it. */
	for (int i = 0; i < SH_THREADS; i++)
		pthread_mutex_init(&sh_box[i].lock, NULL);
	for (int i = 0; i < SH_THREADS; i++) {
		th[i].id = i;
		th[i].cross = cross;
		th[i].iters = wl_count(scale, 1500, 2);
		if (pthread_create(&tid[i], NULL, sh_worker, &th[i]))
			wl_die("pthread_create failed");
	}
	for (int i = 0; i < SH_THREADS; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < SH_THREADS; i++)
		sh_drain(i);
	return 0;
}

#endif
