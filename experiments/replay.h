/* SPDX-License-Identifier: MIT */
/*
 * replay.h — the file `heaplab replay` hands to its target, replayer: the
 * allocator calls of a recorded trace in the order they took effect, the
 * addresses replaced by handles (slots in one array of pointers), each
 * call tagged with the replay thread that makes it.
 *
 *   struct rp_header
 *   uint32_t first[nthreads]	each thread's first op (RP_NONE: none)
 *   struct rp_op ops[nops]
 *
 * The replayer runs op i only once op i-1 is done (whichever thread made
 * it), so the live bytes go through exactly the recorded sequence; a
 * thread that hands the turn to another wakes just that one.
 */
#ifndef HEAPLAB_REPLAY_H
#define HEAPLAB_REPLAY_H

#include <stdint.h>

#define RP_MAGIC	"HLREPLY1"
#define RP_NONE		UINT32_MAX
#define RP_MAX_THREADS	1024

enum rp_kind {
	RP_MALLOC = 1,		/* handle = malloc(size) */
	RP_CALLOC,		/* handle = calloc(arg, size) */
	RP_REALLOC,		/* handle = realloc(old, size) */
	RP_FREE,		/* free(old) */
	RP_MEMALIGN,		/* handle = memalign(arg, size) */
	RP_POSIX_MEMALIGN,	/* posix_memalign(&handle, arg, size) */
	RP_ALIGNED_ALLOC,	/* handle = aligned_alloc(arg, size) */
	RP_VALLOC,
	RP_PVALLOC,
};

/* Op flags. */
#define RP_SAMPLE	0x1	/* measure the footprint after this op */

struct rp_header {
	char magic[8];
	uint32_t nthreads;
	uint32_t reserved;
	uint64_t nops;
	uint64_t nhandles;
};

struct rp_op {
	uint8_t kind;
	uint8_t flags;
	uint16_t reserved;
	uint32_t thread;	/* replay thread making the call */
	uint32_t next;		/* that thread's next op, or RP_NONE */
	uint32_t handle;	/* the block made */
	uint32_t old;		/* the block freed or resized */
	uint32_t reserved2;
	uint64_t size;
	uint64_t arg;		/* calloc's nmemb, the alignment */
};

#endif
