// SPDX-License-Identifier: MIT
/*
 * progression.c — `heaplab experiment progression [-a ALLOC]... [--json]`:
 * one realistic workload (experiments/targets/workload.c: small, medium,
 * big and huge blocks with random lifetimes, some realloc'd) under phase 1
 * to 6, heaplab and glibc. Each allocator runs it twice: once traced
 * (heaplab trace -e ptrace --events syscalls) to count the brk, mmap and
 * munmap calls it made, once alone for its time and footprint.
 *
 * Utilization is the CS:APP malloc lab's: peak live bytes (the most
 * requested bytes live at once) over the peak footprint. The footprint is
 * the allocator's own count (break moved plus bytes mapped) where it
 * exports one (the phases), else measured from outside in the target:
 * break movement plus rw anonymous mappings, sampled at every new live
 * peak; the JSON says which for every row.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/phaselib.h"

static const char *const defaults[] = {
	"phase1", "phase2", "phase3", "phase4", "phase5", "phase6",
	"heaplab", "glibc", NULL,
};

struct sys_counts {
	long long brk, mmap, munmap, other;
};

/* The memory syscalls of a traced run, those made by the loader left out. */
static void trace_syscalls(const char *cmd, const struct hl_alloc *a,
			   char *const wargv[], struct sys_counts *c)
{
	char self[PATH_MAX], path[] = "/tmp/heaplab-prog.XXXXXX", err[160];
	char *argv[20], *out, *line = NULL;
	size_t cap = 0;
	int argc = 0, fd, st;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *f;

	if (n < 0 || (fd = mkstemp(path)) < 0)
		hl_die(cmd, "cannot set up a traced run: %s", strerror(errno));
	self[n] = '\0';
	close(fd);
	argv[argc++] = self;
	argv[argc++] = "trace";
	argv[argc++] = "-e";
	argv[argc++] = "ptrace";
	argv[argc++] = "--events";
	argv[argc++] = "syscalls";
	argv[argc++] = "-a";
	argv[argc++] = a->path[0] ? (char *)a->path : "glibc";
	argv[argc++] = "-f";
	argv[argc++] = "jsonl";
	argv[argc++] = "-o";
	argv[argc++] = path;
	argv[argc++] = "--";
	for (int i = 0; wargv[i] && argc < 19; i++)
		argv[argc++] = wargv[i];
	argv[argc] = NULL;
	st = hl_capture(argv, NULL, 0, &out, NULL);
	free(out);
	if (st != 0)
		hl_die(cmd, "the traced workload failed under %s (exit status "
		       "%d)", a->name, st);
	memset(c, 0, sizeof(*c));
	f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0) {
		struct json *ev = json_parse(line, err, sizeof(err));
		const char *k;

		if (!ev)
			hl_die(cmd, "%s: %s", path, err);
		k = hl_ev_kind(ev);
		if (!strcmp(json_as_str(json_get(ev, "cause"), ""), "loader"))
			;
		else if (!strcmp(k, "brk"))
			c->brk += hl_ev_arg(ev, "addr", 0) != 0;
		else if (!strcmp(k, "mmap"))
			c->mmap++;
		else if (!strcmp(k, "munmap"))
			c->munmap++;
		else if (!strcmp(k, "mremap") || !strcmp(k, "madvise"))
			c->other++;
		json_free(ev);
	}
	free(line);
	if (f)
		fclose(f);
	unlink(path);
}

static struct json *run(const struct pl_opts *o, const struct hl_alloc *a,
			char *const wargv[])
{
	struct json *r = json_obj();
	struct sys_counts c;
	long long live, fp, own, ns;
	char *out;
	int st;

	trace_syscalls(o->cmd, a, wargv, &c);
	st = hl_target_capture(a, wargv, &out);
	if (st != 0)
		hl_die(o->cmd, "the workload failed under %s (exit status %d)",
		       a->name, st);
	live = pl_value(o->cmd, out, "peak_live");
	fp = pl_value(o->cmd, out, "peak_footprint");
	own = hl_out_value(out, "phase_peak_footprint", -1);
	ns = pl_value(o->cmd, out, "ns");
	json_set(r, "allocator", json_str(a->name));
	json_set(r, "peak_live", json_int(live));
	json_set(r, "peak_heap", json_int(own >= 0 ? own : fp));
	json_set(r, "footprint_source", json_str(own >= 0 ?
		 "the allocator's own count (heap_size + mapped_bytes)" :
		 "measured outside: break movement + rw anonymous mappings"));
	json_set(r, "outside_footprint", json_int(fp));
	json_set(r, "utilization", json_num(pl_round((double)live /
			(own >= 0 ? own : fp > 0 ? fp : 1), 3)));
	json_set(r, "brk_calls", json_int(c.brk));
	json_set(r, "mmap_calls", json_int(c.mmap));
	json_set(r, "munmap_calls", json_int(c.munmap));
	json_set(r, "syscalls", json_int(c.brk + c.mmap + c.munmap + c.other));
	json_set(r, "time_ms", json_num(pl_round(ns / 1e6, 1)));
	json_set(r, "ns_per_op", json_int(ns / pl_value(o->cmd, out, "ops")));
	if (own >= 0)
		json_set(r, "nodes_traversed", json_int(pl_value(o->cmd, out,
				"phase_nodes_traversed")));
	free(out);
	return r;
}

static void print_text(const struct json *doc)
{
	const struct json *runs = json_get(doc, "runs");
	double best = 0;
	const char *best_name = "?";

	printf("heaplab progression: the same workload (%lld operations over "
	       "%lld slots) under each allocator\n\n",
	       pl_int(doc, "ops"),
	       pl_int(doc, "slots"));
	printf("%-9s %12s %12s %6s %6s %6s %6s %10s %8s\n", "allocator",
	       "peak live", "peak heap", "util", "brk", "mmap", "munmap",
	       "time (ms)", "ns/op");
	for (size_t i = 0; i < json_len(runs); i++) {
		const struct json *r = json_at(runs, i);
		double u = json_as_num(json_get(r, "utilization"), 0);

		printf("%-9s %12lld %12lld %6.3f %6lld %6lld %6lld %10.1f "
		       "%8lld\n",
		       pl_str(r, "allocator"),
		       pl_int(r, "peak_live"),
		       pl_int(r, "peak_heap"), u,
		       pl_int(r, "brk_calls"),
		       pl_int(r, "mmap_calls"),
		       pl_int(r, "munmap_calls"),
		       json_as_num(json_get(r, "time_ms"), 0),
		       pl_int(r, "ns_per_op"));
		if (u > best) {
			best = u;
			best_name = pl_str(r, "allocator");
		}
	}
	printf("\nutil = peak live bytes / peak heap (the phases count their "
	       "own heap; the others are\nmeasured from outside: break "
	       "movement + rw anonymous mappings). Best: %s, %.3f.\n",
	       best_name, best);
}

static void progression_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment progression [-a ALLOC]... [--json] [--quick]\n"
		"\n"
		"Runs one realistic workload (random sizes from 16 B to 512 KiB,\n"
		"random lifetimes, some reallocs; a fixed seed) under each\n"
		"allocator: peak live bytes, peak heap footprint, utilization\n"
		"(peak live / peak footprint, as the CS:APP malloc lab scores\n"
		"it), the brk/mmap/munmap calls (a traced run) and the time (an\n"
		"untraced run). The phases report their own footprint; the\n"
		"others are measured from outside (break + rw anonymous maps).\n"
		"\n"
		"  -a, --alloc ALLOC   an allocator (repeatable); default phase1\n"
		"                      ... phase6, heaplab and glibc\n"
		"      --json          the measurements as JSON\n"
		"      --quick         a tenth of the operations\n");
}

static int progression_main(int argc, char **argv)
{
	struct pl_opts o;
	struct json *doc, *runs;
	char path[4096], ops[32], slots[32];
	char *wargv[] = { path, ops, slots, NULL };
	int rc = pl_parse(&o, "progression", argc, argv, progression_help,
			  defaults);

	if (rc >= 0)
		return rc;
	hl_target_path(path, sizeof(path), "workload");
	snprintf(ops, sizeof(ops), "%d", o.quick ? 10000 : 100000);
	snprintf(slots, sizeof(slots), "%d", o.quick ? 500 : 2000);
	doc = json_obj();
	json_set(doc, "experiment", json_str("progression"));
	json_set(doc, "ops", json_int(atoi(ops)));
	json_set(doc, "slots", json_int(atoi(slots)));
	runs = json_set(doc, "runs", json_arr());
	for (size_t i = 0; i < o.nalloc; i++)
		json_push(runs, run(&o, &o.alloc[i], wargv));
	pl_output(&o, doc, print_text, doc);
	return 0;
}

const struct hl_cmd hl_exp_progression = {
	.name = "progression",
	.summary = "one workload under phase 1 to 6, heaplab and glibc",
	.main = progression_main,
	.help = progression_help,
};
