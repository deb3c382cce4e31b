/* SPDX-License-Identifier: MIT */
/*
 * tap.h — the Test Anything Protocol for heaplab's C tests, read by prove.
 *
 *	ok(cond, "what it checks %d", x);
 *	return tap_done();	// prints the plan, exit 1 if anything failed
 *
 * Header-only so every area's tests can use it without a library.
 */
#ifndef HEAPLAB_TAP_H
#define HEAPLAB_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static inline __attribute__((format(printf, 2, 3)))
int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

/* A diagnostic line, shown by prove -v and on failure. */
#define diag(...) (printf("# " __VA_ARGS__), putchar('\n'))

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
