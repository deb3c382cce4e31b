// SPDX-License-Identifier: MIT
/*
 * run.c — engine choice for `heaplab trace` (run.h), and under --uprobes
 * the guard that keeps a program held for the tracer from outliving it
 * stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HL_NO_EBPF
#include <bpf/bpf.h>
#endif

#include "lab/heaplab.h"
#include "probes/ebpf/engine.h"
#include "probes/ebpf/run.h"

/*
 * --uprobes holds the target at two points until the tracer has looked at
 * it, and the tracer may die at either (a crash, SIGKILL, the OOM killer):
 *
 *  - before its first exec it reads a pipe with PR_SET_PDEATHSIG(SIGKILL)
 *    (engine.c: child()): a dead tracer closes the pipe and the signal
 *    kills it, so the command dies with its tracer, as under ptrace's
 *    EXITKILL;
 *  - at every fork and exec in the tree the kernel side stops the child
 *    or the new image before its first instruction (SIGSTOP at its return
 *    from fork, or from sched_process_exec) and the tracer continues it
 *    once it has put uprobes on it (by pid).  The root still has its
 *    parent-death signal (kept across exec, unless the program is set-id),
 *    which kills it stopped or not; but a program its descendants exec'd
 *    has none, and nobody would continue it: it would stay stopped for
 *    good, and whatever waits for it (a shell, make) would hang.
 *
 * So a guard process, started before the target, waits on a pipe from the
 * tracer.  If the tracer ends its run it says so and the guard leaves; if
 * the pipe closes without a word, the tracer is dead: until its BPF links
 * are gone (so that nothing is held any more), and once more after, the
 * guard continues every process of the tree's filter map that is stopped
 * (release_until_gone()).  Continued, not
 * killed: the tracer is gone and the trace with it; the held program then
 * runs on untraced like the rest of the tree, whose fate should not hang
 * on whether the tracer died in the few milliseconds it was held.
 */
struct guard {
	pid_t pid;
	int fd;		/* write end: a byte, then closed, when the run is over */
	const char *cmd;
};

#ifndef HL_NO_EBPF
/* Does the signal mask after FIELD (a /proc/PID/status line) hold SIGSTOP? */
static int stop_in(const char *status, const char *field)
{
	const char *p = strstr(status, field);

	return p && strtoull(p + strlen(field), NULL, 16) &
		    (1ULL << (SIGSTOP - 1));
}

/*
 * Is PID stopped, or about to be: state T, or a SIGSTOP pending (a hold
 * sends it as the process leaves the kernel; until it gets there it is
 * not T yet, and a SIGCONT then discards the pending stop).
 */
static int stopped(pid_t pid)
{
	char path[64], buf[2048];
	const char *state;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	state = strstr(buf, "\nState:\t");
	return (state && state[8] == 'T') || stop_in(buf, "\nShdPnd:\t") ||
	       stop_in(buf, "\nSigPnd:\t");
}
#endif

/* Closes every fd but 2 (for the warning), KEEP1 and KEEP2: above all the
 * BPF links, which must go with the tracer.  0 and 1 become /dev/null, so
 * that a reader of the tracer's output sees its end with the tracer's. */
static void close_all_but(int keep1, int keep2)
{
	int lo = keep1 < keep2 ? keep1 : keep2;
	int hi = keep1 < keep2 ? keep2 : keep1;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
}

/* Continues every stopped process of the tree; returns how many. */
static int release_held(const char *cmd, int procs)
{
	int n = 0;
#ifndef HL_NO_EBPF
	__u32 key, next;
	int have = 0;

	while (bpf_map_get_next_key(procs, have ? &key : NULL, &next) == 0) {
		if (stopped((pid_t)next) && kill((pid_t)next, SIGCONT) == 0) {
			hl_warn(cmd, "the tracer is gone: pid %u, held stopped "
				"for it, continued untraced", next);
			n++;
		}
		key = next;
		have = 1;
	}
#else
	(void)cmd, (void)procs;
#endif
	return n;
}

/*
 * Until the tracer (the guard's parent) is gone, its programs may still
 * hold a process: its fds, BPF links among them, are closed before it is
 * gone as a parent (do_exit), one after another, and each uprobe link's
 * close waits out a grace period (seconds, under load). A process
 * continued meanwhile may be held again at its next fork or exec: so the
 * stopped ones are continued every 10 ms until the tracer is gone (a
 * minute at most), and for 100 ms after.
 */
static void release_until_gone(const char *cmd, int procs, pid_t tracer)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 60000 && getppid() == tracer; i++) {
		if (i % 10 == 9)
			release_held(cmd, procs);
		nanosleep(&ms, NULL);
	}
	/* Its links are closed now; a stop already sent may still be on
	 * its way to a process (stopped() sees it pending): 100 ms more. */
	for (int i = 0; i < 100; i++) {
		if (i % 10 == 0)
			release_held(cmd, procs);
		nanosleep(&ms, NULL);
	}
	release_held(cmd, procs);
}

static _Noreturn void guard_main(const char *cmd, int rd, int procs,
				 pid_t tracer)
{
	static const int ignored[] = { SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGPIPE };
	char done;
	ssize_t n;

	/* Out of the tracer's process group: a Ctrl-C or a kill of the
	 * group is for the tracer and the target. */
	setpgid(0, 0);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	close_all_but(rd, procs);
	while ((n = read(rd, &done, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		_exit(0);
	release_until_gone(cmd, procs, tracer);
	_exit(0);
}

/* Starts the guard; G->pid is 0 when there is none (a warning said why). */
static void guard_start(struct guard *gd, const char *cmd, int procs)
{
	pid_t tracer = getpid();
	int p[2];

	gd->pid = 0;
	gd->fd = -1;
	gd->cmd = cmd;
	if (procs < 0)
		return;
	if (pipe2(p, O_CLOEXEC) < 0) {
		hl_warn(cmd, "--uprobes: no guard for held programs: pipe: %s",
			strerror(errno));
		return;
	}
	fflush(NULL);
	gd->pid = fork();
	if (gd->pid == 0) {
		close(p[1]);
		guard_main(cmd, p[0], procs, tracer);
	}
	close(p[0]);
	if (gd->pid < 0) {
		hl_warn(cmd, "--uprobes: no guard for held programs: fork: %s",
			strerror(errno));
		gd->pid = 0;
		close(p[1]);
		return;
	}
	/*
	 * At its lowest free number: a dying tracer closes its fds in
	 * order, each uprobe link waiting out a grace period (seconds in
	 * all, under load), and the guard should start continuing what is
	 * held at once, not after them.
	 */
	gd->fd = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
	if (gd->fd >= 0)
		close(p[1]);
	else
		gd->fd = p[1];
}

/* The run is over, nothing is held: the guard leaves. */
static void guard_stop(struct guard *gd)
{
	if (!gd->pid)
		return;
	if (write(gd->fd, "", 1) != 1)
		hl_warn(gd->cmd, "--uprobes: cannot stop the guard: %s",
			strerror(errno));
	close(gd->fd);
	while (waitpid(gd->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int run_ebpf(struct hl_engine_run *er, struct hl_ebpf_engine *g,
		    const char *cmd, struct hl_ptrace_result *res)
{
	struct hl_ebpf_result r;
	struct guard gd = { 0 };
	int rc;

	er->used = "ebpf";
	if (er->uprobes)
		guard_start(&gd, cmd, hl_ebpf_engine_procs_fd(g));
	rc = hl_ebpf_engine_run(g, &r);
	if (er->uprobes)
		guard_stop(&gd);
	res->status = r.status;
	res->interrupted = r.interrupted;
	res->started = r.started;
	er->lost = r.lost;
	er->err = r.err;
	return rc;
}

int hl_engine_run(struct hl_engine_run *er, const struct hl_ptrace_opts *po,
		  struct hl_ptrace_result *res)
{
	struct hl_ebpf_run_opts eo = {
		.cmd = po->cmd, .path = po->path, .argv = po->argv,
		.syscalls = po->syscalls, .tap = po->tap,
		.tap_path = po->tap_path, .alloc_path = er->alloc_path,
		.uprobes = er->uprobes, .tl = po->tl, .hlt = er->hlt,
		.on_interrupt = po->on_interrupt, .ctx = po->ctx,
	};
	struct hl_ebpf_engine *g = NULL;
	char why[512] = "";

	memset(res, 0, sizeof(*res));
	res->status = HL_EXIT_FAIL;	/* until CMD has run */
	er->lost = 0;
	er->err = 0;
	if (strcmp(er->engine, "ptrace")) {
		g = hl_ebpf_engine_open(&eo, why, sizeof(why));
		if (g) {
			if (!strcmp(er->engine, "auto"))
				hl_warn(po->cmd, "engine auto: using ebpf (its "
					"programs loaded)");
			return run_ebpf(er, g, po->cmd, res);
		}
		if (strcmp(er->engine, "auto") || er->uprobes) {
			hl_warn(po->cmd, "the ebpf engine cannot run here: %s", why);
			return -1;
		}
		hl_warn(po->cmd, "engine auto: using ptrace (ebpf: %s)", why);
	}
	er->used = "ptrace";
	return hl_ptrace_run(po, res);
}
