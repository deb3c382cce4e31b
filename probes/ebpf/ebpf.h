/* SPDX-License-Identifier: MIT */
/*
 * ebpf.h — heaplab's ebpf engine, the user side of memtrace.bpf.c.
 *
 * Life of a trace: hl_ebpf_open() loads and attaches everything; the
 * caller forks the target, which waits; hl_ebpf_follow() puts its pid in
 * the kernel's filter; the target is released and execs; hl_ebpf_poll()
 * hands each ring record (memtrace.h) to the callback until
 * hl_ebpf_live() says the whole tree is gone.
 */
#ifndef HEAPLAB_EBPF_H
#define HEAPLAB_EBPF_H

#include <stddef.h>
#include <sys/types.h>

#include "probes/ebpf/memtrace.h"

struct hl_ebpf;

struct hl_ebpf_opts {
	int syscalls;		/* trace the memory syscalls */
	int calls;		/* allocator calls by uprobe (attach_calls) */
	int usdt;		/* USDT probes will be attached (attach_usdt) */
	const char *tap_path;	/* heaplab's tap, for the "tap" cause, or NULL */
	int hold_execs;		/* stop each exec'd image until continued
				 * (mt_exec.held): the caller must SIGCONT it */
	int hold_forks;		/* stop each forked child (own mm) at its
				 * return from fork (mt_hold): SIGCONT it */
	size_t ring_bytes;	/* 0: the default (4 MiB, 16 with calls) */
};

/* Called for every record, in ring order (per CPU, not globally, sorted). */
typedef int (*hl_ebpf_fn)(const struct mt_hdr *rec, void *ctx);

/*
 * Loads and attaches the programs. On failure returns NULL with a one-line
 * reason in WHY (e.g. "BPF needs root (CAP_BPF, CAP_PERFMON)").
 */
struct hl_ebpf *hl_ebpf_open(const struct hl_ebpf_opts *o, hl_ebpf_fn fn,
			     void *ctx, char *why, size_t len);
/* A probe to attach: a USDT name or a function symbol, and its cookie. */
struct hl_ebpf_probe {
	const char *name;
	unsigned long long cookie;	/* comes back in the record */
};

/*
 * Attaches the USDT probes of provider PROVIDER in the ELF object PATH,
 * for every process (the kernel filter keeps the tree's). Probes the
 * object does not have are skipped. Returns how many were attached, or -1
 * with a reason in WHY.
 */
int hl_ebpf_attach_usdt(struct hl_ebpf *e, const char *path,
			const char *provider, const struct hl_ebpf_probe *p,
			size_t n, char *why, size_t len);
/*
 * Attaches an entry uprobe and a return uprobe to each function of P
 * defined in PATH, for process PID alone (its threads, in its mm, and its
 * later images if it execs; not a vfork child: it needs its own). Returns how
 * many functions were attached (0: none defined there), or -1 with a
 * reason in WHY. PATH is kept and compared by address (hl_ebpf_attached).
 */
int hl_ebpf_attach_calls(struct hl_ebpf *e, const char *path, pid_t pid,
			 const struct hl_ebpf_probe *p, size_t n,
			 char *why, size_t len);
/* Has PID uprobes on PATH (NULL: on anything)? */
int hl_ebpf_attached(const struct hl_ebpf *e, pid_t pid, const char *path);
/*
 * PID is gone: its uprobe links are destroyed by a thread of their own
 * (each waits out an RCU grace period), the caller does not wait.
 */
void hl_ebpf_detach_pid(struct hl_ebpf *e, pid_t pid);
/* Uprobe links open now (the processes' not yet detached). */
size_t hl_ebpf_nlinks(const struct hl_ebpf *e);

/* Adds PID (a process not yet exec'd) to the traced tree. */
int hl_ebpf_follow(struct hl_ebpf *e, pid_t pid);
/*
 * Waits up to TIMEOUT_MS for records and drains the ring. Returns the
 * number handled, or -1 when the callback failed (its errno kept).
 */
int hl_ebpf_poll(struct hl_ebpf *e, int timeout_ms);
/* Is any process of the tree's filter map still there (kill -0)? */
int hl_ebpf_any_alive(struct hl_ebpf *e);
/* Sends SIG to every process of the tree. */
void hl_ebpf_kill_all(struct hl_ebpf *e, int sig);
/* The filter map's fd (the tree's tgids, struct mt_proc values), -1 without
 * the engine: for a process that outlives the tracer (probes/ebpf/run.c). */
int hl_ebpf_procs_fd(const struct hl_ebpf *e);
/* Processes of the tree still alive. */
long hl_ebpf_live(const struct hl_ebpf *e);
/*
 * Where CO-RE found the kernel's types: "embedded" (the build's cut of
 * this very kernel's BTF) or "kernel" (/sys/kernel/btf/vmlinux).
 */
const char *hl_ebpf_btf(const struct hl_ebpf *e);
/*
 * Memory syscalls of the tree entered and not yet returned, as the kernel
 * side counts them (it skips its exit work while there are none): 0 again
 * once the tree is gone.
 */
long hl_ebpf_pending(const struct hl_ebpf *e);
/* Records the kernel could not put in the ring. */
unsigned long long hl_ebpf_drops(const struct hl_ebpf *e);
/* The ring's size in bytes. */
size_t hl_ebpf_ring_bytes(const struct hl_ebpf *e);
void hl_ebpf_close(struct hl_ebpf *e);

/* The syscall's name for an x86_64 number memtrace follows, else NULL. */
const char *hl_ebpf_syscall_name(unsigned int nr);

#endif
