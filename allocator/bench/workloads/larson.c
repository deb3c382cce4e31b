// SPDX-License-Identifier: MIT
/*
 * larson — the shape of Larson and Krishnan's server benchmark: each of
 * two lanes holds 1000 blocks of 8..1000 bytes; a thread replaces random
 * blocks of its lane, then dies and a new thread inherits the lane, so
 * most frees are of blocks another (dead) thread allocated. Between
 * generations the lanes also swap, as a server hands buffers over.
 */
#include <pthread.h>

#include "wl.h"

#define LANES 2
#define CHUNKS 1000

struct lane {
	void *blk[CHUNKS];
	size_t len[CHUNKS];
	uint64_t rng;
	long ops;
};

static void *worker(void *arg)
{
	struct lane *l = arg;

	for (long i = 0; i < l->ops; i++) {
		size_t k = wl_rand(&l->rng) % CHUNKS;

		wl_free(l->blk[k], l->len[k]);
		l->len[k] = wl_range(&l->rng, 8, 1000);
		l->blk[k] = wl_malloc(l->len[k]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "larson");
	long gens = wl_count(scale, 400, 4);
	static struct lane lane[LANES];
	pthread_t tid[LANES];

	for (int t = 0; t < LANES; t++) {
		lane[t].rng = 0x1234 + t;
		lane[t].ops = 20000;
		for (int k = 0; k < CHUNKS; k++) {
			lane[t].len[k] = wl_range(&lane[t].rng, 8, 1000);
			lane[t].blk[k] = wl_malloc(lane[t].len[k]);
		}
	}
	for (long g = 0; g < gens; g++) {
		struct lane tmp;

		for (int t = 0; t < LANES; t++)
			if (pthread_create(&tid[t], NULL, worker, &lane[t]))
				wl_die("pthread_create failed");
		for (int t = 0; t < LANES; t++)
			pthread_join(tid[t], NULL);
		/* Hand the blocks over: the next thread of lane 0 frees lane 1's. */
		memcpy(tmp.blk, lane[0].blk, sizeof(tmp.blk));
		memcpy(tmp.len, lane[0].len, sizeof(tmp.len));
		memcpy(lane[0].blk, lane[1].blk, sizeof(tmp.blk));
		memcpy(lane[0].len, lane[1].len, sizeof(tmp.len));
		memcpy(lane[1].blk, tmp.blk, sizeof(tmp.blk));
		memcpy(lane[1].len, tmp.len, sizeof(tmp.len));
	}
	for (int t = 0; t < LANES; t++)
		for (int k = 0; k < CHUNKS; k++)
			wl_free(lane[t].blk[k], lane[t].len[k]);
	return 0;
}
