/* SPDX-License-Identifier: MIT */
/*
 * tidmap.h — a small open-addressing map from a tid (or pid) to a pointer,
 * for the per-thread and per-process state of the tracer.
 */
#ifndef HEAPLAB_PROBES_TIDMAP_H
#define HEAPLAB_PROBES_TIDMAP_H

#include <stdint.h>
#include <stdlib.h>

struct hl_tidmap {
	uint32_t *keys;			/* 0: empty; ~0u: deleted */
	void **vals;
	uint32_t cap, used, live;	/* used counts deleted slots too */
};

#define HL_TIDMAP_DEL 0xffffffffu

static inline uint32_t hl_tidmap_hash(uint32_t k, uint32_t cap)
{
	return (k * 2654435761u) & (cap - 1);
}

static inline void *hl_tidmap_get(const struct hl_tidmap *m, uint32_t k)
{
	if (!m->cap)
		return NULL;
	for (uint32_t i = hl_tidmap_hash(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static inline int hl_tidmap_put(struct hl_tidmap *m, uint32_t k, void *v);

static inline int hl_tidmap_grow(struct hl_tidmap *m)
{
	struct hl_tidmap n = { 0 };

	n.cap = m->cap ? m->cap * 2 : 64;
	if (m->live * 4 < m->cap)
		n.cap = m->cap;		/* only tombstones: rehash in place */
	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -1;
	}
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->keys[i] && m->keys[i] != HL_TIDMAP_DEL)
			hl_tidmap_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

/* Inserts or replaces; returns 0, or -1 when out of memory. */
static inline int hl_tidmap_put(struct hl_tidmap *m, uint32_t k, void *v)
{
	uint32_t i;

	if ((m->used + 1) * 2 > m->cap && hl_tidmap_grow(m) < 0)
		return -1;
	for (i = hl_tidmap_hash(k, m->cap); m->keys[i] && m->keys[i] != k;
	     i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i]) {
		m->used++;
		m->live++;
	}
	m->keys[i] = k;
	m->vals[i] = v;
	return 0;
}

/* Removes K; returns its value (NULL if absent). */
static inline void *hl_tidmap_del(struct hl_tidmap *m, uint32_t k)
{
	if (!m->cap)
		return NULL;
	for (uint32_t i = hl_tidmap_hash(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k) {
			void *v = m->vals[i];

			m->keys[i] = HL_TIDMAP_DEL;
			m->vals[i] = NULL;
			m->live--;
			return v;
		}
		if (!m->keys[i])
			return NULL;
	}
}

/* Calls FN on every value (the map must not change meanwhile). */
#define hl_tidmap_each(m, i)                                               \
	for (uint32_t i = 0; i < (m)->cap; i++)                               \
		if ((m)->keys[i] && (m)->keys[i] != HL_TIDMAP_DEL)

static inline void hl_tidmap_free(struct hl_tidmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->used = m->live = 0;
}

#endif
