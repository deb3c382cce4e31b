// SPDX-License-Identifier: MIT
/* engine.c — the ptrace + seccomp engine; see engine.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/mman.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "probes/ptrace/engine.h"
#include "probes/ptrace/maps.h"
#include "probes/tidmap.h"

extern char **environ;

#define PTRACE_OPTS (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACESECCOMP |       \
		     PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |              \
		     PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |              \
		     PTRACE_O_EXITKILL)

/* A process image: its code ranges and whether it is CMD yet. */
struct proc {
	pid_t pid;
	int execd;			/* 0: still heaplab's child before exec */
	struct hl_maps maps;
};

/* A traced thread. */
struct tracee {
	pid_t tid, pid;
	int attached;			/* its first SIGSTOP has been eaten */
	int in_sys;			/* between seccomp stop and exit stop */
	struct hl_event sys;
	unsigned depth;			/* calls open at the seccomp stop */
	struct hl_tap_open inner;
	uint64_t outer_ts;
};

/* Sharing the tracee's CPU (see "one CPU" below). */
struct colo {
	int wanted;			/* pinned before fork, to go idle */
	int on;				/* the watchdog runs */
	pid_t tid;			/* the tracer's thread */
	cpu_set_t all;			/* its CPUs before */
	int efd;			/* the end, for the watchdog */
	pthread_t watchdog;
	atomic_ulong stops;		/* stops served */
	uint64_t followed;		/* when it last moved to a tracee */
	atomic_int idle;		/* the tracer is SCHED_IDLE, pinned */
};

struct engine {
	const struct hl_ptrace_opts *o;
	struct hl_ptrace_result *res;
	pid_t root;
	int errpipe;			/* the child's exec errno, if any */
	struct hl_tidmap tracees, procs;
	uint64_t last_drain;
	struct colo colo;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the seccomp filter, built before fork ---- */

static const enum hl_kind traced_kinds[] = {
	HL_EV_BRK, HL_EV_MMAP, HL_EV_MUNMAP, HL_EV_MREMAP, HL_EV_MADVISE,
	HL_EV_MPROTECT,
};

static int build_filter(const char *cmd, struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = -1, rc = -1;
	off_t size;

	if (!ctx) {
		hl_warn(cmd, "seccomp_init failed");
		return -1;
	}
	/* Syscalls of another ABI (int 0x80, a 32-bit program) run
	 * untraced; libseccomp's default would kill the process. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW) < 0) {
		hl_warn(cmd, "seccomp: cannot allow other ABIs");
		goto out;
	}
	for (size_t i = 0; i < sizeof(traced_kinds) / sizeof(traced_kinds[0]); i++) {
		int e = seccomp_rule_add(ctx, SCMP_ACT_TRACE(traced_kinds[i]),
					 (int)hl_syscall_of_kind(traced_kinds[i]), 0);
		if (e < 0) {
			hl_warn(cmd, "seccomp rule for %s: %s",
				hl_kinds[traced_kinds[i]].name, strerror(-e));
			goto out;
		}
	}
	fd = memfd_create("heaplab-seccomp", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0) {
		hl_warn(cmd, "cannot export the seccomp filter");
		goto out;
	}
	size = lseek(fd, 0, SEEK_END);
	prog->len = (unsigned short)(size / sizeof(struct sock_filter));
	prog->filter = malloc((size_t)size);
	if (!prog->filter || pread(fd, prog->filter, (size_t)size, 0) != size) {
		hl_warn(cmd, "cannot read the seccomp filter back");
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

/* ---- the child ---- */

struct child_err {
	int stage;		/* 0 ptrace, 1 seccomp, 2 exec */
	int err;
};

static _Noreturn void child_fail(int fd, int stage)
{
	struct child_err e = { stage, errno };

	if (write(fd, &e, sizeof(e)) < 0) {
		/* nothing more to say */
	}
	_exit(stage == 2 && e.err == ENOENT ? 127 : 126);
}

/* The tracer's own signal handling, which the child must not keep. */
static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGALRM };
static struct sigaction saved[4];
static volatile sig_atomic_t got[4];

static _Noreturn void child(const struct hl_ptrace_opts *o,
			    const struct sock_fprog *prog, int errfd,
			    const struct colo *c)
{
	/* It starts on the tracer's CPU, with every CPU it had. */
	if (c->wanted)
		sched_setaffinity(0, sizeof(c->all), &c->all);
	signal(SIGPIPE, SIG_DFL);
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &saved[i], NULL);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
		child_fail(errfd, 0);
	raise(SIGSTOP);
	if (prog) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
			child_fail(errfd, 1);
	}
	execve(o->path, o->argv, environ);
	child_fail(errfd, 2);
}

/* ---- bookkeeping ---- */

static pid_t tgid_of(pid_t tid)
{
	char path[64], line[256];
	pid_t tgid = tid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

static struct proc *proc_get(struct engine *e, pid_t pid, int execd)
{
	struct proc *p = hl_tidmap_get(&e->procs, (uint32_t)pid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p || hl_tidmap_put(&e->procs, (uint32_t)pid, p) < 0)
		hl_die(e->o->cmd, "out of memory");
	p->pid = pid;
	p->execd = execd;
	hl_maps_reset(&p->maps, pid);
	return p;
}

/*
 * A process child's tgid is its tid, a thread's is its parent's: the
 * thread is in /proc/PPID/task (one lookup, where /proc/TID/status is
 * generated whole to be parsed).
 */
static pid_t child_tgid(pid_t parent_pid, pid_t child)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)parent_pid,
		 (int)child);
	if (access(path, F_OK) == 0)
		return parent_pid;
	return errno == ENOENT ? child : tgid_of(child);
}

/* The tracee TID; PID is its tgid, or 0 when not known: looked up. */
static struct tracee *tracee_get(struct engine *e, pid_t tid, pid_t pid)
{
	struct tracee *t = hl_tidmap_get(&e->tracees, (uint32_t)tid);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t || hl_tidmap_put(&e->tracees, (uint32_t)tid, t) < 0)
		hl_die(e->o->cmd, "out of memory");
	t->tid = tid;
	t->pid = pid ? pid : tgid_of(tid);
	proc_get(e, t->pid, 1);
	return t;
}

static void resume(pid_t tid, enum __ptrace_request req, int sig)
{
	/* ESRCH: killed meanwhile; its exit is reported next. */
	ptrace(req, tid, 0, (void *)(long)sig);
}

static void drain_tid(struct engine *e, pid_t tid)
{
	if (e->o->tap)
		hl_tap_drain_tid(e->o->tap, (uint32_t)tid, hl_tl_call, e->o->tl);
}

/* The thread is gone or has a new image: its lanes are done. */
static void release_lanes(struct engine *e, pid_t tid)
{
	if (e->o->tap)
		hl_tap_release_tid(e->o->tap, (uint32_t)tid, hl_tl_call,
				   e->o->tl);
}

static void emit_process(struct engine *e, struct tracee *t, enum hl_kind k,
			 uint64_t a0, uint64_t a1, uint64_t a2, int64_t ret,
			 const char *str)
{
	struct hl_event ev = {
		.ts_ns = now_ns(), .pid = (uint32_t)t->pid,
		.tid = (uint32_t)t->tid, .kind = k, .ret = ret,
		.args = { a0, a1, a2 },
	};

	ev.end_ns = ev.ts_ns;
	hl_tl_process(e->o->tl, &ev, str);
}

/* ---- stops ---- */

/*
 * The syscall at a seccomp stop: number, arguments and instruction pointer
 * in one PTRACE_GET_SYSCALL_INFO (the kernel fills it from the saved
 * registers; PTRACE_GETREGS copies all 27 through a buffer it allocates
 * and frees on every call).
 */
static int seccomp_info(pid_t tid, struct __ptrace_syscall_info *si)
{
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(*si), si);

	if (n < (long)offsetof(struct __ptrace_syscall_info, seccomp.ret_data) ||
	    si->op != PTRACE_SYSCALL_INFO_SECCOMP)
		return -1;
	return 0;
}

static void on_seccomp(struct engine *e, struct tracee *t)
{
	struct proc *p = proc_get(e, t->pid, 1);
	struct __ptrace_syscall_info si;
	enum hl_kind k;

	if (!p->execd || seccomp_info(t->tid, &si) < 0) {
		resume(t->tid, PTRACE_CONT, 0);
		return;
	}
	k = hl_kind_of_syscall((long)si.seccomp.nr);
	if (k == HL_EV_NONE) {
		resume(t->tid, PTRACE_CONT, 0);
		return;
	}
	memset(&t->sys, 0, sizeof(t->sys));
	t->sys.ts_ns = now_ns();
	t->sys.pid = (uint32_t)t->pid;
	t->sys.tid = (uint32_t)t->tid;
	t->sys.kind = k;
	for (int i = 0; i < 6; i++)
		t->sys.args[i] = si.seccomp.args[i];
	switch (hl_maps_classify(&p->maps, si.instruction_pointer,
				 e->o->tap_path)) {
	case HL_CODE_LOADER:
		t->sys.cause = HL_CAUSE_LOADER;
		break;
	case HL_CODE_TAP:
		t->sys.cause = HL_CAUSE_TAP;
		break;
	default:
		break;
	}
	t->depth = 0;
	if (e->o->tap) {
		/* The calls this thread finished before come first. */
		drain_tid(e, t->tid);
		t->depth = hl_tap_open_calls(e->o->tap, (uint32_t)t->tid,
					     &t->inner, &t->outer_ts);
	}
	t->in_sys = 1;
	resume(t->tid, PTRACE_SYSCALL, 0);
}

/* Code ranges the syscall may have unmapped or replaced. */
static void forget_code(struct proc *p, const struct hl_event *ev)
{
	switch (ev->kind) {
	case HL_EV_MUNMAP:
		hl_maps_forget(&p->maps, ev->args[0], ev->args[1]);
		break;
	case HL_EV_MREMAP:
		hl_maps_forget(&p->maps, ev->args[0], ev->args[1]);
		break;
	case HL_EV_MMAP:
		if (ev->args[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE))
			hl_maps_forget(&p->maps, ev->args[0], ev->args[1]);
		break;
	}
}

static void finish_syscall(struct engine *e, struct tracee *t, int unfinished)
{
	t->in_sys = 0;
	if (unfinished)
		t->sys.flags |= HL_EVF_UNFINISHED;
	forget_code(proc_get(e, t->pid, 1), &t->sys);
	hl_tl_syscall(e->o->tl, &t->sys, t->depth ? &t->inner : NULL,
		      t->outer_ts);
}

/* The return value alone: one word of the saved registers. */
static void on_syscall_exit(struct engine *e, struct tracee *t)
{
	long rax;

	if (t->in_sys) {
		errno = 0;
		rax = ptrace(PTRACE_PEEKUSER, t->tid,
			     (void *)offsetof(struct user_regs_struct, rax), 0);
		if (errno == 0) {
			t->sys.end_ns = now_ns();
			t->sys.ret = (int64_t)rax;
			finish_syscall(e, t, 0);
		}
	}
	resume(t->tid, PTRACE_CONT, 0);
}

/* A process whose code the engine has not looked at yet. */
static int unseen(const struct proc *p)
{
	return !p->maps.seeded && !p->maps.n;
}

static void on_fork(struct engine *e, struct tracee *t, int event)
{
	unsigned long msg = 0;
	struct tracee *c;
	int thread;

	ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg);
	drain_tid(e, t->tid);	/* its calls before the fork come first */
	if (msg) {
		c = hl_tidmap_get(&e->tracees, (uint32_t)msg);
		if (!c)
			c = tracee_get(e, (pid_t)msg,
				       child_tgid(t->pid, (pid_t)msg));
		thread = c->pid == t->pid;
		if (!thread && unseen(proc_get(e, c->pid, 1))) {
			/* Same image as the parent: same code ranges. */
			struct proc *pp = proc_get(e, t->pid, 1);
			struct proc *cp = proc_get(e, c->pid, pp->execd);

			cp->execd = pp->execd;
			cp->maps = pp->maps;
			cp->maps.pid = c->pid;
		}
		if (proc_get(e, t->pid, 1)->execd)
			emit_process(e, t, HL_EV_FORK, msg,
				     event == PTRACE_EVENT_VFORK, thread, 0, NULL);
	}
	resume(t->tid, PTRACE_CONT, 0);
}

static void on_exec(struct engine *e, struct tracee *t)
{
	unsigned long former = 0;
	struct proc *p = proc_get(e, t->pid, 1);
	char exe[4096], link[64];
	ssize_t n;

	ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &former);
	/* The other threads of the old image are gone, and so is the
	 * tid of a non-leader thread that called execve. */
	hl_tidmap_each(&e->tracees, i) {
		struct tracee *o = e->tracees.vals[i];

		if (o->pid != t->pid || o == t)
			continue;
		drain_tid(e, o->tid);
		hl_tl_thread_gone(e->o->tl, (uint32_t)o->tid);
		release_lanes(e, o->tid);
		hl_tidmap_del(&e->tracees, (uint32_t)o->tid);
		free(o);
	}
	drain_tid(e, t->tid);
	release_lanes(e, t->tid);
	t->in_sys = 0;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)t->pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if (t->pid == e->root && !p->execd) {
		e->res->started = 1;
		close(e->errpipe);
		e->errpipe = -1;
	}
	p->execd = 1;
	hl_maps_reset(&p->maps, t->pid);
	emit_process(e, t, HL_EV_EXEC,
		     (pid_t)former != t->tid ? former : 0, 0, 0, 0, exe);
	resume(t->tid, PTRACE_CONT, 0);
}

static void report_child_error(struct engine *e)
{
	static const char *const what[] = {
		"cannot trace it (ptrace)", "cannot load the seccomp filter",
		"cannot run it",
	};
	struct child_err ce;

	if (e->errpipe < 0 || read(e->errpipe, &ce, sizeof(ce)) != sizeof(ce))
		return;
	if (ce.stage < 0 || ce.stage > 2)
		return;
	hl_warn(e->o->cmd, "'%s': %s: %s", e->o->argv[0], what[ce.stage],
		strerror(ce.err));
}

static void on_gone(struct engine *e, pid_t tid, int st)
{
	struct tracee *t = hl_tidmap_get(&e->tracees, (uint32_t)tid);
	struct proc *p;

	if (tid == e->root) {
		e->res->status = hl_exit_status(st);
		if (!e->res->started)
			report_child_error(e);
	}
	if (!t)
		return;
	p = proc_get(e, t->pid, 1);
	if (p->execd) {
		drain_tid(e, tid);
		if (t->in_sys)
			finish_syscall(e, t, 1);
		emit_process(e, t, HL_EV_EXIT,
			     WIFEXITED(st) ? WEXITSTATUS(st) : 0,
			     WIFSIGNALED(st) ? WTERMSIG(st) : 0, 0,
			     hl_exit_status(st), NULL);
	}
	hl_tl_thread_gone(e->o->tl, (uint32_t)tid);
	release_lanes(e, tid);
	hl_tidmap_del(&e->tracees, (uint32_t)tid);
	if (t->tid == t->pid) {
		hl_tidmap_del(&e->procs, (uint32_t)t->pid);
		free(p);
	}
	free(t);
}

static void on_stop(struct engine *e, pid_t tid, int st)
{
	struct tracee *t = tracee_get(e, tid, 0);
	int sig = WSTOPSIG(st), event = st >> 16;

	if (sig == SIGTRAP && event) {
		switch (event) {
		case PTRACE_EVENT_SECCOMP:
			on_seccomp(e, t);
			return;
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			on_fork(e, t, event);
			return;
		case PTRACE_EVENT_EXEC:
			on_exec(e, t);
			return;
		default:
			resume(tid, PTRACE_CONT, 0);
			return;
		}
	}
	if (sig == (SIGTRAP | 0x80)) {
		on_syscall_exit(e, t);
		return;
	}
	if (sig == SIGSTOP && !t->attached) {
		/* A new tracee's first stop, not a signal for it. */
		t->attached = 1;
		resume(tid, PTRACE_CONT, 0);
		return;
	}
	t->attached = 1;
	resume(tid, PTRACE_CONT, sig);
}

/* ---- Ctrl-C ---- */

static void kill_all(struct engine *e)
{
	hl_tidmap_each(&e->procs, i)
		kill(((struct proc *)e->procs.vals[i])->pid, SIGKILL);
	kill(e->root, SIGKILL);
}

/* SIGTERM or SIGHUP for heaplab: the target gets it too. */
static void forward(struct engine *e, int sig)
{
	hl_tidmap_each(&e->procs, i)
		kill(((struct proc *)e->procs.vals[i])->pid, sig);
}

static void on_signal(struct engine *e, int sig)
{
	if (sig == SIGCHLD)
		return;
	if (sig != SIGINT)
		forward(e, sig);
	if (!e->res->interrupted) {
		e->res->interrupted = 1;
		if (e->o->tap)
			hl_tap_drain(e->o->tap, hl_tl_call, e->o->tl);
		hl_tl_flush(e->o->tl);
		if (e->o->on_interrupt)
			e->o->on_interrupt(e->o->ctx);
		e->o->tl->recording = 0;
		hl_warn(e->o->cmd, "%s: trace ended, marked incomplete; "
			"waiting for '%s' to exit (%s)",
			sig == SIGINT ? "interrupted" : strsignal(sig),
			e->o->argv[0], sig == SIGINT ? "Ctrl-C again kills it" :
			"signal passed on to it");
		return;
	}
	hl_warn(e->o->cmd, "killing '%s'", e->o->argv[0]);
	kill_all(e);
}

static void on_caught(int sig)
{
	for (int i = 0; i < 4; i++)
		if (caught[i] == sig)
			got[i]++;
}

/*
 * Handlers without SA_RESTART, and an interval timer: a blocked waitpid
 * returns EINTR for a signal, and at least every TICK for the tap's drain.
 */
static void catch_signals(int tick_us)
{
	struct sigaction sa = { .sa_handler = on_caught };
	struct itimerval it = {
		.it_interval = { 0, tick_us }, .it_value = { 0, tick_us },
	};

	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &sa, &saved[i]);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void uncatch_signals(void)
{
	struct itimerval off = { 0 };

	setitimer(ITIMER_REAL, &off, NULL);
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &saved[i], NULL);
}

static void handle_signals(struct engine *e)
{
	static sig_atomic_t seen[4];

	for (int i = 0; i < 3; i++) {
		while (seen[i] != got[i]) {
			seen[i]++;
			on_signal(e, caught[i]);
		}
	}
}

/* ---- one CPU ----
 *
 * Every stop hands the CPU from the tracee to the tracer and back. On two
 * CPUs each hand-over wakes an idle one: an IPI, and on a VM whose idle
 * vCPUs halt, a trip through the host (here ~25 us of CPU a stop on each
 * side, against ~4 for a switch on one CPU). The scheduler puts the two
 * apart whenever a CPU is idle, and the tracee's CPUs are its own (a
 * program sees them: nproc). So the tracer keeps to one CPU and runs
 * SCHED_IDLE: a CPU whose only runnable task is an idle-policy one counts
 * as idle when a task wakes or forks (sched_idle_cpu), so the tracee,
 * resumed from there, stays there and preempts the tracer, a fork child is
 * placed there, and at the next stop the tracer just goes on, no wake-up.
 *
 * When the tracer sleeps for a stop, the tracee ran elsewhere: it moves to
 * the tracee's CPU (colo_follow). An idle-policy task gets next to no CPU
 * while a normal one wants it: a watchdog thread (normal policy, any CPU)
 * that sees the tracer starved puts it back to normal on all its CPUs for
 * the rest of the trace. Syscalls only (--events syscalls, no tap); root
 * only (or a RLIMIT_NICE that lets a thread leave SCHED_IDLE);
 * HEAPLAB_PTRACE_ONECPU=0 turns it off.
 */
#define WATCH_MS 2

static int can_leave_idle(void)
{
	struct rlimit rl;
	int nice;

	if (geteuid() == 0)
		return 1;
	errno = 0;
	nice = getpriority(PRIO_PROCESS, 0);
	return errno == 0 && getrlimit(RLIMIT_NICE, &rl) == 0 &&
	       (rl.rlim_cur == RLIM_INFINITY || (long)rl.rlim_cur >= 20 - nice);
}

/*
 * Before the fork: the tracer (and so the child, at first) on this CPU.
 * Not with the tap: its lanes must be drained while the tracee runs, and
 * an idle-policy tracer on the tracee's CPU gets no turn then (2.4M calls
 * without a syscall: 302,848 dropped, against none on two CPUs).
 */
static void colo_prepare(struct colo *c, int tap)
{
	const char *v = getenv("HEAPLAB_PTRACE_ONECPU");
	cpu_set_t one;
	int cpu = sched_getcpu();

	c->efd = -1;
	if (tap || (v && !strcmp(v, "0")) || cpu < 0 || !can_leave_idle() ||
	    sched_getaffinity(0, sizeof(c->all), &c->all) < 0 ||
	    CPU_COUNT(&c->all) < 2)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return;
	c->tid = (pid_t)syscall(SYS_gettid);
	c->wanted = 1;
}

/* Back to normal, on every CPU; from either thread. */
static void colo_leave(struct colo *c)
{
	struct sched_param sp = { 0 };

	if (!atomic_exchange(&c->idle, 0))
		return;
	sched_setscheduler(c->tid, SCHED_OTHER, &sp);
	sched_setaffinity(c->tid, sizeof(c->all), &c->all);
}

/*
 * Starved: a stop waiting at two checks in a row with fewer than
 * WATCH_STOPS served in between (an idle-policy task that gets a slice now
 * and then crawls rather than stops). A tracer with its CPU serves a
 * waiting stop within microseconds, so one seen at two checks 2 ms apart
 * is rare unless stops come fast, and then many are served between.
 */
#define WATCH_STOPS 4

static int stop_waiting(void)
{
	siginfo_t si = { 0 };

	return waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT |
		      __WALL) == 0 && si.si_pid;
}

static void *watchdog(void *arg)
{
	struct colo *c = arg;
	struct pollfd pfd = { .fd = c->efd, .events = POLLIN };
	unsigned long seen = 0;
	int waiting = 0;

	while (poll(&pfd, 1, WATCH_MS) == 0 && atomic_load(&c->idle)) {
		unsigned long now = atomic_load(&c->stops);
		int starved = waiting && now - seen < WATCH_STOPS;

		waiting = stop_waiting();
		if (waiting && starved) {
			colo_leave(c);
			break;
		}
		seen = now;
	}
	return NULL;
}

/* The child is stopped on the tracer's CPU: go idle, watched. */
static void colo_begin(struct colo *c)
{
	struct sched_param sp = { 0 };
	pthread_attr_t at;
	sigset_t all, old;
	int ok;

	if (!c->wanted)
		return;
	c->efd = eventfd(0, EFD_CLOEXEC);
	if (c->efd < 0 || pthread_attr_init(&at)) {
		sched_setaffinity(0, sizeof(c->all), &c->all);
		return;
	}
	/* The watchdog runs anywhere, and takes none of the tracer's
	 * signals (Ctrl-C, the drain tick must interrupt its waitpid). */
	pthread_attr_setaffinity_np(&at, sizeof(c->all), &c->all);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&c->idle, 1);
	ok = pthread_create(&c->watchdog, &at, watchdog, c) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (!ok || sched_setscheduler(0, SCHED_IDLE, &sp) < 0) {
		if (ok) {
			eventfd_write(c->efd, 1);
			pthread_join(c->watchdog, NULL);
		}
		atomic_store(&c->idle, 0);
		sched_setaffinity(0, sizeof(c->all), &c->all);
		return;
	}
	c->on = 1;
}

/* The CPU the thread last ran on (field 39 of its stat), or -1. */
static int cpu_of(pid_t pid, pid_t tid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name (field 2) may hold anything */
	for (int field = 2; p && field < 39; field++)
		p = strchr(p + 1, ' ');
	return p ? atoi(p + 1) : -1;
}

/*
 * The tracer slept for this stop: the tracee ran elsewhere (moved by the
 * load balancer, or forked off while this CPU was busy). Move to its CPU,
 * at most every 5 ms, so that from there on it is resumed where it is.
 */
static void colo_follow(struct engine *e, pid_t tid)
{
	struct colo *c = &e->colo;
	struct tracee *t = hl_tidmap_get(&e->tracees, (uint32_t)tid);
	uint64_t now = now_ns();
	cpu_set_t one;
	int cpu;

	if (!t || !t->pid || now - c->followed < 5000000)
		return;
	c->followed = now;
	cpu = cpu_of(t->pid, tid);
	if (cpu < 0 || cpu == sched_getcpu() || !CPU_ISSET(cpu, &c->all))
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	if (!atomic_load(&c->idle))	/* the watchdog let go meanwhile */
		sched_setaffinity(0, sizeof(c->all), &c->all);
}

/* The next stop; the tracer sleeps for it only when none is there. */
static pid_t wait_stop(struct engine *e, int *st)
{
	pid_t w;

	if (!atomic_load_explicit(&e->colo.idle, memory_order_relaxed))
		return waitpid(-1, st, __WALL);
	w = waitpid(-1, st, __WALL | WNOHANG);
	if (w)
		return w;
	w = waitpid(-1, st, __WALL);
	if (w > 0 && WIFSTOPPED(*st))
		colo_follow(e, w);
	return w;
}

static void colo_end(struct colo *c)
{
	if (c->on) {
		eventfd_write(c->efd, 1);
		pthread_join(c->watchdog, NULL);
		c->on = 0;
	}
	colo_leave(c);
	if (c->wanted && c->efd < 0)
		sched_setaffinity(0, sizeof(c->all), &c->all);
	if (c->efd >= 0)
		close(c->efd);
	c->efd = -1;
	c->wanted = 0;
}

/* ---- the loop ---- */

static void drain_all(struct engine *e)
{
	if (e->o->tap && e->o->tl->recording)
		hl_tap_drain(e->o->tap, hl_tl_call, e->o->tl);
	e->last_drain = now_ns();
}

static void serve(struct engine *e)
{
	for (;;) {
		int st;
		pid_t w;

		handle_signals(e);
		if (e->o->tap && now_ns() - e->last_drain > 1000000)
			drain_all(e);
		w = wait_stop(e, &st);
		if (w > 0) {
			if (WIFSTOPPED(st))
				on_stop(e, w, st);
			else if (WIFEXITED(st) || WIFSIGNALED(st))
				on_gone(e, w, st);
			atomic_fetch_add_explicit(&e->colo.stops, 1,
						  memory_order_relaxed);
			continue;
		}
		if (errno == ECHILD)
			return;
		if (errno != EINTR)
			hl_die(e->o->cmd, "waitpid: %s", strerror(errno));
	}
}

static int start(struct engine *e, const struct sock_fprog *prog)
{
	int pfd[2], st;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		hl_warn(e->o->cmd, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		hl_warn(e->o->cmd, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		child(e->o, prog, pfd[1], &e->colo);
	}
	close(pfd[1]);
	e->root = pid;
	e->errpipe = pfd[0];
	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR)
			hl_die(e->o->cmd, "waitpid: %s", strerror(errno));
	if (!WIFSTOPPED(st)) {
		e->res->status = hl_exit_status(st);
		report_child_error(e);
		return -1;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(long)PTRACE_OPTS) < 0) {
		hl_warn(e->o->cmd, "ptrace(SETOPTIONS): %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		return -1;
	}
	struct tracee *t = tracee_get(e, pid, pid);

	t->attached = 1;
	proc_get(e, pid, 0)->execd = 0;
	colo_begin(&e->colo);
	resume(pid, PTRACE_CONT, 0);
	return 0;
}

int hl_ptrace_run(const struct hl_ptrace_opts *o, struct hl_ptrace_result *r)
{
	struct sock_fprog prog = { 0 };
	struct engine e = { .o = o, .res = r, .errpipe = -1 };
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->status = HL_EXIT_FAIL;
	if (o->syscalls && build_filter(o->cmd, &prog) < 0)
		return -1;
	catch_signals(o->tap ? 1000 : 100000);
	colo_prepare(&e.colo, o->tap != NULL);
	if (start(&e, o->syscalls ? &prog : NULL) == 0) {
		serve(&e);
		drain_all(&e);
		rc = 0;
	}
	colo_end(&e.colo);
	uncatch_signals();
	if (e.errpipe >= 0)
		close(e.errpipe);
	hl_tidmap_each(&e.tracees, i)
		free(e.tracees.vals[i]);
	hl_tidmap_each(&e.procs, i)
		free(e.procs.vals[i]);
	hl_tidmap_free(&e.tracees);
	hl_tidmap_free(&e.procs);
	free(prog.filter);
	return rc;
}
