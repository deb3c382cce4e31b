// SPDX-License-Identifier: MIT
/*
 * rptest — the shape of rpmalloc's rptest as mimalloc-bench runs it: each
 * of two threads keeps a working set of blocks of 8..16000 bytes (small
 * ones most likely), replaces the oldest half of it each loop, and every
 * other loop hands a batch of its live blocks to the other thread, which
 * frees them: long-lived, mid-sized and cross-thread at once.
 */
#include <pthread.h>

#include "wl.h"

#define THREADS 2
#define SET 2000		/* live blocks per thread */
#define HAND 200		/* blocks handed over per exchange */

struct inbox {
	pthread_mutex_t lock;
	void *blk[4 * HAND];
	size_t len[4 * HAND];
	int n;
};

struct worker {
	int id;
	long loops;
	uint64_t rng;
};

static struct inbox inbox[THREADS];

static void drain(int id)
{
	struct inbox *in = &inbox[id];

	pthread_mutex_lock(&in->lock);
	for (int i = 0; i < in->n; i++)
		wl_free(in->blk[i], in->len[i]);
	in->n = 0;
	pthread_mutex_unlock(&in->lock);
}

/* Moves slots [from, from + HAND) to the other thread; a full inbox frees here. */
static void hand_over(int id, void **blk, size_t *len, int from)
{
	struct inbox *in = &inbox[(id + 1) % THREADS];

	pthread_mutex_lock(&in->lock);
	for (int i = from; i < from + HAND; i++) {
		if (in->n < 4 * HAND) {
			in->blk[in->n] = blk[i];
			in->len[in->n++] = len[i];
		} else {
			wl_free(blk[i], len[i]);
		}
		blk[i] = NULL;
	}
	pthread_mutex_unlock(&in->lock);
}

static void *run(void *arg)
{
	struct worker *w = arg;
	void *blk[SET];
	size_t len[SET];
	int oldest = 0;

	for (int i = 0; i < SET; i++) {
		len[i] = wl_logsize(&w->rng, 8, 16000);
		blk[i] = wl_malloc(len[i]);
	}
	for (long l = 0; l < w->loops; l++) {
		drain(w->id);
		if (l % 2)
			hand_over(w->id, blk, len,
				  (int)(wl_rand(&w->rng) % (SET - HAND)));
		/* Replace the oldest half of the set, in allocation order. */
		for (int k = 0; k < SET / 2; k++) {
			int i = (oldest + k) % SET;

			wl_free(blk[i], len[i]);
			len[i] = wl_logsize(&w->rng, 8, 16000);
			blk[i] = wl_malloc(len[i]);
		}
		oldest = (oldest + SET / 2) % SET;
	}
	for (int i = 0; i < SET; i++)
		wl_free(blk[i], len[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "rptest");
	static struct worker w[THREADS];
	pthread_t tid[THREADS];

	/* Every inbox is ready before any thread can hand blocks to it. */
	for (int i = 0; i < THREADS; i++)
		pthread_mutex_init(&inbox[i].lock, NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i].id = i;
		w[i].loops = wl_count(scale, 3000, 4);
		w[i].rng = 99 + i;
		if (pthread_create(&tid[i], NULL, run, &w[i]))
			wl_die("pthread_create failed");
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < THREADS; i++)
		drain(i);
	return 0;
}
