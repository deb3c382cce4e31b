/* SPDX-License-Identifier: MIT */
/*
 * xorshift.h — Marsaglia's xorshift64 (13, 7, 17): a repeatable stream of
 * numbers for test targets and synthetic events, the same on every run and
 * under every allocator (it allocates nothing).
 */
#ifndef HEAPLAB_XORSHIFT_H
#define HEAPLAB_XORSHIFT_H

#include <stdint.h>

/* The next number of the stream whose state is *S (never 0). */
static inline uint64_t hl_xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
