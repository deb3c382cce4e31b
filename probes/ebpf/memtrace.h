/* SPDX-License-Identifier: MIT */
/*
 * memtrace.h — the records memtrace.bpf.c writes into its ring buffer and
 * the loader (ebpf.c) reads back: the one struct shared by the kernel side
 * and the user side, as in libbpf-tools.
 *
 * Every record starts with mt_hdr; `type` says which record follows and
 * `size` how long it is. Times are bpf_ktime_get_ns(), CLOCK_MONOTONIC.
 */
#ifndef HEAPLAB_MEMTRACE_H
#define HEAPLAB_MEMTRACE_H

#define MT_COMM_LEN	16
#define MT_PATH_LEN	256
#define MT_USDT_ARGS	4

/* The memory syscalls of x86_64 that memtrace follows. */
#define MT_NR_MMAP	9
#define MT_NR_MPROTECT	10
#define MT_NR_MUNMAP	11
#define MT_NR_BRK	12
#define MT_NR_MREMAP	25
#define MT_NR_MADVISE	28

enum mt_type {
	MT_SYSCALL = 1,		/* one memory syscall, enter and exit */
	MT_FORK,		/* a new process or thread in the traced tree */
	MT_EXEC,		/* a traced process exec'd */
	MT_EXIT,		/* a traced thread exited (group_dead: its process) */
	MT_USDT,		/* an allocator-internal USDT probe fired */
	MT_CALL,		/* an allocator call seen by a uprobe/uretprobe */
	MT_HOLD,		/* a forked child stopped at its return from fork */
};

/* mt_syscall.flags */
enum {
	MT_F_LOADER = 1,	/* the user IP lies in the program interpreter */
	MT_F_IP_UNKNOWN = 2,	/* the IP's mapping could not be looked up */
	MT_F_TAP = 4,		/* the user IP lies in heaplab's tap library */
	MT_F_UNFINISHED = 8,	/* the thread died inside the syscall */
	MT_F_CAUSE = 16,	/* an allocator call (uprobe) was open: cause_* */
};

/*
 * The value of the `procs` map, per traced tgid: its program interpreter,
 * for the "loader" cause, and the last code mappings found in ld.so, in
 * the tap and elsewhere, so that bpf_find_vma (which may fail while another
 * thread holds the mm lock) runs once per library rather than once per
 * syscall. Code mappings stay put: ld.so is never unmapped, and exec starts
 * afresh. The loader inserts a zeroed one for the target.
 */
struct mt_proc {
	unsigned long long interp_ino;	/* struct inode * of ld.so, or 0 */
	unsigned long long in_lo, in_hi;
	unsigned long long out_lo, out_hi;
	unsigned long long tap_lo, tap_hi;
};

struct mt_hdr {
	unsigned long long ts_ns;
	unsigned int pid;	/* tgid */
	unsigned int tid;
	unsigned short type;	/* enum mt_type */
	unsigned short size;	/* of the whole record */
	unsigned int cpu;
};

struct mt_syscall {
	struct mt_hdr h;	/* h.ts_ns: syscall entry */
	unsigned long long exit_ns;
	unsigned long long args[6];
	long long ret;
	unsigned long long ip;	/* user instruction pointer at the syscall */
	unsigned int nr;
	unsigned int flags;
	/*
	 * --uprobes only: the innermost call open at entry, and the
	 * outermost's start. Without uprobes the record ends here
	 * (MT_SYSCALL_SHORT bytes, h.size): 48 bytes less per syscall to
	 * write, copy and read.
	 */
	unsigned long long cause_ts, outer_ts;
	unsigned long long cause_args[3];
	unsigned int cause_fn;
	unsigned int pad;
};
#define MT_SYSCALL_SHORT	__builtin_offsetof(struct mt_syscall, cause_ts)

struct mt_fork {
	struct mt_hdr h;	/* the parent's pid/tid */
	unsigned int child_pid;
	unsigned int child_tid;
	unsigned int thread;	/* a new thread of the same process */
	unsigned int vfork;	/* the parent waits for exec or exit */
	char comm[MT_COMM_LEN];
};

struct mt_exec {
	struct mt_hdr h;
	unsigned int old_tid;	/* a non-leader thread that exec'd had this tid */
	unsigned int held;	/* stopped (SIGSTOP) until the reader continues it */
	unsigned long long interp_base;	/* AT_BASE: where ld.so was mapped */
	char comm[MT_COMM_LEN];
	char path[MT_PATH_LEN];
};

/*
 * A forked child (not a thread) stopped before its first user instruction
 * (hold_forks), for the reader to attach its uprobes by pid and continue.
 */
struct mt_hold {
	struct mt_hdr h;
	unsigned int held;	/* the SIGSTOP was sent: SIGCONT it */
	unsigned int pad;
};

struct mt_exit {
	struct mt_hdr h;
	int code;		/* exit code, wait(2) encoding */
	unsigned int group_dead;	/* the last thread: the process is gone */
};

/* USDT probe ids (mt_usdt.probe); ebpf.c maps them to names. */
struct mt_usdt {
	struct mt_hdr h;
	unsigned int probe;
	unsigned int nargs;
	unsigned long long args[MT_USDT_ARGS];
};

struct mt_call {
	struct mt_hdr h;	/* h.ts_ns: entry */
	unsigned long long exit_ns;
	unsigned long long args[3];
	unsigned long long ret;
	unsigned int fn;	/* which allocator function */
	unsigned int pad;
};

#endif
