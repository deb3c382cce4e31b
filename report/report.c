// SPDX-License-Identifier: MIT
/*
 * report.c — `heaplab report [-o DIR] [--quick]`: runs every experiment on
 * `heaplab experiment --list` as its own process (`heaplab experiment NAME
 * --json`), so one that fails is shown as skipped with its reason and the
 * rest still run, then writes index.html, report.md with its figures, and
 * results.json with every number the text quotes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "experiments/experiment.h"
#include "lab/json.h"
#include "report/doc.h"
#include "report/report.h"
#include "report/sections.h"

struct report_opts {
	const char *dir;
	int quick;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The last non-empty line of TEXT: the reason an experiment gave. */
static const char *last_line(char *text)
{
	char *end = text + strlen(text);

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

/*
 * Runs one experiment, returns its parsed JSON or NULL with *WHY set to
 * the reason (malloc'd).
 */
static struct json *run_one(const char *name, const char *const *extra,
			    char **why)
{
	char self[PATH_MAX], perr[160];
	char *argv[16], *out, *err;
	struct json *v = NULL;
	int argc = 0, st;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		hl_die("report", "cannot read /proc/self/exe: %s",
		       strerror(errno));
	self[n] = '\0';
	argv[argc++] = self;
	argv[argc++] = "experiment";
	argv[argc++] = (char *)name;
	argv[argc++] = "--json";
	for (; extra && *extra && argc < 15; extra++)
		argv[argc++] = (char *)*extra;
	argv[argc] = NULL;
	st = hl_capture(argv, NULL, 0, &out, &err);
	if (st != 0) {
		if (asprintf(why, "exit status %d: %s", st, last_line(err)) < 0)
			*why = NULL;
	} else if (!(v = json_parse(out, perr, sizeof(perr)))) {
		if (asprintf(why, "its JSON does not parse: %s", perr) < 0)
			*why = NULL;
	}
	free(out);
	free(err);
	return v;
}

static void machine_section(struct doc *d, struct json *results)
{
	struct json *m = json_set(results, "machine", json_obj());
	struct doc_table *t;
	struct utsname u;
	char cpus[16], when[64];
	time_t tnow = time(NULL);

	uname(&u);
	snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&tnow));
	json_set(m, "kernel", json_str(u.release));
	json_set(m, "machine", json_str(u.machine));
	json_set(m, "glibc", json_str(gnu_get_libc_version()));
	json_set(m, "cpus", json_int(sysconf(_SC_NPROCESSORS_ONLN)));
	json_set(m, "heaplab", json_str(HEAPLAB_VERSION));
	json_set(m, "date", json_str(when));
	doc_section(d, "machine", "The machine");
	doc_para(d, DOC_TEXT, "Every figure below was measured on this "
		 "machine when the report was made; nothing is quoted from "
		 "elsewhere.");
	t = doc_table(d, 2, "", "");
	doc_row(t, "kernel", u.release);
	doc_row(t, "architecture", u.machine);
	doc_row(t, "glibc", gnu_get_libc_version());
	doc_row(t, "CPUs", cpus);
	doc_row(t, "heaplab", HEAPLAB_VERSION);
	doc_row(t, "date", when);
}

static int write_file(const char *dir, const char *name,
		      int (*write)(FILE *, const void *, const char *),
		      const void *arg)
{
	char path[PATH_MAX];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		hl_warn("report", "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	rc = write(f, arg, dir);
	if (fclose(f) != 0 || rc < 0) {
		hl_warn("report", "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int put_html(FILE *f, const void *d, const char *dir)
{
	(void)dir;
	return doc_write_html(d, f);
}

static int put_md(FILE *f, const void *d, const char *dir)
{
	return doc_write_md(d, f, dir);
}

static int put_json(FILE *f, const void *v, const char *dir)
{
	(void)dir;
	json_write(f, v, 2);
	return ferror(f) ? -1 : 0;
}

/*
 * On a terminal, a step's line counts its seconds while it runs, with a
 * bar that grows a dot every half second (and starts over when full), so
 * a long step shows it is alive; elsewhere (logs, CI) only the final line
 * of each step is printed.
 */
struct ticker {
	char label[96];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	int active, done;
	double start;
};

static void *tick_loop(void *arg)
{
	struct ticker *tk = arg;
	struct timespec until;

	pthread_mutex_lock(&tk->lock);
	while (!tk->done) {
		double el = now() - tk->start;
		int dots = (int)(el * 2) % 21;

		fprintf(stderr, "\r%s %6.1f s  [%-20.*s]", tk->label, el, dots,
			"....................");
		fflush(stderr);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&tk->done_cv, &tk->lock, &until);
	}
	fprintf(stderr, "\r%*s\r", (int)strlen(tk->label) + 34, "");
	pthread_mutex_unlock(&tk->lock);
	return NULL;
}

static void tick_start(struct ticker *tk)
{
	tk->start = now();
	tk->done = 0;
	tk->active = isatty(STDERR_FILENO) &&
		     pthread_create(&tk->thread, NULL, tick_loop, tk) == 0;
}

static void tick_stop(struct ticker *tk)
{
	if (!tk->active)
		return;
	pthread_mutex_lock(&tk->lock);
	tk->done = 1;
	pthread_cond_signal(&tk->done_cv);
	pthread_mutex_unlock(&tk->lock);
	pthread_join(tk->thread, NULL);
}

/* Runs every experiment; a failed one is kept as the string of why. */
static int run_all(const struct report_opts *o, struct json *res)
{
	struct ticker tick = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .done_cv = PTHREAD_COND_INITIALIZER };
	int total = 0, i = 0, failed = 0;
	double t0 = now();

	for (const struct hl_cmd *const *e = hl_experiments; *e; e++)
		total++;
	for (const struct hl_cmd *const *e = hl_experiments; *e; e++) {
		const char *name = (*e)->name;
		const struct section *sec = section_for(name);
		const char *const *args = sec ? (o->quick ? sec->quick_args :
						 sec->args) : NULL;
		char *why = NULL;
		double t = now();
		struct json *v;

		snprintf(tick.label, sizeof(tick.label),
			 "heaplab report: [%d/%d] %-12s", ++i, total, name);
		tick_start(&tick);
		v = run_one(name, args, &why);
		tick_stop(&tick);
		fprintf(stderr, "%s %6.1f s  %s\n", tick.label, now() - t,
			v ? "ok" : "FAILED");
		if (!v) {
			failed++;
			hl_warn("report", "experiment %s: %s", name,
				why ? why : "failed");
			v = json_str(why ? why : "failed");
			free(why);
		}
		json_set(res, name, v);
	}
	fprintf(stderr, "heaplab report: %d experiments in %.1f s, %d failed\n",
		total, now() - t0, failed);
	return failed;
}

static void render_all(struct doc *d, const struct json *res)
{
	for (const struct hl_cmd *const *e = hl_experiments; *e; e++) {
		const char *name = (*e)->name;
		const struct section *sec = section_for(name);
		const struct json *v = json_get(res, name);

		doc_section(d, name, sec ? sec->title : (*e)->summary);
		if (json_type(v) != JSON_OBJ)
			doc_para(d, DOC_SKIPPED, "This experiment could not run "
				 "here: %s", json_as_str(v, "it did not run"));
		else if (sec)
			sec->render(d, v);
		else
			render_generic(d, v);
	}
}

/* A number at PATH (keys, then array indexes as "#N") as text, or NULL. */
static const char *at(char *buf, size_t len, const struct json *v, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, v);
	while (v && (k = va_arg(ap, const char *)))
		v = k[0] == '#' ? json_at(v, atoi(k + 1)) : json_get(v, k);
	va_end(ap);
	if (json_type(v) != JSON_INT)
		return NULL;
	snprintf(buf, len, "%lld", (long long)json_as_int(v, 0));
	return buf;
}

/* The headline findings, each only when its experiment ran. */
static void summary_section(struct doc *d, const struct json *res)
{
	char a[32], b[32], c[96];
	struct doc_table *t;

	doc_section(d, "glance", "At a glance");
	doc_para(d, DOC_TEXT, "The headline numbers of the experiments below, "
		 "as measured on this machine.");
	t = doc_table(d, 2, "finding", "measured");
	if (at(a, sizeof(a), res, "threshold", "allocators", "#0", "threshold",
	       NULL))
		doc_row(t, "glibc serves with mmap from (request, B)", a);
	if (at(b, sizeof(b), res, "threshold", "allocators", "#0", "cap", NULL))
		doc_row(t, "the dynamic threshold's cap (request, B)", b);
	if (at(a, sizeof(a), res, "bins", "fast_max_request", NULL))
		doc_row(t, "largest request kept in fast bins (B)", a);
	if (at(a, sizeof(a), res, "bins", "small_max_request", NULL))
		doc_row(t, "largest request served by small bins (B)", a);
	if (at(a, sizeof(a), res, "arenas", "arena_cap", NULL))
		doc_row(t, "arenas for many threads (cap)", a);
	if (at(a, sizeof(a), res, "recon", "break_moving", "move1", NULL))
		doc_row(t, "how far malloc(1000) moved the break (B)", a);
	if (at(a, sizeof(a), res, "recon", "census", "heaplab", "mmap", NULL) &&
	    at(b, sizeof(b), res, "recon", "census", "by_maker",
	       "loader_file", "mmap", NULL)) {
		snprintf(c, sizeof(c), "%s, %s of them the loader's", a, b);
		doc_row(t, "mmap calls of ls", c);
	}
	if (!doc_table_rows(t))
		doc_row(t, "(no experiment ran)", "-");
}

static void report_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab report [-o DIR] [--quick]\n"
		"\n"
		"Runs every experiment of 'heaplab experiment --list' on this\n"
		"machine and writes the lab report into DIR:\n"
		"  index.html     one self-contained page, figures inline\n"
		"  report.md      the same in Markdown, figures as SVG beside it\n"
		"  results.json   every measured number the text quotes\n"
		"An experiment that cannot run is shown as skipped with its\n"
		"reason; the exit status is 1 when any failed.\n"
		"\n"
		"  -o, --output DIR   where to write (default heaplab-report)\n"
		"      --quick        smaller runs, for tests\n");
}

static int report_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct report_opts o = { .dir = "heaplab-report" };
	struct json *results, *res;
	struct doc *d;
	int c, failed;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.dir = optarg; break;
		case 'q': o.quick = 1; break;
		case 'h': report_help(stdout); return 0;
		default: return hl_getopt_error("report", c, argv);
		}
	}
	if (optind < argc)
		return hl_usage("report", "unexpected argument '%s'",
				argv[optind]);
	if (mkdir(o.dir, 0777) < 0 && errno != EEXIST)
		hl_die("report", "cannot create %s: %s", o.dir, strerror(errno));
	results = json_obj();
	d = doc_new("heaplab: how this machine's allocators talk to the kernel");
	machine_section(d, results);
	res = json_set(results, "experiments", json_obj());
	failed = run_all(&o, res);
	summary_section(d, res);
	render_all(d, res);
	failed += report_traced_runs(d, results, o.dir, o.quick);
	if (write_file(o.dir, "index.html", put_html, d) < 0 ||
	    write_file(o.dir, "report.md", put_md, d) < 0 ||
	    write_file(o.dir, "results.json", put_json, results) < 0)
		failed++;
	else
		fprintf(stderr, "heaplab report: wrote %s/index.html, "
			"report.md and results.json\n", o.dir);
	doc_free(d);
	json_free(results);
	return failed ? HL_EXIT_FAIL : 0;
}

const struct hl_cmd hl_cmd_report = {
	.name = "report",
	.summary = "run every experiment and write the lab report",
	.main = report_main,
	.help = report_help,
};
