/* SPDX-License-Identifier: MIT */
/*
 * event.h — THE event record: every engine (ptrace, eBPF) produces it, every
 * sink (text, jsonl, perfetto) and every experiment consumes it.
 *
 * One record per thing that happened, complete: a syscall or an allocator
 * call carries both its enter time (ts_ns) and its exit time (end_ns), its
 * arguments and its return value.  Instant events (fork, exec, exit, USDT
 * internals) have end_ns == ts_ns.
 *
 *	+---------+---------+---------+-----+-----+------+-------+-------+
 *	| ts_ns   | end_ns  | seq     | pid | tid | kind | cause | flags |
 *	+---------+---------+---------+-----+-----+------+-------+-------+
 *	| args[0..5]                  | ret       | cause_seq            |
 *	+-----------------------------+-----------+----------------------+
 *
 * Times are CLOCK_MONOTONIC nanoseconds, the clock of bpf_ktime_get_ns(), so
 * kernel-side and user-side events merge by (tid, time).  seq numbers the
 * events of one trace in the order they are written out, from 1.
 *
 * A syscall's cause is the allocator call open on its thread when it
 * happened (call enter <= syscall <= call exit): cause = HL_CAUSE_CALL and
 * cause_seq = that call's seq.  Syscalls made by the dynamic loader (its
 * instruction pointer lies in ld.so) have HL_CAUSE_LOADER; those made by
 * heaplab's own tap library HL_CAUSE_TAP.
 *
 * Side string: exec needs the program's path, which would bloat every other
 * record.  Kinds flagged HL_KF_STR carry one NUL-terminated string *beside*
 * the record (an argument of hl_event_emit-style functions, a trailing
 * payload in a ring buffer), never inside it.
 *
 * Stability: kinds are only ever appended (their numbers are the ABI of the
 * BPF ring and of the tap ring); argument names are the jsonl field names.
 */
#ifndef HEAPLAB_PROBES_EVENT_H
#define HEAPLAB_PROBES_EVENT_H

#include <stdint.h>

#define HL_EV_ARGS 6

enum hl_kind {
	HL_EV_NONE = 0,
	/* the memory syscalls */
	HL_EV_BRK, HL_EV_MMAP, HL_EV_MUNMAP, HL_EV_MREMAP, HL_EV_MADVISE,
	HL_EV_MPROTECT,
	/* the malloc family, from the tap */
	HL_EV_MALLOC, HL_EV_FREE, HL_EV_CALLOC, HL_EV_REALLOC,
	HL_EV_REALLOCARRAY, HL_EV_MEMALIGN, HL_EV_POSIX_MEMALIGN,
	HL_EV_ALIGNED_ALLOC, HL_EV_VALLOC, HL_EV_PVALLOC,
	/* allocator internals, from USDT probes */
	HL_EV_HEAP_GROW, HL_EV_HEAP_SHRINK, HL_EV_ARENA_NEW, HL_EV_TRIM,
	HL_EV_THRESHOLD,
	/* process life */
	HL_EV_FORK, HL_EV_EXEC, HL_EV_EXIT,
	HL_EV_NKINDS
};

/* Kind classes, for filtering (--events) and formatting. */
enum hl_kind_class {
	HL_KC_SYSCALL = 1, HL_KC_CALL, HL_KC_INTERNAL, HL_KC_PROCESS,
};

enum hl_cause {
	HL_CAUSE_NONE = 0,	/* jsonl null */
	HL_CAUSE_LOADER,	/* "loader": ld.so made it */
	HL_CAUSE_TAP,		/* "tap": heaplab's interposer made it */
	HL_CAUSE_CALL,		/* {seq, kind, args} of event cause_seq */
};

/* Event flags. */
enum {
	HL_EVF_UNFINISHED = 1 << 0,	/* no exit seen (thread died inside) */
	HL_EVF_RET_NONE = 1 << 1,	/* the kind returns nothing (free) */
};

struct hl_event {
	uint64_t ts_ns;			/* enter (CLOCK_MONOTONIC) */
	uint64_t end_ns;		/* exit; == ts_ns for instant events */
	uint64_t seq;			/* 1, 2, ... in output order */
	uint32_t pid;			/* thread group id */
	uint32_t tid;
	uint16_t kind;			/* enum hl_kind */
	uint8_t cause;			/* enum hl_cause */
	uint8_t flags;			/* HL_EVF_* */
	uint32_t _reserved;
	uint64_t args[HL_EV_ARGS];	/* meaning per kind: hl_kinds[] */
	int64_t ret;			/* syscalls: raw kernel value (-errno) */
	uint64_t cause_seq;		/* HL_CAUSE_CALL: the call's seq */
};

/* Kind table flags. */
enum {
	HL_KF_STR = 1 << 0,		/* carries a side string (exec: path) */
	HL_KF_RET_ADDR = 1 << 1,	/* ret is an address (print in hex) */
	HL_KF_RET_NONE = 1 << 2,	/* returns nothing */
};

/* How one argument prints in text (jsonl always prints a number). */
enum hl_arg_fmt {
	HL_AF_DEC = 0,	/* unsigned decimal */
	HL_AF_ADDR,	/* address: NULL or 0x... */
	HL_AF_INT,	/* signed decimal (fd) */
	HL_AF_PROT,	/* PROT_* */
	HL_AF_MAPF,	/* MAP_* */
	HL_AF_MREMAPF,	/* MREMAP_* */
	HL_AF_ADVICE,	/* MADV_* */
	HL_AF_HEX,	/* hexadecimal, not an address */
	HL_AF_BOOL,	/* 0/1 */
};

struct hl_kind_info {
	const char *name;			/* jsonl kind */
	uint8_t class;				/* enum hl_kind_class */
	uint8_t nargs;
	uint8_t flags;				/* HL_KF_* */
	const char *arg[HL_EV_ARGS];		/* jsonl args keys */
	uint8_t fmt[HL_EV_ARGS];		/* enum hl_arg_fmt */
};

extern const struct hl_kind_info hl_kinds[HL_EV_NKINDS];

/* The kind's table entry, or NULL for an unknown number. */
static inline const struct hl_kind_info *hl_kind_info(unsigned kind)
{
	return kind > HL_EV_NONE && kind < HL_EV_NKINDS ? &hl_kinds[kind] : 0;
}

/* Kind by name ("mmap"), HL_EV_NONE if unknown. */
enum hl_kind hl_kind_by_name(const char *name);
/* Kind of a syscall number (x86-64), HL_EV_NONE for other syscalls. */
enum hl_kind hl_kind_of_syscall(long nr);
/* The x86-64 syscall number of a syscall kind, -1 for other kinds. */
long hl_syscall_of_kind(enum hl_kind kind);

/* True when arg I of KIND is an address (hex in text, tracked by maps). */
int hl_arg_is_addr(enum hl_kind kind, unsigned i);

#endif
