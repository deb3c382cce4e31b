// SPDX-License-Identifier: MIT
/* reader.c — create, drain and free the tap ring (layout in ring.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probes/tap/reader.h"

int hl_tap_create(struct hl_tap_reader *r, uint32_t nlanes, uint32_t nrecs)
{
	uint64_t size = hl_tap_total_bytes(nlanes, nrecs);
	void *p;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!nlanes || !nrecs || (nrecs & (nrecs - 1))) {
		errno = EINVAL;
		return -1;
	}
	/* Not MFD_CLOEXEC: the target inherits it through fork and exec. */
	r->fd = memfd_create("heaplab-tap", 0);
	if (r->fd < 0)
		return -1;
	if (ftruncate(r->fd, (off_t)size) < 0)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	r->hdr = p;
	hl_tap_init(r->hdr, nlanes, nrecs);
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -1;
}

void hl_tap_destroy(struct hl_tap_reader *r)
{
	if (r->hdr)
		munmap(r->hdr, r->hdr->total_bytes);
	if (r->fd >= 0)
		close(r->fd);
	r->hdr = NULL;
	r->fd = -1;
}

int hl_tap_setenv(const struct hl_tap_reader *r)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", r->fd);
	return setenv(HL_TAP_ENV, v, 1);
}

static size_t drain_lane(struct hl_tap_reader *r, struct hl_tap_lane *l,
			 uint32_t owner, hl_tap_fn fn, void *ctx)
{
	/* Head first: a rewind moves tail before head (ring.h). */
	uint64_t h = atomic_load_explicit(&l->head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(&l->tail, memory_order_acquire);
	uint32_t mask = r->hdr->nrecs - 1;
	uint32_t pid = l->pid;
	struct hl_tap_rec rec;

	if (t >= h)
		return 0;
	for (uint64_t i = t; i < h; i++) {
		/* Copy first: the slot is the producer's again once tail moves. */
		rec = hl_tap_recs(l)[i & mask];
		fn(ctx, pid, owner, &rec);
	}
	atomic_store_explicit(&l->tail, h, memory_order_release);
	return h - t;
}

size_t hl_tap_drain(struct hl_tap_reader *r, hl_tap_fn fn, void *ctx)
{
	size_t n = 0;

	if (!r->hdr)
		return 0;
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		struct hl_tap_lane *l = hl_tap_lane(r->hdr, i);
		uint32_t owner = atomic_load_explicit(&l->owner,
						      memory_order_acquire);

		if (owner)
			n += drain_lane(r, l, owner, fn, ctx);
	}
	return n;
}

/*
 * The lane TID owns, or NULL.  A thread owns one lane at a time, and the
 * tracer asks at every syscall stop: remember where it was.
 */
static struct hl_tap_lane *find_lane(struct hl_tap_reader *r, uint32_t tid)
{
	uint16_t *hint = &r->lane_of[tid % HL_TAP_CACHE];
	struct hl_tap_lane *l;

	if (!r->hdr)
		return NULL;
	if (*hint && *hint <= r->hdr->nlanes) {
		l = hl_tap_lane(r->hdr, *hint - 1u);
		if (atomic_load_explicit(&l->owner, memory_order_acquire) == tid)
			return l;
	}
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		l = hl_tap_lane(r->hdr, i);
		if (atomic_load_explicit(&l->owner, memory_order_acquire) == tid) {
			*hint = (uint16_t)(i + 1);
			return l;
		}
	}
	return NULL;
}

size_t hl_tap_drain_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx)
{
	struct hl_tap_lane *l = find_lane(r, tid);

	return l ? drain_lane(r, l, tid, fn, ctx) : 0;
}

unsigned hl_tap_open_calls(struct hl_tap_reader *r, uint32_t tid,
			   struct hl_tap_open *inner, uint64_t *outer_ts)
{
	struct hl_tap_lane *l = find_lane(r, tid);
	unsigned d;

	if (!l)
		return 0;
	d = l->depth;
	if (!d || d > 1u << 20)
		return 0;
	*inner = l->open[(d < HL_TAP_DEPTH ? d : HL_TAP_DEPTH) - 1];
	*outer_ts = l->open[0].ts_ns;
	return d;
}

void hl_tap_release_tid(struct hl_tap_reader *r, uint32_t tid, hl_tap_fn fn,
			void *ctx)
{
	if (!r->hdr)
		return;
	for (uint32_t i = 0; i < r->hdr->nlanes; i++) {
		struct hl_tap_lane *l = hl_tap_lane(r->hdr, i);

		if (atomic_load_explicit(&l->owner, memory_order_acquire) != tid)
			continue;
		drain_lane(r, l, tid, fn, ctx);
		r->freed_drops += l->drops;
		l->drops = 0;
		l->depth = 0;
		l->pid = 0;
		atomic_store(&l->head, 0);
		atomic_store(&l->tail, 0);
		/* Give the records' pages back: a busy thread filled them. */
		fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)((char *)hl_tap_recs(l) - (char *)r->hdr),
			  (off_t)(r->hdr->lane_bytes - HL_TAP_PAGE));
		atomic_store_explicit(&l->owner, 0, memory_order_release);
	}
}

uint64_t hl_tap_drops(const struct hl_tap_reader *r)
{
	uint64_t n = r->freed_drops;

	if (!r->hdr)
		return n;
	n += atomic_load(&r->hdr->nolane_drops);
	for (uint32_t i = 0; i < r->hdr->nlanes; i++)
		n += hl_tap_lane(r->hdr, i)->drops;
	return n;
}

uint64_t hl_tap_attached(const struct hl_tap_reader *r)
{
	return r->hdr ? atomic_load(&r->hdr->attached) : 0;
}
