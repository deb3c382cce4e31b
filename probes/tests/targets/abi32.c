// SPDX-License-Identifier: MIT
/*
 * abi32.c — makes a syscall through the 32-bit ABI (int 0x80: getpid,
 * then brk), which the x86-64 seccomp filter does not know: the target
 * must run on untraced, not be killed.  Exits 0 when getpid answered.
 */
#include <unistd.h>

int main(void)
{
	long pid, brk;

	__asm__ volatile("int $0x80" : "=a"(pid) : "a"(20L) : "memory");
	__asm__ volatile("int $0x80" : "=a"(brk) : "a"(45L), "b"(0L) : "memory");
	return pid == getpid() ? 0 : 1;
}
