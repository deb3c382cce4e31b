// SPDX-License-Identifier: MIT
/*
 * family.c — calls every function of the malloc family once, with
 * arguments the test can recognise, and frees what it got; then asks for
 * 64 TiB, which the kernel refuses (a failing mmap, ENOMEM).
 */
#include <malloc.h>
#include <stdlib.h>

static void *volatile keep;

int main(void)
{
	void *p = NULL;

	keep = malloc(1111);
	free(keep);
	keep = calloc(3, 333);
	keep = realloc(keep, 2222);
	keep = reallocarray(keep, 4, 1000);
	free(keep);
	keep = memalign(64, 640);
	free(keep);
	if (posix_memalign(&p, 128, 1280))
		return 1;
	free(p);
	keep = aligned_alloc(256, 2560);
	free(keep);
	keep = valloc(4444);
	free(keep);
	keep = pvalloc(5555);
	free(keep);
	keep = malloc((size_t)1 << 46);
	return keep != NULL;
}
