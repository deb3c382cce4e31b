// SPDX-License-Identifier: MIT
/*
 * event.c — the per-kind tables of the event model: names, argument names
 * (the jsonl keys) and how each argument prints.
 */
#include <string.h>
#include <sys/syscall.h>

#include "probes/event.h"

#define SYSCALL_(n, ...) { .name = n, .class = HL_KC_SYSCALL, __VA_ARGS__ }
#define CALL_(n, ...) { .name = n, .class = HL_KC_CALL, __VA_ARGS__ }
#define USDT_(n, ...) { .name = n, .class = HL_KC_INTERNAL, __VA_ARGS__ }
#define PROC_(n, ...) { .name = n, .class = HL_KC_PROCESS, __VA_ARGS__ }

const struct hl_kind_info hl_kinds[HL_EV_NKINDS] = {
	[HL_EV_BRK] = SYSCALL_("brk", .nargs = 1, .flags = HL_KF_RET_ADDR,
		.arg = { "addr" }, .fmt = { HL_AF_ADDR }),
	[HL_EV_MMAP] = SYSCALL_("mmap", .nargs = 6, .flags = HL_KF_RET_ADDR,
		.arg = { "addr", "length", "prot", "flags", "fd", "offset" },
		.fmt = { HL_AF_ADDR, HL_AF_DEC, HL_AF_PROT, HL_AF_MAPF,
			 HL_AF_INT, HL_AF_HEX }),
	[HL_EV_MUNMAP] = SYSCALL_("munmap", .nargs = 2,
		.arg = { "addr", "length" }, .fmt = { HL_AF_ADDR, HL_AF_DEC }),
	[HL_EV_MREMAP] = SYSCALL_("mremap", .nargs = 5, .flags = HL_KF_RET_ADDR,
		.arg = { "old_address", "old_size", "new_size", "flags",
			 "new_address" },
		.fmt = { HL_AF_ADDR, HL_AF_DEC, HL_AF_DEC, HL_AF_MREMAPF,
			 HL_AF_ADDR }),
	[HL_EV_MADVISE] = SYSCALL_("madvise", .nargs = 3,
		.arg = { "addr", "length", "advice" },
		.fmt = { HL_AF_ADDR, HL_AF_DEC, HL_AF_ADVICE }),
	[HL_EV_MPROTECT] = SYSCALL_("mprotect", .nargs = 3,
		.arg = { "addr", "length", "prot" },
		.fmt = { HL_AF_ADDR, HL_AF_DEC, HL_AF_PROT }),

	[HL_EV_MALLOC] = CALL_("malloc", .nargs = 1, .flags = HL_KF_RET_ADDR,
		.arg = { "size" }),
	[HL_EV_FREE] = CALL_("free", .nargs = 1, .flags = HL_KF_RET_NONE,
		.arg = { "ptr" }, .fmt = { HL_AF_ADDR }),
	[HL_EV_CALLOC] = CALL_("calloc", .nargs = 2, .flags = HL_KF_RET_ADDR,
		.arg = { "nmemb", "size" }),
	[HL_EV_REALLOC] = CALL_("realloc", .nargs = 2, .flags = HL_KF_RET_ADDR,
		.arg = { "ptr", "size" }, .fmt = { HL_AF_ADDR }),
	[HL_EV_REALLOCARRAY] = CALL_("reallocarray", .nargs = 3,
		.flags = HL_KF_RET_ADDR,
		.arg = { "ptr", "nmemb", "size" }, .fmt = { HL_AF_ADDR }),
	[HL_EV_MEMALIGN] = CALL_("memalign", .nargs = 2, .flags = HL_KF_RET_ADDR,
		.arg = { "alignment", "size" }),
	/* ret is the int result; "result" is what it stored in *memptr. */
	[HL_EV_POSIX_MEMALIGN] = CALL_("posix_memalign", .nargs = 4,
		.arg = { "memptr", "alignment", "size", "result" },
		.fmt = { HL_AF_ADDR, HL_AF_DEC, HL_AF_DEC, HL_AF_ADDR }),
	[HL_EV_ALIGNED_ALLOC] = CALL_("aligned_alloc", .nargs = 2,
		.flags = HL_KF_RET_ADDR, .arg = { "alignment", "size" }),
	[HL_EV_VALLOC] = CALL_("valloc", .nargs = 1, .flags = HL_KF_RET_ADDR,
		.arg = { "size" }),
	[HL_EV_PVALLOC] = CALL_("pvalloc", .nargs = 1, .flags = HL_KF_RET_ADDR,
		.arg = { "size" }),

	/*
	 * The arguments of libheaplab's USDT probes (allocator/os.c), in
	 * their order: heap_grow/heap_trim(arena index, bytes, system_mem),
	 * arena_new(arena index, arena address), mmap_threshold(mmap
	 * threshold, trim threshold).  heap_shrink has heap_trim's shape.
	 */
	[HL_EV_HEAP_GROW] = USDT_("heap_grow", .nargs = 3,
		.flags = HL_KF_RET_NONE, .arg = { "arena", "bytes", "system_mem" }),
	[HL_EV_HEAP_SHRINK] = USDT_("heap_shrink", .nargs = 3,
		.flags = HL_KF_RET_NONE, .arg = { "arena", "bytes", "system_mem" }),
	[HL_EV_ARENA_NEW] = USDT_("arena_new", .nargs = 2,
		.flags = HL_KF_RET_NONE, .arg = { "arena", "addr" },
		.fmt = { HL_AF_DEC, HL_AF_ADDR }),
	[HL_EV_TRIM] = USDT_("trim", .nargs = 3, .flags = HL_KF_RET_NONE,
		.arg = { "arena", "bytes", "system_mem" }),
	[HL_EV_THRESHOLD] = USDT_("threshold", .nargs = 2,
		.flags = HL_KF_RET_NONE,
		.arg = { "mmap_threshold", "trim_threshold" }),

	/* fork: a new process (fork, vfork, clone) or thread (thread = 1). */
	[HL_EV_FORK] = PROC_("fork", .nargs = 3, .arg = { "child", "vfork",
		"thread" }, .fmt = { HL_AF_DEC, HL_AF_BOOL, HL_AF_BOOL }),
	/* exec: side string "path"; old_tid when a thread other than the
	 * leader called execve (it takes the leader's tid). */
	[HL_EV_EXEC] = PROC_("exec", .nargs = 1, .flags = HL_KF_STR,
		.arg = { "old_tid" }),
	/* exit of one thread: ret is the shell status (code, or 128+N). */
	[HL_EV_EXIT] = PROC_("exit", .nargs = 2, .arg = { "code", "signal" }),
};

enum hl_kind hl_kind_by_name(const char *name)
{
	for (unsigned k = HL_EV_NONE + 1; k < HL_EV_NKINDS; k++)
		if (!strcmp(hl_kinds[k].name, name))
			return k;
	return HL_EV_NONE;
}

static const struct {
	long nr;
	enum hl_kind kind;
} syscall_kinds[] = {
	{ SYS_brk, HL_EV_BRK }, { SYS_mmap, HL_EV_MMAP },
	{ SYS_munmap, HL_EV_MUNMAP }, { SYS_mremap, HL_EV_MREMAP },
	{ SYS_madvise, HL_EV_MADVISE }, { SYS_mprotect, HL_EV_MPROTECT },
};

enum hl_kind hl_kind_of_syscall(long nr)
{
	for (unsigned i = 0; i < sizeof(syscall_kinds) / sizeof(syscall_kinds[0]); i++)
		if (syscall_kinds[i].nr == nr)
			return syscall_kinds[i].kind;
	return HL_EV_NONE;
}

long hl_syscall_of_kind(enum hl_kind kind)
{
	for (unsigned i = 0; i < sizeof(syscall_kinds) / sizeof(syscall_kinds[0]); i++)
		if (syscall_kinds[i].kind == kind)
			return syscall_kinds[i].nr;
	return -1;
}

int hl_arg_is_addr(enum hl_kind kind, unsigned i)
{
	const struct hl_kind_info *ki = hl_kind_info(kind);

	return ki && i < ki->nargs && ki->fmt[i] == HL_AF_ADDR;
}
