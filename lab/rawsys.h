/* SPDX-License-Identifier: MIT */
/*
 * rawsys.h — system calls made with the syscall instruction itself, not
 * through libc, for the code heaplab runs inside other programs (the
 * preloaded allocator, the call tap): there a libc wrapper would be a page
 * of libc made resident in the program, and a syscall whose instruction
 * pointer is libc's. The result is the kernel's, a value or -errno; errno
 * is left alone.
 */
#ifndef HEAPLAB_RAWSYS_H
#define HEAPLAB_RAWSYS_H

#if defined(__x86_64__)
/* The kernel's convention: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9. */
static inline long hl_raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The same with three arguments: fewer registers to set. */
static inline long hl_raw3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#include <errno.h>
#include <unistd.h>

/* Elsewhere libc's syscall(), turned into the same contract. */
static inline long hl_raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	int saved = errno;
	long ret = syscall(nr, a, b, c, d, e, f);

	if (ret == -1) {
		ret = -errno;
		errno = saved;
	}
	return ret;
}

#define hl_raw3(nr, a, b, c)	hl_raw6(nr, a, b, c, 0, 0, 0)
#endif

/* Whether a result is an error (-4095..-1) rather than a value. */
#define hl_raw_failed(r)	((unsigned long)(r) > -4096UL)

#endif
