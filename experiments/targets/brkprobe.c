// SPDX-License-Identifier: MIT
/*
 * brkprobe — the lab guide's experiment 0.3: the program break before and
 * after malloc(1000), twice. Nothing is allocated before the first sbrk(0)
 * (heaplab's tap never calls malloc or brk), and the results are written
 * with write(2) once all three readings are taken.
 *
 *	break0 ADDR	before any malloc
 *	block1 ADDR	malloc(1000)
 *	break1 ADDR
 *	block2 ADDR	malloc(1000) again
 *	break2 ADDR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile blocks[2];

int main(void)
{
	uintptr_t b0, b1, b2;
	char out[256];
	int n;

	b0 = (uintptr_t)sbrk(0);
	blocks[0] = malloc(1000);
	b1 = (uintptr_t)sbrk(0);
	blocks[1] = malloc(1000);
	b2 = (uintptr_t)sbrk(0);
	n = snprintf(out, sizeof(out),
		     "break0 %#lx\nblock1 %#lx\nbreak1 %#lx\nblock2 %#lx\n"
		     "break2 %#lx\n", (unsigned long)b0,
		     (unsigned long)(uintptr_t)blocks[0], (unsigned long)b1,
		     (unsigned long)(uintptr_t)blocks[1], (unsigned long)b2);
	return write(STDOUT_FILENO, out, n) == n ? 0 : 3;
}
