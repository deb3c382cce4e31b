// SPDX-License-Identifier: MIT
/*
 * xmalloc — the shape of xmalloc-test: two threads only allocate, two
 * threads only free. Producers fill batches of 256 blocks (8..256 bytes)
 * and push them on a shared queue; consumers pop and free them. Every free
 * is remote, which is where an allocator that returns a chunk to its
 * owner's lock one at a time falls over.
 */
#include <pthread.h>

#include "wl.h"

#define BATCH 256
#define MAXQ 64		/* batches in flight: keeps memory bounded */
#define PRODUCERS 2
#define CONSUMERS 2

struct batch {
	struct batch *next;
	void *blk[BATCH];
	size_t len[BATCH];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static struct batch *queue;
static int queued, producers_left = PRODUCERS;
static long batches_each;

static void push(struct batch *b)
{
	pthread_mutex_lock(&lock);
	while (queued >= MAXQ)
		pthread_cond_wait(&not_full, &lock);
	b->next = queue;
	queue = b;
	queued++;
	pthread_cond_signal(&not_empty);
	pthread_mutex_unlock(&lock);
}

static struct batch *pop(void)
{
	struct batch *b;

	pthread_mutex_lock(&lock);
	while (!queue && producers_left)
		pthread_cond_wait(&not_empty, &lock);
	b = queue;
	if (b) {
		queue = b->next;
		queued--;
		pthread_cond_signal(&not_full);
	}
	pthread_mutex_unlock(&lock);
	return b;
}

static void *producer(void *arg)
{
	uint64_t rng = 77 + (uintptr_t)arg;

	for (long i = 0; i < batches_each; i++) {
		struct batch *b = malloc(sizeof(*b));

		if (!b)
			wl_die("malloc of a batch returned NULL");
		for (int k = 0; k < BATCH; k++) {
			b->len[k] = wl_logsize(&rng, 8, 256);
			b->blk[k] = wl_malloc(b->len[k]);
		}
		push(b);
	}
	pthread_mutex_lock(&lock);
	producers_left--;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *consumer(void *arg)
{
	struct batch *b;

	(void)arg;
	while ((b = pop())) {
		for (int k = 0; k < BATCH; k++)
			wl_free(b->blk[k], b->len[k]);
		free(b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "xmalloc");
	pthread_t p[PRODUCERS], c[CONSUMERS];

	batches_each = wl_count(scale, 12000, 8);
	for (long i = 0; i < CONSUMERS; i++)
		if (pthread_create(&c[i], NULL, consumer, NULL))
			wl_die("pthread_create failed");
	for (long i = 0; i < PRODUCERS; i++)
		if (pthread_create(&p[i], NULL, producer, (void *)i))
			wl_die("pthread_create failed");
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(c[i], NULL);
	return 0;
}
