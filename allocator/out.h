/* SPDX-License-Identifier: MIT */
/*
 * out.h — text output for code that must not allocate: lines are formatted
 * into a buffer on the stack and written with write(2). No stdio (it may
 * malloc a stream buffer, and would re-enter the allocator under its lock).
 */
#ifndef HEAPLAB_OUT_H
#define HEAPLAB_OUT_H

#include <stddef.h>
#include <stdint.h>

struct out {
	int fd;
	size_t n;
	char buf[1024];
};

void out_init(struct out *o, int fd);
void out_str(struct out *o, const char *s);
/* s left-aligned in a field of width characters. */
void out_strw(struct out *o, const char *s, int width);
/* v in decimal, right-aligned in width characters (0: no padding). */
void out_dec(struct out *o, uint64_t v, int width);
void out_sdec(struct out *o, int64_t v, int width);
/* "0x" and v in hex, zero-padded to digits. */
void out_hex(struct out *o, uint64_t v, int digits);
void out_flush(struct out *o);

#endif
