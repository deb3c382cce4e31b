// SPDX-License-Identifier: MIT
/*
 * runner.c — `make bench`: every allocator workload under every allocator,
 * side by side in one run.
 *
 *   runner [-n RUNS] [-a ALLOCS] [-s SCALE] [-t SECS] [-o DIR] [--only NAMES]
 *          [--markdown] [--no-warmup] WORKLOAD...
 *   runner --from results.json [--markdown]
 *
 * A WORKLOAD is an executable run as `WORKLOAD SCALE`, alone, with one
 * allocator preloaded (nothing for glibc). Runs are interleaved: each round
 * runs every workload once under every allocator, the allocator order
 * rotated by one each round, so a noisy moment on a shared machine spreads
 * over all allocators instead of landing on one column. Per (workload,
 * allocator) we keep the median wall time, the median peak RSS (ru_maxrss
 * from wait4, which covers the children the workload waited for) and the
 * median of each "heaplab-metric NAME VALUE UNIT" line the workload printed.
 * A run that exits non-zero, dies of a signal, outruns the timeout or runs
 * without its allocator (ld.so ignored the preload) marks its cell FAILED
 * with the reason; the runner then exits 1.
 *
 * Output: text tables on stdout (Markdown with --markdown), and
 * DIR/results.json and DIR/results.md (the README's table).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "allocator/bench/jsonr.h"

#define MAX_RUNS 101
#define MAX_ALLOCS 16
#define MAX_METRICS 8
#define REASON_LEN 200

static const char *const system_libdirs[] = {
	"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
	"/usr/lib64", "/usr/lib", "/usr/local/lib",
};

static const struct {
	const char *name, *soname;
} system_allocs[] = {
	{ "jemalloc", "libjemalloc.so.2" },
	{ "mimalloc", "libmimalloc.so.2" },
	{ "tcmalloc", "libtcmalloc_minimal.so.4" },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct alloc {
	char name[64];
	char path[PATH_MAX];	/* "" for glibc */
	const char *missing;	/* NULL, "not built" or "not installed" */
};

struct metric {
	char name[40], unit[16];
	double v[MAX_RUNS];
	int n;
};

/* One workload under one allocator. */
struct cell {
	double t[MAX_RUNS];	/* wall seconds */
	double cpu[MAX_RUNS];	/* user + system seconds, waited-for children included */
	long rss[MAX_RUNS];	/* ru_maxrss, KiB */
	int n;
	struct metric m[MAX_METRICS];
	int nm;
	int failed;
	char reason[REASON_LEN];
	/* Medians, filled in by summarize(). */
	double t_med, rss_med;
};

struct workload {
	char name[64];
	const char *path;
	struct cell cell[MAX_ALLOCS];
};

static struct {
	int runs;
	double scale;
	char scale_arg[32];
	double timeout;
	const char *outdir;
	const char *build;
	int markdown, warmup;
	const char *only;
	const char *from;
} opt = { .runs = 5, .scale = 1.0, .timeout = 120, .warmup = 1 };

/* The machine measured: this one, or the one results.json names. */
static char host_kernel[128], host_date[32];
static long host_cpus;
/* 1-minute load average before and after: how shared the machine was. */
static double host_load[2] = { NAN, NAN };

static struct alloc allocs[MAX_ALLOCS];
static int nalloc;
static struct workload *wls;
static int nwl;

/* The process group of the run in progress, killed if we are interrupted. */
static volatile sig_atomic_t running_pgid;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'runner --help'.\n", stderr);
	return 2;
}

static void help(void)
{
	printf(
"Usage: runner [OPTIONS] WORKLOAD...\n"
"\n"
"Runs each WORKLOAD (an executable, run as `WORKLOAD SCALE`) under each\n"
"allocator, interleaved, and prints the median wall time and peak RSS with\n"
"the ratio to glibc. Writes DIR/results.json and DIR/results.md.\n"
"\n"
"  -n, --runs N        runs per workload and allocator (default 5;\n"
"                      env HEAPLAB_BENCH_RUNS)\n"
"  -a, --alloc LIST    comma-separated allocators: glibc, heaplab,\n"
"                      phase1..phase6, jemalloc, mimalloc, tcmalloc, or a\n"
"                      path to a .so (default glibc,heaplab,jemalloc,\n"
"                      mimalloc,tcmalloc; env HEAPLAB_BENCH_ALLOCS)\n"
"  -s, --scale X       workload size factor (default 1; env\n"
"                      HEAPLAB_BENCH_SCALE)\n"
"  -t, --timeout SECS  a run longer than this is killed and FAILED\n"
"                      (default 120; env HEAPLAB_BENCH_TIMEOUT)\n"
"  -o, --out DIR       where results.json and results.md go (default\n"
"                      $HEAPLAB_BUILD/bench)\n"
"      --only LIST     only these workloads, by name (env HEAPLAB_BENCH_ONLY)\n"
"      --markdown      print the tables as Markdown\n"
"      --no-warmup     skip the untimed first run of each workload\n"
"      --from FILE     run nothing: print the tables of a results.json\n"
"                      again (with --markdown: what results.md holds)\n"
"  -h, --help          this text\n"
"\n"
"heaplab is $HEAPLAB_BUILD/libheaplab.so (default: the build tree this\n"
"runner is in). Exit status: 0, or 1 when any run FAILED, 2 on bad usage.\n");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* strlcpy: truncates, always terminates. */
static void copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- allocators ---------------------------------------------------- */

static void resolve_system(struct alloc *a, const char *soname)
{
	for (size_t d = 0; d < ARRAY_LEN(system_libdirs); d++) {
		snprintf(a->path, sizeof(a->path), "%s/%s", system_libdirs[d],
			 soname);
		if (is_file(a->path))
			return;
	}
	a->path[0] = '\0';
	a->missing = "not installed";
}

static void resolve_built(struct alloc *a, const char *rel)
{
	snprintf(a->path, sizeof(a->path), "%s/%s", opt.build, rel);
	if (!is_file(a->path))
		a->missing = "not built";
}

/* A path to a .so: its column is named after the file (libfoo.so.2 → foo). */
static int resolve_path(struct alloc *a, const char *name)
{
	const char *base;
	char *dot;

	if (!realpath(name, a->path) || !is_file(a->path))
		return usage("allocator '%s': no such file", name);
	base = strrchr(a->path, '/') + 1;
	if (!strncmp(base, "lib", 3) && base[3])
		base += 3;
	copy(a->name, sizeof(a->name), base);
	dot = strstr(a->name, ".so");
	if (dot && dot != a->name)
		*dot = '\0';
	return 0;
}

static int resolve_alloc(struct alloc *a, const char *name)
{
	char rel[64];

	memset(a, 0, sizeof(*a));
	copy(a->name, sizeof(a->name), name);
	if (!strcmp(name, "glibc"))
		return 0;
	if (!strcmp(name, "heaplab")) {
		resolve_built(a, "libheaplab.so");
		return 0;
	}
	if (!strncmp(name, "phase", 5) && name[5] >= '1' && name[5] <= '6' &&
	    !name[6]) {
		snprintf(rel, sizeof(rel), "phases/lib%s.so", name);
		resolve_built(a, rel);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(system_allocs); i++) {
		if (!strcmp(name, system_allocs[i].name)) {
			resolve_system(a, system_allocs[i].soname);
			return 0;
		}
	}
	if (strchr(name, '/') || strstr(name, ".so"))
		return resolve_path(a, name);
	return usage("unknown allocator '%s' (known: glibc, heaplab, "
		     "phase1..phase6, jemalloc, mimalloc, tcmalloc, or a path "
		     "to a .so)", name);
}

static int parse_allocs(const char *list)
{
	char *dup = strdup(list), *save = NULL;
	int rc = 0;

	if (!dup)
		die("out of memory");
	for (char *tok = strtok_r(dup, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		if (nalloc == MAX_ALLOCS) {
			rc = usage("more than %d allocators", MAX_ALLOCS);
			break;
		}
		rc = resolve_alloc(&allocs[nalloc], tok);
		for (int i = 0; !rc && i < nalloc; i++)
			if (!strcmp(allocs[i].name, allocs[nalloc].name))
				rc = usage("allocator '%s' given twice", tok);
		nalloc += !rc;
	}
	free(dup);
	if (!rc && !nalloc)
		rc = usage("no allocators given");
	return rc;
}

/* ---- one run --------------------------------------------------------- */

struct run {
	double secs, cpu;
	long maxrss;
	int failed;
	char reason[REASON_LEN];
	char line[512];		/* stdout line being assembled */
	size_t line_len;
	char err[1024];		/* the tail of stderr, for the reason */
	size_t err_len;
	char ignored[REASON_LEN - 20];	/* ld.so's "cannot be preloaded" line */
	struct cell *cell;
};

static void add_metric(struct cell *c, const char *name, double v,
		       const char *unit)
{
	struct metric *m = NULL;

	for (int i = 0; i < c->nm; i++)
		if (!strcmp(c->m[i].name, name))
			m = &c->m[i];
	if (!m) {
		if (c->nm == MAX_METRICS)
			return;
		m = &c->m[c->nm++];
		copy(m->name, sizeof(m->name), name);
		copy(m->unit, sizeof(m->unit), unit);
	}
	if (m->n < MAX_RUNS)
		m->v[m->n++] = v;
}

/* "heaplab-metric NAME VALUE UNIT"; every other line is the program's own. */
static void stdout_line(struct run *r)
{
	char name[40], unit[16] = "";
	double v;

	r->line[r->line_len] = '\0';
	r->line_len = 0;
	if (!r->cell || strncmp(r->line, "heaplab-metric ", 15))
		return;
	if (sscanf(r->line + 15, "%39s %lf %15s", name, &v, unit) >= 2)
		add_metric(r->cell, name, v, unit);
}

static void take_stdout(struct run *r, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n')
			stdout_line(r);
		else if (r->line_len < sizeof(r->line) - 1)
			r->line[r->line_len++] = buf[i];
	}
}

/*
 * ld.so skips a preload it cannot load with a warning and runs the program
 * anyway, on glibc's malloc: that would put glibc's numbers in another
 * allocator's column. Its line is written once, before main, so one read
 * holds it whole.
 */
static void spot_ignored_preload(struct run *r, const char *buf, size_t n)
{
	static const char needle[] = "cannot be preloaded";
	const char *hit = memmem(buf, n, needle, sizeof(needle) - 1);
	const char *start, *end;

	if (!hit || r->ignored[0])
		return;
	for (start = hit; start > buf && start[-1] != '\n'; start--)
		;
	end = memchr(hit, '\n', n - (size_t)(hit - buf));
	if (!end)
		end = buf + n;
	if ((size_t)(end - start) >= sizeof(r->ignored))
		end = start + sizeof(r->ignored) - 1;
	memcpy(r->ignored, start, (size_t)(end - start));
	r->ignored[end - start] = '\0';
}

static void take_stderr(struct run *r, const char *buf, size_t n)
{
	size_t keep = sizeof(r->err) - 1;

	spot_ignored_preload(r, buf, n);

	if (n >= keep) {
		memcpy(r->err, buf + n - keep, keep);
		r->err_len = keep;
		return;
	}
	if (r->err_len + n > keep) {
		size_t drop = r->err_len + n - keep;

		memmove(r->err, r->err + drop, r->err_len - drop);
		r->err_len -= drop;
	}
	memcpy(r->err + r->err_len, buf, n);
	r->err_len += n;
}

/* Reads what is there; returns 0 at end of file. */
static int drain(int fd, struct run *r, int is_err)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (is_err)
			take_stderr(r, buf, (size_t)n);
		else
			take_stdout(r, buf, (size_t)n);
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	return 0;
}

/* The last non-empty line of stderr: usually the crash's own words. */
static void last_err_line(struct run *r, char *out, size_t len)
{
	char *e, *s;

	r->err[r->err_len] = '\0';
	e = r->err + r->err_len;
	while (e > r->err && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'))
		*--e = '\0';
	s = strrchr(r->err, '\n');
	s = s ? s + 1 : r->err;
	copy(out, len, s);
}

static void set_reason(struct run *r, const char *what)
{
	char line[REASON_LEN - 66];	/* fits after a 63-byte WHAT and ": " */

	r->failed = 1;
	last_err_line(r, line, sizeof(line));
	if (line[0])
		snprintf(r->reason, sizeof(r->reason), "%s: %s", what, line);
	else
		snprintf(r->reason, sizeof(r->reason), "%s", what);
}

static void judge(struct run *r, int status, int timed_out)
{
	char what[64];

	if (r->ignored[0]) {
		r->failed = 1;
		snprintf(r->reason, sizeof(r->reason), "preload ignored: %s",
			 r->ignored);
		return;
	}
	if (timed_out) {
		snprintf(what, sizeof(what), "timeout after %.0f s", opt.timeout);
	} else if (WIFSIGNALED(status)) {
		const char *sig = sigabbrev_np(WTERMSIG(status));

		if (sig)
			snprintf(what, sizeof(what), "SIG%s", sig);
		else
			snprintf(what, sizeof(what), "signal %d", WTERMSIG(status));
	} else if (WIFEXITED(status) && WEXITSTATUS(status)) {
		snprintf(what, sizeof(what), "exit %d", WEXITSTATUS(status));
	} else {
		return;
	}
	set_reason(r, what);
}

static void child(const struct alloc *a, const char *path, int out, int err)
{
	char *argv[] = { (char *)path, opt.scale_arg, NULL };
	int null = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (null >= 0)
		dup2(null, 0);
	dup2(out, 1);
	dup2(err, 2);
	/* Exactly one allocator: whatever the caller preloaded would skew it. */
	if (a->path[0])
		setenv("LD_PRELOAD", a->path, 1);
	else
		unsetenv("LD_PRELOAD");
	setenv("HEAPLAB_BENCH_DIR", opt.outdir, 1);
	execv(path, argv);
	fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Waits for the child's exit (its pidfd turns readable: the exact moment
 * for the wall time) while reading its output, or for the timeout.
 */
static int watch(struct run *r, pid_t pid, int out, int err, double t0,
		 double *t1)
{
	int pfd = pidfd_of(pid), out_open = 1, err_open = 1;

	if (pfd < 0)
		die("pidfd_open: %s", strerror(errno));
	for (;;) {
		struct pollfd p[3] = {
			{ pfd, POLLIN, 0 },
			{ out_open ? out : -1, POLLIN, 0 },
			{ err_open ? err : -1, POLLIN, 0 },
		};
		double left = t0 + opt.timeout - now();

		if (left <= 0) {
			close(pfd);
			return 1;
		}
		if (poll(p, 3, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p[0].revents) {
			*t1 = now();
			close(pfd);
			return 0;
		}
		if (p[1].revents)
			out_open = drain(out, r, 0);
		if (p[2].revents)
			err_open = drain(err, r, 1);
	}
}

static void run_once(const struct alloc *a, const char *path, struct run *r)
{
	int out[2], err[2], status = 0, timed_out;
	struct rusage ru;
	double t0, t1 = 0;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	t0 = now();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		child(a, path, out[1], err[1]);
	setpgid(pid, pid);
	running_pgid = pid;
	close(out[1]);
	close(err[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	timed_out = watch(r, pid, out[0], err[0], t0, &t1);
	if (timed_out)
		kill(-pid, SIGKILL);
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	/* Helpers it left behind belong to this run, not to the next one. */
	kill(-pid, SIGKILL);
	running_pgid = 0;
	drain(out[0], r, 0);
	drain(err[0], r, 1);
	if (r->line_len)
		stdout_line(r);
	close(out[0]);
	close(err[0]);
	r->secs = t1 - t0;
	r->maxrss = ru.ru_maxrss;
	r->cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		 ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	judge(r, status, timed_out);
}

/* ---- the rounds ------------------------------------------------------ */

static void record(struct cell *c, const struct run *r)
{
	if (r->failed) {
		c->failed = 1;
		copy(c->reason, sizeof(c->reason), r->reason);
		return;
	}
	c->t[c->n] = r->secs;
	c->cpu[c->n] = r->cpu;
	c->rss[c->n] = r->maxrss;
	c->n++;
}

/*
 * A cell's metrics come only from its successful runs: a failed run's
 * partial output is dropped with the run.
 */
static void bench_one(struct workload *w, int ai)
{
	struct cell *c = &w->cell[ai];
	struct cell keep = *c;
	struct run *r = calloc(1, sizeof(*r));

	if (!r)
		die("out of memory");
	r->cell = c;
	run_once(&allocs[ai], w->path, r);
	if (r->failed) {
		*c = keep;
		record(c, r);
	} else {
		record(c, r);
	}
	free(r);
}

static void progress(int round, const struct workload *w, const int *order)
{
	fprintf(stderr, "bench: round %d/%d %-13s", round + 1, opt.runs,
		w->name);
	for (int k = 0; k < nalloc; k++) {
		const struct cell *c = &w->cell[order[k]];

		if (allocs[order[k]].missing)
			continue;
		if (c->failed)
			fprintf(stderr, " %s FAILED", allocs[order[k]].name);
		else if (c->n)
			fprintf(stderr, " %s %.3fs", allocs[order[k]].name,
				c->t[c->n - 1]);
	}
	fputc('\n', stderr);
}

/* One untimed run under the baseline: caches warm, fixtures built. */
static void warm_up(void)
{
	for (int i = 0; i < nwl; i++) {
		struct run *r = calloc(1, sizeof(*r));

		if (!r)
			die("out of memory");
		if (allocs[0].missing)
			break;
		run_once(&allocs[0], wls[i].path, r);
		if (r->failed)
			fprintf(stderr, "bench: warm-up of %s under %s failed: %s\n",
				wls[i].name, allocs[0].name, r->reason);
		free(r);
	}
}

static void bench_all(void)
{
	int order[MAX_ALLOCS];

	if (opt.warmup) {
		fprintf(stderr, "bench: warm-up (one untimed run of each workload)\n");
		warm_up();
	}
	for (int round = 0; round < opt.runs; round++) {
		for (int k = 0; k < nalloc; k++)
			order[k] = (k + round) % nalloc;
		for (int i = 0; i < nwl; i++) {
			for (int k = 0; k < nalloc; k++) {
				int ai = order[k];

				if (allocs[ai].missing || wls[i].cell[ai].failed)
					continue;
				bench_one(&wls[i], ai);
			}
			progress(round, &wls[i], order);
		}
	}
}

/* ---- summaries --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[MAX_RUNS];

	if (n <= 0)
		return NAN;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void summarize(void)
{
	for (int i = 0; i < nwl; i++) {
		for (int a = 0; a < nalloc; a++) {
			struct cell *c = &wls[i].cell[a];
			double rss[MAX_RUNS];

			for (int k = 0; k < c->n; k++)
				rss[k] = (double)c->rss[k];
			c->t_med = median(c->t, c->n);
			c->rss_med = median(rss, c->n);
		}
	}
}

static int cell_ok(const struct cell *c, int a)
{
	return !allocs[a].missing && !c->failed && c->n > 0;
}

/* The ratio of allocator A to the baseline (column 0), NAN when there is none. */
static double ratio(const struct workload *w, int a, int rss)
{
	const struct cell *b = &w->cell[0], *c = &w->cell[a];

	if (!cell_ok(b, 0) || !cell_ok(c, a))
		return NAN;
	if (rss)
		return b->rss_med > 0 ? c->rss_med / b->rss_med : NAN;
	return b->t_med > 0 ? c->t_med / b->t_med : NAN;
}

static double geomean(int a, int rss, int *count)
{
	double sum = 0;

	*count = 0;
	for (int i = 0; i < nwl; i++) {
		double r = ratio(&wls[i], a, rss);

		if (isnan(r) || r <= 0)
			continue;
		sum += log(r);
		(*count)++;
	}
	return *count ? exp(sum / *count) : NAN;
}

/* Geometric mean of A's time over B's, on the workloads both ran. */
static double geomean_vs(int a, int b, int *count)
{
	double sum = 0;

	*count = 0;
	for (int i = 0; i < nwl; i++) {
		const struct cell *x = &wls[i].cell[a], *y = &wls[i].cell[b];

		if (!cell_ok(x, a) || !cell_ok(y, b) || x->t_med <= 0 ||
		    y->t_med <= 0)
			continue;
		sum += log(x->t_med / y->t_med);
		(*count)++;
	}
	return *count ? exp(sum / *count) : NAN;
}

static int alloc_index(const char *name)
{
	for (int a = 0; a < nalloc; a++)
		if (!strcmp(allocs[a].name, name))
			return a;
	return -1;
}

static const struct metric *find_metric(const struct cell *c, const char *name)
{
	for (int i = 0; i < c->nm; i++)
		if (!strcmp(c->m[i].name, name))
			return &c->m[i];
	return NULL;
}

static int any_failed(void)
{
	for (int i = 0; i < nwl; i++)
		for (int a = 0; a < nalloc; a++)
			if (wls[i].cell[a].failed)
				return 1;
	return 0;
}

/* ---- tables ------------------------------------------------------------ */

/*
 * One renderer for both formats. In text, columns are padded and the ratio
 * sign is "x" (ASCII keeps the padding right); in Markdown, cells go
 * between pipes.
 */
struct table {
	FILE *out;
	int md;
	int name_w;
	char line[1024];	/* the row being built */
	size_t len;
};

#define COL_W 18

static void t_cell(struct table *t, const char *s, int first)
{
	size_t room = sizeof(t->line) - t->len;
	int n;

	if (t->md)
		n = snprintf(t->line + t->len, room, "| %s ", s);
	else
		n = snprintf(t->line + t->len, room, "%-*s",
			     first ? t->name_w : COL_W, s);
	t->len += n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
}

/* Text rows end without the padding of their last cell. */
static void t_end(struct table *t)
{
	while (!t->md && t->len && t->line[t->len - 1] == ' ')
		t->len--;
	t->line[t->len] = '\0';
	fprintf(t->out, "%s%s\n", t->line, t->md ? "|" : "");
	t->len = 0;
}

static void t_header(struct table *t, const char *first)
{
	t_cell(t, first, 1);
	for (int a = 0; a < nalloc; a++)
		t_cell(t, allocs[a].name, 0);
	t_end(t);
	if (!t->md)
		return;
	fputs("|---", t->out);
	for (int a = 0; a < nalloc; a++)
		fputs("|---:", t->out);
	fputs("|\n", t->out);
}

static const char *x_sign(const struct table *t)
{
	return t->md ? "×" : "x";
}

/* A cell that has no number: why, in a word (the reason is in the notes). */
static int cell_blank(const struct table *t, const struct workload *w, int a,
		      char *buf, size_t len)
{
	const struct cell *c = &w->cell[a];
	char what[32];

	if (allocs[a].missing) {
		copy(buf, len, allocs[a].missing);
		return 1;
	}
	if (!c->failed)
		return 0;
	/* "FAILED (SIGSEGV)": the first word of the reason. */
	copy(what, sizeof(what), c->reason);
	what[strcspn(what, ":")] = '\0';
	if (!strncmp(what, "timeout", 7))
		copy(what, sizeof(what), "timeout");
	snprintf(buf, len, t->md ? "**FAILED** (%s)" : "FAILED (%s)", what);
	return 1;
}

static void fmt_ratio(const struct table *t, char *buf, size_t len, double r)
{
	if (isnan(r))
		buf[0] = '\0';
	else
		snprintf(buf, len, t->md ? " (%.2f%s)" : " %.2f%s", r, x_sign(t));
}

static void time_row(struct table *t, const struct workload *w)
{
	char buf[96], rb[32];

	t_cell(t, w->name, 1);
	for (int a = 0; a < nalloc; a++) {
		if (!cell_blank(t, w, a, buf, sizeof(buf))) {
			fmt_ratio(t, rb, sizeof(rb), a ? ratio(w, a, 0) : NAN);
			snprintf(buf, sizeof(buf), "%.3f s%s", w->cell[a].t_med, rb);
		}
		t_cell(t, buf, 0);
	}
	t_end(t);
}

static void rss_row(struct table *t, const struct workload *w)
{
	char buf[96], rb[32];

	t_cell(t, w->name, 1);
	for (int a = 0; a < nalloc; a++) {
		if (!cell_blank(t, w, a, buf, sizeof(buf))) {
			fmt_ratio(t, rb, sizeof(rb), a ? ratio(w, a, 1) : NAN);
			snprintf(buf, sizeof(buf), "%.1f MiB%s",
				 w->cell[a].rss_med / 1024, rb);
		}
		t_cell(t, buf, 0);
	}
	t_end(t);
}

static void geomean_row(struct table *t, int rss)
{
	char buf[64];
	int n;

	t_cell(t, t->md ? "**geomean**" : "geomean", 1);
	for (int a = 0; a < nalloc; a++) {
		double g = a ? geomean(a, rss, &n) : NAN;

		if (!a)
			copy(buf, sizeof(buf), "1.00");
		else if (isnan(g))
			copy(buf, sizeof(buf), "-");
		else if (n < nwl)
			snprintf(buf, sizeof(buf), "%.2f%s (%d of %d)", g,
				 x_sign(t), n, nwl);
		else
			snprintf(buf, sizeof(buf), "%.2f%s", g, x_sign(t));
		t_cell(t, buf, 0);
	}
	t_end(t);
}

static void metric_row(struct table *t, const struct workload *w,
		       const struct metric *first)
{
	char buf[96], label[128];
	const struct metric *base = find_metric(&w->cell[0], first->name);
	double bv = base && cell_ok(&w->cell[0], 0) ? median(base->v, base->n) : NAN;

	snprintf(label, sizeof(label), "%s %s (%s)", w->name, first->name,
		 first->unit);
	t_cell(t, label, 1);
	for (int a = 0; a < nalloc; a++) {
		const struct metric *m = find_metric(&w->cell[a], first->name);

		if (!cell_blank(t, w, a, buf, sizeof(buf))) {
			double v = m ? median(m->v, m->n) : NAN;
			char rb[32] = "";

			if (a && !isnan(v) && !isnan(bv) && bv != 0)
				fmt_ratio(t, rb, sizeof(rb), v / bv);
			if (isnan(v))
				copy(buf, sizeof(buf), "-");
			else
				snprintf(buf, sizeof(buf),
					 fabs(v) >= 1000 ? "%.0f%s" : "%.1f%s", v, rb);
		}
		t_cell(t, buf, 0);
	}
	t_end(t);
}

/* The first cell of a workload that reported metrics names them. */
static const struct cell *metric_source(const struct workload *w)
{
	for (int a = 0; a < nalloc; a++)
		if (w->cell[a].nm)
			return &w->cell[a];
	return NULL;
}

static void failure_notes(FILE *out, int md)
{
	int any = 0;

	for (int i = 0; i < nwl; i++) {
		for (int a = 0; a < nalloc; a++) {
			const struct cell *c = &wls[i].cell[a];

			if (!c->failed)
				continue;
			if (!any)
				fputs("\nFailures:\n", out);
			any = 1;
			fprintf(out, "%s%s under %s FAILED: %s\n", md ? "- " : "  ",
				wls[i].name, allocs[a].name, c->reason);
		}
	}
}

/* The first column fits the longest label of its table. */
static int name_width(int metrics)
{
	int w = 10;

	for (int i = 0; i < nwl; i++) {
		const struct cell *src = metric_source(&wls[i]);
		int n = (int)strlen(wls[i].name) + 2;

		for (int k = 0; metrics && src && k < src->nm; k++) {
			int m = (int)(strlen(wls[i].name) + strlen(src->m[k].name) +
				      strlen(src->m[k].unit) + 6);

			n = m > n ? m : n;
		}
		w = n > w ? n : w;
	}
	return w;
}

/*
 * 1 when allocator a was below the baseline in every round (faster, or
 * with the smaller peak RSS: rss picks which), -1 when above it in every
 * round, 0 when neither, NO_ROUNDS when there is nothing to tell it from.
 * The runs are interleaved, so run r of each allocator comes from the
 * same round, seconds apart: a median ratio of 0.97 can be the machine's
 * noise, while five rounds of five the same way (a sign test: p = 1/32
 * each way) seldom are. Fewer than 3 rounds tell nothing.
 */
#define NO_ROUNDS	2

static double round_value(const struct cell *c, int r, int rss)
{
	return rss ? (double)c->rss[r] : c->t[r];
}

static int every_round(const struct workload *w, int a, int rss)
{
	const struct cell *b = &w->cell[0], *c = &w->cell[a];
	int n, below = 0, above = 0;

	if (!cell_ok(b, 0) || !cell_ok(c, a))
		return NO_ROUNDS;
	n = b->n < c->n ? b->n : c->n;
	if (n < 3)
		return NO_ROUNDS;
	for (int r = 0; r < n; r++) {
		below += round_value(c, r, rss) < round_value(b, r, rss);
		above += round_value(c, r, rss) > round_value(b, r, rss);
	}
	return below == n ? 1 : above == n ? -1 : 0;
}

/*
 * One line per allocator against the baseline, in the terms the
 * performance targets use: on how many workloads it is faster, on how
 * many its peak RSS is no higher, and its time geomean against the
 * baseline and against mimalloc; then on how many it was faster, and
 * slower, in every round, and on how many its peak RSS was smaller, and
 * larger, in every round (the differences the noise does not explain:
 * a row of a few MiB moves by ~0.1 MiB between runs of one allocator).
 */
static void summary_line(FILE *out, int md, int a, int mi)
{
	int n = 0, faster = 0, leaner = 0, told = 0, k;
	int always[2] = { 0, 0 }, never[2] = { 0, 0 };
	double g, gm;

	for (int i = 0; i < nwl; i++) {
		double rt = ratio(&wls[i], a, 0), rr = ratio(&wls[i], a, 1);

		if (isnan(rt))
			continue;
		n++;
		faster += rt < 1;
		leaner += rr <= 1;
		for (int rss = 0; rss < 2; rss++) {
			int e = every_round(&wls[i], a, rss);

			told += e != NO_ROUNDS;
			always[rss] += e == 1;
			never[rss] += e == -1;
		}
	}
	g = geomean(a, 0, &k);
	fprintf(out, "%s%s: faster than %s on %d of %d workloads, peak RSS at "
		"most %s's on %d of %d", md ? "- " : "  ", allocs[a].name,
		allocs[0].name, faster, nwl, allocs[0].name, leaner, nwl);
	if (n < nwl)
		fprintf(out, " (%d not measured)", nwl - n);
	if (!isnan(g))
		fprintf(out, "; time geomean %.2f%s %s", g, md ? "×" : "x",
			allocs[0].name);
	if (mi > 0 && mi != a && !isnan(gm = geomean_vs(a, mi, &k)))
		fprintf(out, ", %.2f%s mimalloc", gm, md ? "×" : "x");
	if (told)
		fprintf(out, "; in every round faster on %d, slower on %d, "
			"peak RSS smaller on %d, larger on %d",
			always[0], never[0], always[1], never[1]);
	fputc('\n', out);
}

static void summary(FILE *out, int md)
{
	int mi = alloc_index("mimalloc");

	if (nalloc < 2)
		return;
	fprintf(out, "\n%sSummary\n\n", md ? "#### " : "");
	for (int a = 1; a < nalloc; a++) {
		if (allocs[a].missing)
			fprintf(out, "%s%s: %s\n", md ? "- " : "  ",
				allocs[a].name, allocs[a].missing);
		else
			summary_line(out, md, a, mi);
	}
}

static void print_tables(FILE *out, int md)
{
	struct table t = { .out = out, .md = md, .name_w = name_width(0) };
	int has_metrics = 0;

	for (int i = 0; i < nwl; i++)
		has_metrics |= metric_source(&wls[i]) != NULL;

	fprintf(out, "%sWall time, median of %d run%s (ratio to %s; below 1 is faster)\n\n",
		md ? "#### " : "", opt.runs, opt.runs == 1 ? "" : "s",
		allocs[0].name);
	t_header(&t, "workload");
	for (int i = 0; i < nwl; i++)
		time_row(&t, &wls[i]);
	geomean_row(&t, 0);

	fprintf(out, "\n%sPeak RSS, median (ratio to %s; below 1 is smaller)\n\n",
		md ? "#### " : "", allocs[0].name);
	t_header(&t, "workload");
	for (int i = 0; i < nwl; i++)
		rss_row(&t, &wls[i]);
	geomean_row(&t, 1);

	if (has_metrics) {
		fprintf(out, "\n%sReported by the workloads, median (ratio to %s)\n\n",
			md ? "#### " : "", allocs[0].name);
		t.name_w = name_width(1);
		t_header(&t, "workload metric");
		for (int i = 0; i < nwl; i++) {
			const struct cell *src = metric_source(&wls[i]);

			for (int k = 0; src && k < src->nm; k++)
				metric_row(&t, &wls[i], &src->m[k]);
		}
	}
	summary(out, md);
	failure_notes(out, md);
}

/* ---- JSON ------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.9g", v);
}

static void json_metrics(FILE *f, const struct cell *c)
{
	fputs(", \"metrics\": {", f);
	for (int k = 0; k < c->nm; k++) {
		const struct metric *m = &c->m[k];

		fprintf(f, "%s", k ? ", " : "");
		json_str(f, m->name);
		fputs(": {\"unit\": ", f);
		json_str(f, m->unit);
		fputs(", \"median\": ", f);
		json_num(f, median(m->v, m->n));
		fputs(", \"runs\": [", f);
		for (int r = 0; r < m->n; r++) {
			fprintf(f, "%s", r ? ", " : "");
			json_num(f, m->v[r]);
		}
		fputs("]}", f);
	}
	fputc('}', f);
}

static void json_cell(FILE *f, const struct workload *w, int a)
{
	const struct cell *c = &w->cell[a];

	json_str(f, allocs[a].name);
	fputs(": {\"status\": ", f);
	if (allocs[a].missing) {
		json_str(f, allocs[a].missing);
		fputc('}', f);
		return;
	}
	if (c->failed) {
		fputs("\"FAILED\", \"reason\": ", f);
		json_str(f, c->reason);
		fputc('}', f);
		return;
	}
	fputs("\"ok\", \"time_s\": ", f);
	json_num(f, c->t_med);
	fputs(", \"cpu_s\": ", f);
	json_num(f, median(c->cpu, c->n));
	fputs(", \"maxrss_kib\": ", f);
	json_num(f, c->rss_med);
	fputs(", \"time_ratio\": ", f);
	json_num(f, ratio(w, a, 0));
	fputs(", \"rss_ratio\": ", f);
	json_num(f, ratio(w, a, 1));
	fputs(", \"runs_time_s\": [", f);
	for (int r = 0; r < c->n; r++) {
		fprintf(f, "%s", r ? ", " : "");
		json_num(f, c->t[r]);
	}
	fputs("], \"runs_cpu_s\": [", f);
	for (int r = 0; r < c->n; r++) {
		fprintf(f, "%s", r ? ", " : "");
		json_num(f, c->cpu[r]);
	}
	fputs("], \"runs_maxrss_kib\": [", f);
	for (int r = 0; r < c->n; r++)
		fprintf(f, "%s%ld", r ? ", " : "", c->rss[r]);
	fputc(']', f);
	json_metrics(f, c);
	fputc('}', f);
}

static void json_header(FILE *f)
{
	fputs("{\n  \"heaplab_bench\": 1,\n  \"date\": ", f);
	json_str(f, host_date);
	fputs(",\n  \"host\": {\"kernel\": ", f);
	json_str(f, host_kernel);
	fprintf(f, ", \"cpus\": %ld, \"loadavg_start\": ", host_cpus);
	json_num(f, host_load[0]);
	fputs(", \"loadavg_end\": ", f);
	json_num(f, host_load[1]);
	fputs("},\n", f);
	fprintf(f, "  \"runs\": %d,\n  \"scale\": ", opt.runs);
	json_num(f, opt.scale);
	fputs(",\n  \"timeout_s\": ", f);
	json_num(f, opt.timeout);
	fputs(",\n  \"baseline\": ", f);
	json_str(f, allocs[0].name);
	fputs(",\n  \"allocators\": [", f);
	for (int a = 0; a < nalloc; a++) {
		fputs(a ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_str(f, allocs[a].name);
		fputs(", \"path\": ", f);
		json_str(f, allocs[a].path);
		fputs(", \"status\": ", f);
		json_str(f, allocs[a].missing ? allocs[a].missing : "ok");
		fputc('}', f);
	}
	fputs("\n  ],\n", f);
}

static void json_geomean(FILE *f)
{
	int n;

	fputs("  \"geomean\": {", f);
	for (int a = 1; a < nalloc; a++) {
		double gt = geomean(a, 0, &n), gr;

		fputs(a > 1 ? ",\n    " : "\n    ", f);
		json_str(f, allocs[a].name);
		fputs(": {\"time_ratio\": ", f);
		json_num(f, gt);
		gr = geomean(a, 1, &n);
		fputs(", \"rss_ratio\": ", f);
		json_num(f, gr);
		fprintf(f, ", \"workloads\": %d}", n);
	}
	fputs(nalloc > 1 ? "\n  }\n}\n" : "}\n}\n", f);
}

static void write_json(FILE *f)
{
	json_header(f);
	fputs("  \"workloads\": [", f);
	for (int i = 0; i < nwl; i++) {
		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_str(f, wls[i].name);
		fputs(", \"command\": [", f);
		json_str(f, wls[i].path);
		fputs(", ", f);
		json_str(f, opt.scale_arg);
		fputs("],\n     \"results\": {", f);
		for (int a = 0; a < nalloc; a++) {
			fputs(a ? ",\n       " : "\n       ", f);
			json_cell(f, &wls[i], a);
		}
		fputs("}}", f);
	}
	fputs("\n  ],\n", f);
	json_geomean(f);
}

/* Written whole to a temporary name, then renamed: never half a file. */
static void write_file(const char *name, void (*fn)(FILE *))
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", opt.outdir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	fn(f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(stderr, "bench: wrote %s\n", path);
}

static void write_md(FILE *f)
{
	fprintf(f, "Measured with allocator/bench/runner (what `make bench` "
		"runs): %d run%s each, interleaved, scale %s, on Linux %s "
		"with %ld CPUs, %s. `make bench` writes these tables to "
		"build/bench/results.md; `build/bench/runner --from "
		"build/bench/results.json --markdown` prints them again.\n\n",
		opt.runs, opt.runs == 1 ? "" : "s", opt.scale_arg, host_kernel,
		host_cpus, host_date);
	if (!isnan(host_load[0]) && !isnan(host_load[1]))
		fprintf(f, "Load average (1 min) %.1f at the start, %.1f at the "
			"end.\n\n", host_load[0], host_load[1]);
	print_tables(f, 1);
}

/* ---- --from: the tables again from a results.json ------------------------ */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 1 << 16, n;
	char *buf = malloc(cap);

	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf)
		die("out of memory");
	if (ferror(f))
		die("cannot read %s: %s", path, strerror(errno));
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static int load_array(const struct jval *arr, double *v)
{
	int n = 0;

	for (int i = 0; arr && arr->type == J_ARR && i < arr->n && n < MAX_RUNS; i++)
		if (arr->kids[i].type == J_NUM)
			v[n++] = arr->kids[i].num;
	return n;
}

static void load_metrics(struct cell *c, const struct jval *ms)
{
	for (int k = 0; ms && ms->type == J_OBJ && k < ms->n; k++) {
		const struct jval *m = &ms->kids[k];
		double v[MAX_RUNS];
		int n = load_array(jget(m, "runs"), v);

		for (int r = 0; r < n; r++)
			add_metric(c, ms->keys[k], v[r], jstr(jget(m, "unit"), ""));
	}
}

static void load_cell(struct cell *c, const struct jval *res)
{
	const char *status = jstr(jget(res, "status"), "");
	double rss[MAX_RUNS];
	int n;

	if (!strcmp(status, "FAILED")) {
		c->failed = 1;
		copy(c->reason, sizeof(c->reason), jstr(jget(res, "reason"), "?"));
		return;
	}
	if (strcmp(status, "ok"))
		return;
	c->n = load_array(jget(res, "runs_time_s"), c->t);
	load_array(jget(res, "runs_cpu_s"), c->cpu);
	n = load_array(jget(res, "runs_maxrss_kib"), rss);
	c->n = n < c->n ? n : c->n;
	for (int r = 0; r < c->n; r++)
		c->rss[r] = (long)rss[r];
	load_metrics(c, jget(res, "metrics"));
}

static void load_allocs(const struct jval *arr, const char *file)
{
	if (!arr || arr->type != J_ARR || !arr->n)
		die("%s: no \"allocators\" list", file);
	for (int i = 0; i < arr->n && nalloc < MAX_ALLOCS; i++) {
		struct alloc *a = &allocs[nalloc++];
		const char *st = jstr(jget(&arr->kids[i], "status"), "ok");

		copy(a->name, sizeof(a->name), jstr(jget(&arr->kids[i], "name"), "?"));
		copy(a->path, sizeof(a->path), jstr(jget(&arr->kids[i], "path"), ""));
		a->missing = strcmp(st, "ok") ? strdup(st) : NULL;
	}
}

static void load_workloads(const struct jval *arr, const char *file)
{
	if (!arr || arr->type != J_ARR)
		die("%s: no \"workloads\" list", file);
	wls = calloc((size_t)arr->n + 1, sizeof(*wls));
	if (!wls)
		die("out of memory");
	for (int i = 0; i < arr->n; i++) {
		const struct jval *w = &arr->kids[i];
		const struct jval *res = jget(w, "results");
		struct workload *wl = &wls[nwl++];

		copy(wl->name, sizeof(wl->name), jstr(jget(w, "name"), "?"));
		wl->path = "";
		for (int a = 0; a < nalloc; a++)
			load_cell(&wl->cell[a], jget(res, allocs[a].name));
	}
}

static void load_results(const char *file)
{
	char *text = read_file(file), err[200];
	struct jval *root = jparse(text, err, sizeof(err));
	const struct jval *host;

	if (!root)
		die("%s is not valid JSON (%s)", file, err);
	if (jnum(jget(root, "heaplab_bench"), 0) != 1)
		die("%s is not a heaplab bench results file", file);
	opt.runs = (int)jnum(jget(root, "runs"), 0);
	opt.scale = jnum(jget(root, "scale"), 1);
	snprintf(opt.scale_arg, sizeof(opt.scale_arg), "%g", opt.scale);
	host = jget(root, "host");
	copy(host_kernel, sizeof(host_kernel), jstr(jget(host, "kernel"), "?"));
	copy(host_date, sizeof(host_date), jstr(jget(root, "date"), "?"));
	host_cpus = (long)jnum(jget(host, "cpus"), 0);
	host_load[0] = jnum(jget(host, "loadavg_start"), NAN);
	host_load[1] = jnum(jget(host, "loadavg_end"), NAN);
	load_allocs(jget(root, "allocators"), file);
	load_workloads(jget(root, "workloads"), file);
	jfree(root);
	free(text);
}

/* ---- setup -------------------------------------------------------------- */

/* A workload's name: its file name, without ".sh". */
static void workload_name(char *name, size_t len, const char *path)
{
	const char *base = strrchr(path, '/');
	char *dot;

	copy(name, len, base ? base + 1 : path);
	if ((dot = strrchr(name, '.')) && !strcmp(dot, ".sh"))
		*dot = '\0';
}

static int in_list(const char *list, const char *name)
{
	char buf[1024], *save = NULL;
	int hit = 0;

	copy(buf, sizeof(buf), list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		hit |= !strcmp(t, name);
	return hit;
}

static void add_workload(const char *path)
{
	struct workload *w = &wls[nwl];

	if (access(path, X_OK) != 0 || !is_file(path))
		die("workload '%s' is not an executable file", path);
	workload_name(w->name, sizeof(w->name), path);
	w->path = path;
	if (!opt.only || in_list(opt.only, w->name))
		nwl++;
}

/* Every name in --only must be a workload: a typo is not an empty bench. */
static int check_only(int argc, char **argv)
{
	char buf[1024], name[64], *save = NULL;
	int found;

	copy(buf, sizeof(buf), opt.only);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		found = 0;
		for (int i = optind; i < argc && !found; i++) {
			workload_name(name, sizeof(name), argv[i]);
			found = !strcmp(name, t);
		}
		if (!found)
			return usage("--only: no workload named '%s'", t);
	}
	return 0;
}

/* The build tree: $HEAPLAB_BUILD, else the one this runner sits in (BUILD/bench/runner). */
static const char *find_build(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("HEAPLAB_BUILD");
	ssize_t n;
	char *s;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n < 0)
		die("cannot read /proc/self/exe: %s", strerror(errno));
	dir[n] = '\0';
	for (int up = 0; up < 2 && (s = strrchr(dir, '/')); up++)
		*s = '\0';
	return dir;
}

static void make_dir(const char *path)
{
	char buf[PATH_MAX];

	copy(buf, sizeof(buf), path);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(buf, 0777);
		*s = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		die("cannot create %s: %s", buf, strerror(errno));
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo) || !(v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int set_runs(const char *s)
{
	if (parse_int(s, 1, MAX_RUNS, &opt.runs) < 0)
		return usage("runs must be a whole number from 1 to %d, not '%s'",
			     MAX_RUNS, s);
	return 0;
}

static int set_scale(const char *s)
{
	if (parse_double(s, 1e-6, 1e6, &opt.scale) < 0)
		return usage("scale must be a number above 0, not '%s'", s);
	snprintf(opt.scale_arg, sizeof(opt.scale_arg), "%g", opt.scale);
	return 0;
}

static int set_timeout(const char *s)
{
	if (parse_double(s, 0.001, 86400, &opt.timeout) < 0)
		return usage("timeout must be a number of seconds above 0, not '%s'", s);
	return 0;
}

static void on_signal(int sig)
{
	if (running_pgid)
		kill(-running_pgid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

enum { OPT_MARKDOWN = 256, OPT_ONLY, OPT_NO_WARMUP, OPT_FROM };

static int parse_args(int argc, char **argv, const char **alloc_list)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "scale", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "only", required_argument, NULL, OPT_ONLY },
		{ "markdown", no_argument, NULL, OPT_MARKDOWN },
		{ "no-warmup", no_argument, NULL, OPT_NO_WARMUP },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, rc = 0;

	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, ":n:a:s:t:o:h", longopts,
				       NULL)) != -1) {
		switch (c) {
		case 'n': rc = set_runs(optarg); break;
		case 'a': *alloc_list = optarg; break;
		case 's': rc = set_scale(optarg); break;
		case 't': rc = set_timeout(optarg); break;
		case 'o': opt.outdir = optarg; break;
		case OPT_ONLY: opt.only = optarg; break;
		case OPT_MARKDOWN: opt.markdown = 1; break;
		case OPT_NO_WARMUP: opt.warmup = 0; break;
		case OPT_FROM: opt.from = optarg; break;
		case 'h': help(); exit(0);
		case ':': return usage("option '%s' needs an argument", argv[optind - 1]);
		default: return usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	return rc;
}

/* Environment first, so that options given on the command line win. */
static int from_env(const char **alloc_list)
{
	const char *v;
	int rc = 0;

	if ((v = getenv("HEAPLAB_BENCH_RUNS")) && *v)
		rc |= set_runs(v);
	if ((v = getenv("HEAPLAB_BENCH_SCALE")) && *v)
		rc |= set_scale(v);
	if ((v = getenv("HEAPLAB_BENCH_TIMEOUT")) && *v)
		rc |= set_timeout(v);
	if ((v = getenv("HEAPLAB_BENCH_ALLOCS")) && *v)
		*alloc_list = v;
	if ((v = getenv("HEAPLAB_BENCH_ONLY")) && *v)
		opt.only = v;
	return rc;
}

static void this_host(void)
{
	struct utsname u;

	time_t t = time(NULL);

	uname(&u);
	copy(host_kernel, sizeof(host_kernel), u.release);
	host_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (getloadavg(&host_load[0], 1) != 1)
		host_load[0] = NAN;
	strftime(host_date, sizeof(host_date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
}

static int show_results(int argc)
{
	if (optind < argc)
		return usage("--from takes no workloads: it runs nothing");
	load_results(opt.from);
	summarize();
	if (opt.markdown)
		write_md(stdout);
	else
		print_tables(stdout, 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *alloc_list = "glibc,heaplab,jemalloc,mimalloc,tcmalloc";
	char outdir[PATH_MAX];
	int rc;

	snprintf(opt.scale_arg, sizeof(opt.scale_arg), "1");
	if ((rc = from_env(&alloc_list)) || (rc = parse_args(argc, argv, &alloc_list)))
		return rc;
	if (opt.from)
		return show_results(argc);
	if (optind >= argc)
		return usage("no workloads given");
	opt.build = find_build();
	if (!opt.outdir) {
		if (snprintf(outdir, sizeof(outdir), "%s/bench", opt.build) >=
		    (int)sizeof(outdir))
			die("build directory path too long: %s", opt.build);
		opt.outdir = outdir;
	}
	if ((rc = parse_allocs(alloc_list)))
		return rc;
	wls = calloc((size_t)(argc - optind), sizeof(*wls));
	if (!wls)
		die("out of memory");
	if (opt.only && (rc = check_only(argc, argv)))
		return rc;
	for (int i = optind; i < argc; i++)
		add_workload(argv[i]);
	if (!nwl)
		return usage("no workload left after --only '%s'", opt.only);
	make_dir(opt.outdir);
	this_host();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	bench_all();
	if (getloadavg(&host_load[1], 1) != 1)
		host_load[1] = NAN;
	summarize();
	if (opt.markdown)
		write_md(stdout);
	else
		print_tables(stdout, 0);
	fflush(stdout);
	write_file("results.json", write_json);
	write_file("results.md", write_md);
	if (any_failed()) {
		fprintf(stderr, "bench: some runs FAILED (see the notes under the tables)\n");
		return 1;
	}
	return 0;
}
