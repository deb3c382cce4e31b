// SPDX-License-Identifier: MIT
/* out.c — formatting into a stack buffer, flushed with write(2). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "allocator/out.h"

void out_init(struct out *o, int fd)
{
	o->fd = fd;
	o->n = 0;
}

void out_flush(struct out *o)
{
	size_t done = 0;
	int saved = errno;

	while (done < o->n) {
		ssize_t w = write(o->fd, o->buf + done, o->n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	o->n = 0;
	errno = saved;
}

static void out_char(struct out *o, char c)
{
	if (o->n == sizeof(o->buf))
		out_flush(o);
	o->buf[o->n++] = c;
}

void out_str(struct out *o, const char *s)
{
	while (*s)
		out_char(o, *s++);
}

void out_strw(struct out *o, const char *s, int width)
{
	int len = (int)strlen(s);

	out_str(o, s);
	while (len++ < width)
		out_char(o, ' ');
}

void out_dec(struct out *o, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (width-- > n)
		out_char(o, ' ');
	while (n)
		out_char(o, tmp[--n]);
}

void out_sdec(struct out *o, int64_t v, int width)
{
	if (v < 0) {
		out_char(o, '-');
		out_dec(o, (uint64_t)-(v + 1) + 1, width > 0 ? width - 1 : 0);
	} else {
		out_dec(o, (uint64_t)v, width);
	}
}

void out_hex(struct out *o, uint64_t v, int digits)
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	out_str(o, "0x");
	while (digits-- > n)
		out_char(o, '0');
	while (n)
		out_char(o, tmp[--n]);
}
