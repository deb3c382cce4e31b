// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * memtrace.bpf.c — the kernel half of heaplab's ebpf engine.
 *
 * Records every brk/mmap/munmap/mremap/madvise/mprotect of one process tree
 * into a ring buffer, one record per syscall (arguments kept at entry, the
 * record written at exit), plus the tree's fork/exec/exit events.
 *
 * Attached as raw tracepoints (raw_syscalls:sys_enter/sys_exit and
 * sched:sched_process_*). They run for every syscall on the machine (a
 * compare of the syscall number at entry, of a counter at exit: ~130 ns a
 * syscall here, nearly all of it the kernel's, the same with empty
 * programs). The per-syscall tracepoints (syscalls:sys_enter_mmap, ...)
 * cost ~80 ns a syscall, but each takes 64-92 ms to detach on this kernel
 * (two tasks-trace RCU grace periods under a global mutex): 12 of them
 * would add about a second to every trace. See bench/README.md.
 *
 * Two optional sources share the ring: libheaplab's USDT probes (provider
 * "heaplab": heap grown or shrunk, arena created, trim, threshold changed),
 * and uprobes/uretprobes on the malloc family for programs that cannot be
 * preloaded with the tap. Both are attached by the loader, not by the
 * skeleton, since their targets are only known at run time.
 *
 * The tree is the `procs` map, keyed by tgid: the loader puts the target in
 * before it execs, fork adds children, the last thread's exit removes them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>

#include "memtrace.h"

#define AT_BASE		7
#define SIGSTOP_NR	19
#define AUXV_PAIRS	28	/* saved_auxv[] holds 56 words */
#define MAX_PROCS	8192
#define MAX_THREADS	32768

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before load. */
const volatile int trace_syscalls = 1;
const volatile int trace_calls = 0;	/* uprobes on the malloc family */
/* heaplab's tap library, for the "tap" cause: st_dev (kernel encoding), st_ino. */
const volatile unsigned long long tap_dev = 0, tap_ino = 0;
/* Wake the reader only when this much is waiting (see submit()). */
const volatile unsigned long long wake_bytes = 256 * 1024;
/*
 * Stop each exec'd image before its first instruction (SIGSTOP, pending as
 * the exec returns) until the reader has looked at it: --uprobes must put
 * uprobes on a statically linked program before it makes its first call.
 */
const volatile int hold_execs = 0;
/*
 * Stop each forked child of the tree (not a thread) at its return from
 * fork, before its first user instruction, until the reader has continued
 * it: --uprobes attaches by pid, and the breakpoints a fork child's pages
 * inherit are removed at its first hit (the link's filter rejects its mm),
 * so it needs its own links before it runs.
 */
const volatile int hold_forks = 0;

/* A traced process: struct mt_proc (memtrace.h). */

/*
 * A thread of the tree: made at its first memory syscall (from `procs`),
 * so that each later one finds the thread's own state with one task
 * storage lookup, no hashing of its tgid: its ids, its process's code
 * mappings as last seen (for ip_flags), and the memory syscall entered
 * and not yet returned (nr is 0 when in none: no memory syscall has
 * number 0). A thread that has one is in the tree: threads and processes
 * leave it only by dying, and exec starts it afresh (process_exec).
 */
struct pending {
	struct mt_proc code;
	unsigned int pid, tid;
	unsigned int nrec;	/* syscall records written (see submit_at) */
	unsigned int pad0;
	unsigned long long ts_ns;
	unsigned long long args[6];
	unsigned long long ip;
	unsigned int nr;
	unsigned int flags;
	unsigned long long cause_ts, outer_ts;
	unsigned long long cause_args[3];
	unsigned int cause_fn;
	unsigned int pad;
};

/*
 * Not preallocated: 8192 entries cost 0.3 ms to create at every start,
 * and a process is looked up only at its threads' first memory syscall
 * and at fork, exec and exit (tree_thread()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, struct mt_proc);
} procs SEC(".maps");

/*
 * Kept on the thread itself (task storage): made at its first memory
 * syscall, found again without hashing or locking, freed with the thread.
 * A hash keyed by tid cost an insert and a delete per syscall (a third of
 * the BPF time of an mmap/munmap loop) or, preallocated, 4 MB to clear at
 * every start.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} pendings SEC(".maps");

/*
 * Forked children (by tid) not yet back from fork, to be held there
 * (hold_forks), and how many: sys_exit runs for every syscall on the
 * machine and looks them up only while there are some.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} fresh SEC(".maps");

__s64 nfresh = 0;

/*
 * Threads of the tree inside a memory syscall now (pendings with nr set).
 * sys_exit runs for every syscall of every process on the machine; while
 * this is 0, it returns at once. A thread counts itself in before its own
 * exit can look, so a pending exit is never skipped.
 */
__s64 npending = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);	/* resized by the loader */
} events SEC(".maps");

/* Records that found the ring full, per CPU: reported, never hidden. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Allocator calls open per thread, for --uprobes (see call_enter). */
#define CALL_DEPTH 4

struct call_frame {
	unsigned long long ts_ns;
	unsigned long long args[3];
	unsigned int fn;
	unsigned int pad;
};

struct call_stack {
	unsigned int depth;	/* may exceed CALL_DEPTH: those are not kept */
	unsigned int pad;
	struct call_frame f[CALL_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct call_stack);
} calls SEC(".maps");

/* An empty stack to insert from: too big for the BPF stack frame. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_stack);
} empty_stack SEC(".maps");

/* Processes of the tree alive now: the loader waits for this to reach 0. */
__s64 live_procs = 0;

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void *reserve(__u32 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		count_drop();
	return rec;
}

/*
 * Waking the reader for every record costs a context switch per syscall
 * (≈0.5× on a syscall-heavy program). So records go in without a wake-up,
 * and the reader, which also drains on a short timer, is forced awake once
 * a batch has piled up. NO_WAKEUP alone would lose records: the reader
 * would sleep through a full ring.
 */
static __always_inline void submit_at(void *rec, int urgent, int look)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (urgent || (look && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >=
		       wake_bytes))
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
}

static __always_inline void submit(void *rec, int urgent)
{
	submit_at(rec, urgent, 1);
}

/*
 * A thread's syscall records look at the ring's fill only every
 * WAKE_LOOK_EVERY (a helper call saved on the others): at most that many
 * records of one thread (~1.7 KiB) past the quarter of the ring.
 */
#define WAKE_LOOK_EVERY	16

static __always_inline void fill_hdr(struct mt_hdr *h, __u16 type, __u16 size)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->ts_ns = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->type = type;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
}

static __always_inline int is_memory_syscall(long nr)
{
	switch (nr) {
	case MT_NR_MMAP:
	case MT_NR_MPROTECT:
	case MT_NR_MUNMAP:
	case MT_NR_BRK:
	case MT_NR_MREMAP:
	case MT_NR_MADVISE:
		return 1;
	}
	return 0;
}

struct vma_probe {
	unsigned long long ino, lo, hi;
	unsigned long long dev, ino_nr;
};

static long vma_inode(struct task_struct *task, struct vm_area_struct *vma,
		      void *data)
{
	struct vma_probe *p = data;
	struct file *f = vma->vm_file;

	p->ino = f ? (unsigned long long)BPF_CORE_READ(f, f_inode) : 0;
	if (f) {
		p->ino_nr = BPF_CORE_READ(f, f_inode, i_ino);
		p->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	}
	p->lo = vma->vm_start;
	p->hi = vma->vm_end;
	return 0;
}

/*
 * "loader" cause: the syscall was made from the program interpreter's code
 * (ld.so mapping the libraries). Compared by inode, not by path, so any
 * PT_INTERP works. bpf_find_vma only try-locks the mm; when it cannot, the
 * record says the IP is unknown rather than guessing.
 */
static __always_inline __u32 ip_flags(struct mt_proc *pr, __u64 ip)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vma_probe p = { 0 };

	if (!pr->interp_ino && !tap_ino)
		return 0;
	if (ip >= pr->in_lo && ip < pr->in_hi)
		return MT_F_LOADER;
	if (ip >= pr->tap_lo && ip < pr->tap_hi)
		return MT_F_TAP;
	if (ip >= pr->out_lo && ip < pr->out_hi)
		return 0;
	if (bpf_find_vma(task, ip, vma_inode, &p, 0) != 0)
		return MT_F_IP_UNKNOWN;
	if (pr->interp_ino && p.ino == pr->interp_ino) {
		pr->in_lo = p.lo;
		pr->in_hi = p.hi;
		return MT_F_LOADER;
	}
	if (tap_ino && p.ino_nr == tap_ino && p.dev == tap_dev) {
		pr->tap_lo = p.lo;
		pr->tap_hi = p.hi;
		return MT_F_TAP;
	}
	pr->out_lo = p.lo;
	pr->out_hi = p.hi;
	return 0;
}

/* --uprobes: the allocator call open on TID, as the syscall's cause. */
static __always_inline void open_call(struct pending *pd, __u32 tid)
{
	struct call_stack *cs = bpf_map_lookup_elem(&calls, &tid);
	unsigned int d;

	if (!cs || cs->depth == 0)
		return;
	d = cs->depth > CALL_DEPTH ? CALL_DEPTH : cs->depth;
	d = (d - 1) & (CALL_DEPTH - 1);
	pd->flags |= MT_F_CAUSE;
	pd->cause_ts = cs->f[d].ts_ns;
	pd->cause_fn = cs->f[d].fn;
	pd->cause_args[0] = cs->f[d].args[0];
	pd->cause_args[1] = cs->f[d].args[1];
	pd->cause_args[2] = cs->f[d].args[2];
	pd->outer_ts = cs->f[0].ts_ns;
}

/*
 * The current thread's state if it is in the tree, made now if it is new
 * (its process is in `procs`); NULL for any other thread on the machine.
 */
static __always_inline struct pending *tree_thread(struct task_struct *task)
{
	struct pending *pd = bpf_task_storage_get(&pendings, task, NULL, 0);
	struct mt_proc *pr;
	__u64 id;

	if (pd)
		return pd;
	id = bpf_get_current_pid_tgid();
	pr = bpf_map_lookup_elem(&procs, &(__u32){ id >> 32 });
	if (!pr)
		return NULL;
	pd = bpf_task_storage_get(&pendings, task, NULL,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!pd) {
		count_drop();	/* no memory for it: the syscall is lost */
		return NULL;
	}
	pd->code = *pr;
	pd->pid = id >> 32;
	pd->tid = (__u32)id;
	return pd;
}

SEC("raw_tracepoint/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	struct pt_regs r;
	struct pending *pd;

	if (!trace_syscalls || !is_memory_syscall(nr))
		return 0;
	pd = tree_thread(bpf_get_current_task_btf());
	if (!pd)
		return 0;
	if (!pd->nr)
		__sync_fetch_and_add(&npending, 1);
	/* else a stale one (its exit never came): replaced, counted once */
	pd->ts_ns = bpf_ktime_get_ns();
	pd->nr = nr;
	/*
	 * regs is the task's saved user registers (task_pt_regs): one read
	 * for the x86_64 syscall arguments (di, si, dx, r10, r8, r9) and the
	 * user instruction pointer, not one helper call for each.
	 */
	if (bpf_core_read(&r, sizeof(r), regs)) {
		pd->nr = 0;
		__sync_fetch_and_sub(&npending, 1);
		count_drop();
		return 0;
	}
	pd->args[0] = r.di;
	pd->args[1] = r.si;
	pd->args[2] = r.dx;
	pd->args[3] = r.r10;
	pd->args[4] = r.r8;
	pd->args[5] = r.r9;
	pd->ip = r.ip;
	pd->flags = ip_flags(&pd->code, pd->ip);
	if (trace_calls) {
		pd->cause_ts = pd->outer_ts = 0;
		pd->cause_fn = 0;
		__builtin_memset(pd->cause_args, 0, sizeof(pd->cause_args));
		open_call(pd, pd->tid);
	}
	return 0;
}

/* The thread's pending syscall is done with. */
static __always_inline void pending_done(struct pending *pd)
{
	pd->nr = 0;
	__sync_fetch_and_sub(&npending, 1);
}

/*
 * The record of PD's syscall, returned RET, into the ring; the cause
 * fields only with --uprobes (they stay 0 otherwise: MT_SYSCALL_SHORT).
 */
static __always_inline void syscall_rec(struct pending *pd, long ret,
					__u32 flags)
{
	__u32 size = trace_calls ? sizeof(struct mt_syscall) : MT_SYSCALL_SHORT;
	struct mt_syscall *rec = reserve(size);

	if (!rec)
		return;
	rec->h.ts_ns = pd->ts_ns;
	rec->h.pid = pd->pid;
	rec->h.tid = pd->tid;
	rec->h.type = MT_SYSCALL;
	rec->h.size = size;
	rec->h.cpu = bpf_get_smp_processor_id();
	rec->exit_ns = bpf_ktime_get_ns();
	__builtin_memcpy(rec->args, pd->args, sizeof(rec->args));
	rec->ret = ret;
	rec->ip = pd->ip;
	rec->nr = pd->nr;
	rec->flags = flags;
	if (trace_calls) {
		rec->cause_ts = pd->cause_ts;
		rec->outer_ts = pd->outer_ts;
		rec->cause_fn = pd->cause_fn;
		rec->pad = 0;
		__builtin_memcpy(rec->cause_args, pd->cause_args,
				 sizeof(rec->cause_args));
	}
	submit_at(rec, 0, !(++pd->nrec % WAKE_LOOK_EVERY));
}

/*
 * A forked child's first return to user space passes here (ret_from_fork
 * runs the syscall exit work): if it is one to hold, stop it, with its
 * record in the ring so that the reader continues it.
 */
static __always_inline void hold_fresh(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mt_hold *rec;

	if (bpf_map_delete_elem(&fresh, &tid))
		return;		/* not a child to hold */
	__sync_fetch_and_sub(&nfresh, 1);
	rec = reserve(sizeof(*rec));
	if (!rec)
		return;		/* counted: it runs on unattached, said so */
	fill_hdr(&rec->h, MT_HOLD, sizeof(*rec));
	rec->held = !bpf_send_signal(SIGSTOP_NR);
	rec->pad = 0;
	submit(rec, 1);
}

SEC("raw_tracepoint/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct pending *pd;

	if (hold_forks && *(volatile __s64 *)&nfresh)
		hold_fresh();
	if (!trace_syscalls || !*(volatile __s64 *)&npending)
		return 0;
	pd = bpf_task_storage_get(&pendings, bpf_get_current_task_btf(), NULL, 0);
	if (!pd || !pd->nr)
		return 0;
	/*
	 * The thread's exit after its memory syscall's entry is that
	 * syscall's: a thread makes one syscall at a time, every syscall
	 * whose entry ran this program gets here (a seccomp or ptrace skip
	 * comes before the entry tracepoint), and a thread that dies inside
	 * one is closed by process_exit. So the number is not read back
	 * from the registers (a helper call per syscall).
	 */
	syscall_rec(pd, ret, pd->flags);
	pending_done(pd);
	return 0;
}

static __always_inline void mark_fresh(__u32 tid)
{
	__u32 one = 1;

	if (bpf_map_update_elem(&fresh, &tid, &one, BPF_ANY) == 0)
		__sync_fetch_and_add(&nfresh, 1);
	else
		count_drop();	/* it runs unattached: the trace says so */
}

SEC("raw_tracepoint/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct mt_fork *rec;
	struct mt_proc *pr;

	pr = bpf_map_lookup_elem(&procs, &ptgid);
	if (!pr)
		return 0;
	if (ctgid != ptgid) {
		struct mt_proc copy = *pr;	/* fork keeps the interpreter mapped */
		long err = bpf_map_update_elem(&procs, &ctgid, &copy, BPF_NOEXIST);

		if (err == 0)
			__sync_fetch_and_add(&live_procs, 1);
		else if (err != -EEXIST)
			count_drop();	/* full, or no memory: the child goes
					 * untraced, and the trace says so */
		/* A vfork child too: a uprobe_multi link by pid runs for
		 * that process's threads only, not for a vfork child in
		 * its mm (ebpf.c: link_multi()). */
		if (hold_forks && err == 0)
			mark_fresh(BPF_CORE_READ(child, pid));
	}
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->h, MT_FORK, sizeof(*rec));
	rec->child_pid = ctgid;
	rec->child_tid = BPF_CORE_READ(child, pid);
	rec->thread = ctgid == ptgid;
	rec->vfork = BPF_CORE_READ(child, vfork_done) != NULL;
	BPF_CORE_READ_STR_INTO(&rec->comm, child, comm);
	submit(rec, 0);
	return 0;
}

/*
 * AT_BASE from the auxiliary vector exec just built: where ld.so lies.
 * Searched with bpf_loop(), whose callback the verifier walks once: an
 * unrolled or bounded loop of 28 reads was ~970 instructions to verify,
 * and this verifier takes ~0.8 us an instruction here (0.7 ms at every
 * start, a third of all the programs' verification).
 */
struct auxv_search {
	unsigned long *auxv;
	__u64 base;
};

static long auxv_pair(__u32 i, void *data)
{
	struct auxv_search *s = data;
	unsigned long pair[2];

	/* Not bpf_core_read(): s is ours, no kernel type to relocate. */
	if (bpf_probe_read_kernel(pair, sizeof(pair), s->auxv + 2 * i) ||
	    pair[0] == 0)
		return 1;	/* unreadable, or AT_NULL: no AT_BASE */
	if (pair[0] != AT_BASE)
		return 0;
	s->base = pair[1];
	return 1;
}

static __always_inline __u64 interp_base(struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct auxv_search s = { .auxv = mm->saved_auxv };

	bpf_loop(AUXV_PAIRS, auxv_pair, &s, 0);
	return s.base;
}

SEC("raw_tracepoint/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct task_struct *cur = bpf_get_current_task_btf();
	struct vma_probe p = { 0 };
	struct mt_exec *rec;
	struct pending *pd;
	struct mt_proc *pr;
	__u64 base;

	pr = bpf_map_lookup_elem(&procs, &tgid);
	if (!pr)
		return 0;
	base = interp_base(task);
	__builtin_memset(pr, 0, sizeof(*pr));
	if (base && bpf_find_vma(cur, base, vma_inode, &p, 0) == 0)
		pr->interp_ino = p.ino;
	/* The thread that exec'd (now the only one) starts afresh too. */
	pd = bpf_task_storage_get(&pendings, cur, NULL, 0);
	if (pd) {
		pd->code = *pr;
		pd->pid = tgid;
		pd->tid = (__u32)id;
	}
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->h, MT_EXEC, sizeof(*rec));
	rec->old_tid = old_pid;
	rec->interp_base = base;
	BPF_CORE_READ_STR_INTO(&rec->comm, task, comm);
	bpf_probe_read_kernel_str(rec->path, sizeof(rec->path),
				  BPF_CORE_READ(bprm, filename));
	/* Only with its record in the ring: the reader will continue it. */
	rec->held = hold_execs && !bpf_send_signal(SIGSTOP_NR);
	submit(rec, rec->held);
	return 0;
}

/* The thread dies inside a memory syscall (killed): say so, unfinished. */
static __always_inline void unfinished(void)
{
	struct pending *pd;

	pd = bpf_task_storage_get(&pendings, bpf_get_current_task_btf(), NULL, 0);
	if (!pd || !pd->nr)
		return;
	syscall_rec(pd, 0, pd->flags | MT_F_UNFINISHED);
	pending_done(pd);
}

SEC("raw_tracepoint/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task, bool group_dead)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct mt_exit *rec;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	unfinished();
	bpf_map_delete_elem(&calls, &tid);
	/* Killed before it was back from fork: sys_exit need not look. */
	if (hold_forks && bpf_map_delete_elem(&fresh, &tid) == 0)
		__sync_fetch_and_sub(&nfresh, 1);
	rec = reserve(sizeof(*rec));
	if (rec) {
		fill_hdr(&rec->h, MT_EXIT, sizeof(*rec));
		rec->code = BPF_CORE_READ(task, exit_code);
		rec->group_dead = group_dead;
		submit(rec, group_dead);
	}
	if (group_dead && bpf_map_delete_elem(&procs, &tgid) == 0)
		__sync_fetch_and_sub(&live_procs, 1);
	return 0;
}

/*
 * USDT: one program for every heaplab probe; the loader sets the cookie to
 * the event kind (probes/event.h) when it attaches each probe.
 */
SEC("usdt")
int usdt_probe(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mt_usdt *rec;
	long v;
	int n;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->h, MT_USDT, sizeof(*rec));
	rec->probe = bpf_usdt_cookie(ctx);
	n = bpf_usdt_arg_cnt(ctx);
	rec->nargs = n < 0 ? 0 : n > MT_USDT_ARGS ? MT_USDT_ARGS : n;
	__builtin_memset(rec->args, 0, sizeof(rec->args));
	if (n > 0 && !bpf_usdt_arg(ctx, 0, &v))
		rec->args[0] = v;
	if (n > 1 && !bpf_usdt_arg(ctx, 1, &v))
		rec->args[1] = v;
	if (n > 2 && !bpf_usdt_arg(ctx, 2, &v))
		rec->args[2] = v;
	if (n > 3 && !bpf_usdt_arg(ctx, 3, &v))
		rec->args[3] = v;
	submit(rec, 0);
	return 0;
}

/*
 * Allocator calls by uprobe (--uprobes). The entry probe pushes the call on
 * a small per-thread stack, the return probe pops it and writes the record:
 * return probes fire innermost first, so a call made inside another (an
 * interposer's malloc calling the real one) is reported on its own. The
 * attach cookie is the event kind.
 */
SEC("uprobe")
int BPF_KPROBE(call_enter, unsigned long a0, unsigned long a1, unsigned long a2)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, zero = 0;
	struct call_stack *cs, *empty;
	unsigned int d;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	cs = bpf_map_lookup_elem(&calls, &tid);
	if (!cs) {
		empty = bpf_map_lookup_elem(&empty_stack, &zero);
		if (!empty)
			return 0;
		empty->depth = 0;
		bpf_map_update_elem(&calls, &tid, empty, BPF_NOEXIST);
		cs = bpf_map_lookup_elem(&calls, &tid);
		if (!cs)
			return 0;
	}
	d = cs->depth++;
	if (d >= CALL_DEPTH)
		return 0;
	d &= CALL_DEPTH - 1;
	cs->f[d].ts_ns = bpf_ktime_get_ns();
	cs->f[d].fn = bpf_get_attach_cookie(ctx);
	cs->f[d].args[0] = a0;
	cs->f[d].args[1] = a1;
	cs->f[d].args[2] = a2;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(call_exit, unsigned long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_frame fr;
	struct call_stack *cs;
	struct mt_call *rec;
	unsigned int d;

	cs = bpf_map_lookup_elem(&calls, &tid);
	if (!cs || cs->depth == 0)
		return 0;
	d = --cs->depth;
	if (d >= CALL_DEPTH)
		return 0;
	/* A copy: the verifier loses the bound on d across the reserve. */
	fr = cs->f[d & (CALL_DEPTH - 1)];
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->h, MT_CALL, sizeof(*rec));
	rec->exit_ns = rec->h.ts_ns;
	rec->h.ts_ns = fr.ts_ns;
	__builtin_memcpy(rec->args, fr.args, sizeof(rec->args));
	rec->ret = ret;
	rec->fn = fr.fn;
	submit(rec, 0);
	return 0;
}
