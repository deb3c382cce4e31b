// SPDX-License-Identifier: MIT
/*
 * traced.c — the report's traced runs: one real program under glibc and
 * under heaplab, each recorded as a Perfetto trace beside the report, and
 * the program break and mapped bytes over time drawn from the counter
 * tracks of those very files.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "report/report.h"
#include "report/svg.h"

#define MAX_POINTS 400

/* The workload: Python building and dropping objects of many sizes. */
static const char workload[] =
	"d = {}\n"
	"for i in range(%d):\n"
	"    d[i] = bytes(i %% 3000) * (1 + (i %% 97 == 0) * 60)\n"
	"    if i %% 3 == 0: d.pop(i // 2, None)\n"
	"print(len(d))\n";

struct counter {
	size_t n;
	double t[MAX_POINTS], v[MAX_POINTS];
	double peak, last;
};

struct run {
	const char *alloc;
	char file[64];
	long syscalls, calls;
	int complete;
	long long dropped;
	struct counter brk, mapped;
};

/* Keeps every Nth sample so a counter fits MAX_POINTS, peak kept exact. */
static void add_point(struct counter *c, size_t idx, size_t total, double t,
		      double v)
{
	size_t stride = total / MAX_POINTS + 1;

	if (v > c->peak)
		c->peak = v;
	c->last = v;
	if ((idx % stride == 0 || idx + 1 == total) && c->n < MAX_POINTS) {
		c->t[c->n] = t;
		c->v[c->n++] = v;
	}
}

static void read_counters(struct run *r, const struct json *events)
{
	size_t nbrk = 0, nmap = 0, ibrk = 0, imap = 0;
	double t0 = -1;

	for (size_t i = 0; i < json_len(events); i++) {
		const struct json *e = json_at(events, i);
		const char *ph = json_as_str(json_get(e, "ph"), "");
		const char *name = json_as_str(json_get(e, "name"), "");

		if (t0 < 0 && json_get(e, "ts"))
			t0 = json_as_num(json_get(e, "ts"), 0);
		if (!strcmp(ph, "X") && !strcmp(json_as_str(json_get(e, "cat"),
							     ""), "syscall"))
			r->syscalls++;
		else if (!strcmp(ph, "X"))
			r->calls++;
		else if (!strcmp(ph, "C") && !strncmp(name, "program break", 13))
			nbrk++;
		else if (!strcmp(ph, "C") && !strncmp(name, "mapped bytes", 12))
			nmap++;
	}
	for (size_t i = 0; i < json_len(events); i++) {
		const struct json *e = json_at(events, i);
		const char *name = json_as_str(json_get(e, "name"), "");
		double t = (json_as_num(json_get(e, "ts"), 0) - t0) / 1e6;
		double v = json_as_num(json_get(json_get(e, "args"), "bytes"), 0);

		if (strcmp(json_as_str(json_get(e, "ph"), ""), "C"))
			continue;
		if (!strncmp(name, "program break", 13))
			add_point(&r->brk, ibrk++, nbrk, t, v);
		else if (!strncmp(name, "mapped bytes", 12))
			add_point(&r->mapped, imap++, nmap, t, v);
	}
}

/* Traces the workload under ALLOC into DIR/FILE; 0 or -1 with *WHY. */
static int trace_one(const char *dir, const char *code, struct run *r,
		     char **why)
{
	char self[PATH_MAX], path[PATH_MAX], perr[160], *out, *err, *text;
	char *argv[] = { self, "trace", "-a", (char *)r->alloc, "-f",
			 "perfetto", "-o", path, "--", "/usr/bin/python3",
			 "-c", (char *)code, NULL };
	struct json *doc;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int st;

	if (n < 0)
		hl_die("report", "cannot read /proc/self/exe: %s",
		       strerror(errno));
	self[n] = '\0';
	snprintf(r->file, sizeof(r->file), "%s.perfetto.json", r->alloc);
	snprintf(path, sizeof(path), "%s/%s", dir, r->file);
	st = hl_capture(argv, NULL, 0, &out, &err);
	free(out);
	if (st != 0) {
		if (asprintf(why, "heaplab trace exited with %d: %.200s", st,
			     err) < 0)
			*why = NULL;
		free(err);
		return -1;
	}
	free(err);
	text = hl_read_file(path);
	if (!text) {
		if (asprintf(why, "cannot read %s: %s", r->file,
			     strerror(errno)) < 0)
			*why = NULL;
		return -1;
	}
	doc = json_parse(text, perr, sizeof(perr));
	free(text);
	if (!doc) {
		if (asprintf(why, "%s does not parse: %s", r->file, perr) < 0)
			*why = NULL;
		return -1;
	}
	r->complete = json_as_bool(json_get(json_get(doc, "otherData"),
					    "complete"), 0);
	r->dropped = json_as_int(json_get(json_get(doc, "otherData"),
					  "dropped"), 0);
	read_counters(r, json_get(doc, "traceEvents"));
	json_free(doc);
	return 0;
}

static void figure(struct doc *d, const struct run *runs, int n)
{
	struct svg_series se[4];
	char names[4][48];
	int k = 0;

	for (int i = 0; i < n; i++) {
		snprintf(names[k], sizeof(names[k]), "%s: program break",
			 runs[i].alloc);
		se[k] = (struct svg_series){ names[k], runs[i].brk.n,
					      runs[i].brk.t, runs[i].brk.v };
		k++;
		snprintf(names[k], sizeof(names[k]), "%s: mapped bytes",
			 runs[i].alloc);
		se[k] = (struct svg_series){ names[k], runs[i].mapped.n,
					      runs[i].mapped.t,
					      runs[i].mapped.v };
		k++;
	}
	struct svg_lines spec = {
		.title = "The program break and mapped bytes over time",
		.x_label = "seconds since the program started",
		.y_label = "bytes", .x_unit = SVG_SECONDS, .y_unit = SVG_BYTES,
		.steps = 1, .nseries = k, .series = se, .marker_x = -1,
		.marker_y = -1,
	};
	doc_figure(d, "traced-runs", svg_line_chart(&spec),
		   "Counter tracks of the two Perfetto traces: how far the "
		   "break is above its start, and the bytes the allocator "
		   "holds in mappings of its own.");
}

int report_traced_runs(struct doc *d, struct json *results, const char *dir,
		       int quick)
{
	static const char *const allocs[] = { "glibc", "heaplab" };
	struct json *tr = json_set(results, "traced_runs", json_obj());
	struct json *jr = json_set(tr, "runs", json_arr());
	struct run runs[2];
	char code[512], a[32], b[32], c[32], e[32];
	struct doc_table *t;
	int n = 0, failed = 0;

	snprintf(code, sizeof(code), workload, quick ? 3000 : 30000);
	json_set(tr, "command", json_strf("python3 -c '%s'", code));
	doc_section(d, "traced-runs", "A real program, traced");
	doc_para(d, DOC_QUESTION, "What does the same program ask of the "
		 "kernel under glibc and under heaplab, over time?");
	doc_para(d, DOC_METHOD, "heaplab trace records every memory syscall "
		 "and malloc-family call of a Python program that builds and "
		 "drops objects of many sizes, once per allocator, as a "
		 "Perfetto trace (open it in ui.perfetto.dev).");
	for (size_t i = 0; i < 2; i++) {
		struct run *r = &runs[n];
		char *why = NULL;

		memset(r, 0, sizeof(*r));
		r->alloc = allocs[i];
		fprintf(stderr, "heaplab report: traced run under %s\n",
			r->alloc);
		if (!hl_alloc_available(r->alloc) ||
		    access("/usr/bin/python3", X_OK) != 0 ||
		    trace_one(dir, code, r, &why) < 0) {
			doc_para(d, DOC_SKIPPED, "The run under %s: %s", r->alloc,
				 why ? why : "the allocator or python3 is "
				 "missing");
			free(why);
			failed++;
			continue;
		}
		struct json *o = json_push(jr, json_obj());
		json_set(o, "allocator", json_str(r->alloc));
		json_set(o, "file", json_str(r->file));
		json_set(o, "syscalls", json_int(r->syscalls));
		json_set(o, "calls", json_int(r->calls));
		json_set(o, "peak_break", json_int((int64_t)r->brk.peak));
		json_set(o, "peak_mapped", json_int((int64_t)r->mapped.peak));
		json_set(o, "final_break", json_int((int64_t)r->brk.last));
		json_set(o, "final_mapped", json_int((int64_t)r->mapped.last));
		json_set(o, "complete", json_bool(r->complete));
		json_set(o, "dropped", json_int(r->dropped));
		n++;
	}
	if (!n)
		return failed;
	t = doc_table(d, 6, "allocator", "memory syscalls", "allocator calls",
		      "peak break (B)", "peak mapped (B)", "complete");
	for (int i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "%ld", runs[i].syscalls);
		snprintf(b, sizeof(b), "%ld", runs[i].calls);
		snprintf(c, sizeof(c), "%.0f", runs[i].brk.peak);
		snprintf(e, sizeof(e), "%.0f", runs[i].mapped.peak);
		doc_row(t, runs[i].alloc, a, b, c, e, runs[i].complete ? "yes" :
			"no");
	}
	figure(d, runs, n);
	for (int i = 0; i < n; i++)
		doc_para(d, DOC_RESULT, "Under %s the break rose to %.0f B above "
			 "its start and stood at %.0f B when the last event was "
			 "recorded; its own mappings peaked at %.0f B.",
			 runs[i].alloc, runs[i].brk.peak, runs[i].brk.last,
			 runs[i].mapped.peak);
	doc_para(d, DOC_KERNEL, "Each step of the break is a brk() that moves "
		 "the end of the heap's VMA; the pages behind it reach the "
		 "program only at its first touch of each, through a page "
		 "fault the buddy allocator serves.");
	for (int i = 0; i < n; i++)
		doc_link(d, runs[i].file, runs[i].file);
	return failed;
}
