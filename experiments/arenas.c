// SPDX-License-Identifier: MIT
/*
 * arenas.c — `heaplab arenas [-a ALLOC] [-t THREADS] [--json]`: phase 8 of
 * the lab guide. For 1, 2, 4 … THREADS threads allocating at once, the
 * arenaprobe target reports which mapping each thread's block lies in; the
 * distinct mappings are the arenas (heaps) the allocator used, and the
 * PROT_NONE memory after a mapping is its heap's reserved, uncommitted tail.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/experiment.h"
#include "lab/json.h"

#define MAX_COUNTS 16
#define MAX_HEAPS 256

struct heap_seen {
	unsigned long start, end;	/* the committed mapping */
	unsigned long reserve_end;	/* end of its PROT_NONE tail, or end */
	int is_brk_heap;		/* the [heap] of the program break */
};

struct arenas_run {
	int threads;
	int nheaps;
	struct heap_seen heaps[MAX_HEAPS];
	int malloc_info_heaps;		/* -1: the allocator has none */
};

/*
 * How a thread's first malloc got its heap, from the trace of arenaprobe
 * with 2 threads: the reservation mapped, what was unmapped to align it,
 * what was committed with mprotect.
 */
struct heap_birth {
	int seen;		/* a thread's malloc mapped memory */
	long reserved;		/* its first mmap's length */
	int reserved_prot;
	long trimmed;		/* munmapped by the same call */
	unsigned long kept_start;	/* the mprotect'ed start, or the mmap */
	long committed;		/* mprotect'ed read-write by the same call */
	int nsyscalls;		/* memory syscalls that call made */
};

struct arenas_result {
	int nruns;
	struct arenas_run runs[MAX_COUNTS];
	struct heap_birth birth;
};

static struct heap_seen *heap_of(struct arenas_run *run, unsigned long start)
{
	for (int i = 0; i < run->nheaps; i++)
		if (run->heaps[i].start == start)
			return &run->heaps[i];
	if (run->nheaps == MAX_HEAPS)
		return NULL;
	run->heaps[run->nheaps].start = start;
	return &run->heaps[run->nheaps++];
}

static void parse_run(const char *out, struct arenas_run *run)
{
	struct heap_seen *last = NULL;

	run->malloc_info_heaps = (int)hl_out_value(out, "malloc_info_heaps", -1);
	for (const char *l = out; *l; ) {
		unsigned long addr, start, end;
		char perms[8];
		int idx, brk;

		if (sscanf(l, "block %d %lx %lx %lx %7s %d", &idx, &addr, &start,
			   &end, perms, &brk) == 6 && start) {
			last = heap_of(run, start);
			if (last) {
				last->end = end;
				last->is_brk_heap = brk;
				if (!last->reserve_end)
					last->reserve_end = end;
			}
		} else if (sscanf(l, "reserve %lx %lx", &start, &end) == 2 &&
			   last && start == last->end) {
			last->reserve_end = end;
		}
		l = strchr(l, '\n');
		if (!l)
			break;
		l++;
	}
}

/* One run of arenaprobe with THREADS threads. */
static void measure_one(const struct hl_alloc *alloc, int threads,
			struct arenas_run *run)
{
	char path[4096], arg[16], *out;
	char *argv[] = { path, arg, NULL };
	int st;

	hl_target_path(path, sizeof(path), "arenaprobe");
	snprintf(arg, sizeof(arg), "%d", threads);
	memset(run, 0, sizeof(*run));
	run->threads = threads;
	st = hl_target_capture(alloc, argv, &out);
	if (st != 0)
		hl_die("arenas", "arenaprobe %d failed under %s (exit status "
		       "%d)", threads, alloc->name, st);
	parse_run(out, run);
	free(out);
}

static void measure(const struct hl_alloc *alloc, int max_threads,
		    struct arenas_result *r)
{
	r->nruns = 0;
	for (int t = 1; r->nruns < MAX_COUNTS; t *= 2) {
		if (t > max_threads)
			t = max_threads;
		measure_one(alloc, t, &r->runs[r->nruns++]);
		if (t == max_threads)
			break;
	}
}

int hl_measure_heaps(const struct hl_alloc *alloc, int threads)
{
	struct arenas_result *r = calloc(1, sizeof(*r));
	int n;

	if (!r)
		hl_die("arenas", "out of memory");
	measure_one(alloc, threads, &r->runs[0]);
	n = r->runs[0].nheaps;
	free(r);
	return n;
}

/* The syscalls caused by the call SEQ, folded into B. */
static void fold_birth(const struct hl_trace *t, size_t from, int64_t seq,
		       struct heap_birth *b)
{
	for (size_t j = from; j < t->n; j++) {
		const struct json *e = t->ev[j];
		const char *k = hl_ev_kind(e);

		if (hl_ev_cause_seq(e) != seq)
			continue;
		b->nsyscalls++;
		if (!strcmp(k, "mmap") && !b->reserved) {
			b->reserved = hl_ev_arg(e, "length", 0);
			b->reserved_prot = hl_ev_arg(e, "prot", 0);
			b->kept_start = json_as_int(json_get(e, "ret"), 0);
		} else if (!strcmp(k, "munmap")) {
			b->trimmed += hl_ev_arg(e, "length", 0);
		} else if (!strcmp(k, "mprotect") &&
			   hl_ev_arg(e, "prot", 0) & 2) {
			if (!b->committed)
				b->kept_start = hl_ev_arg(e, "addr", 0);
			b->committed += hl_ev_arg(e, "length", 0);
		}
	}
}

static void trace_birth(const struct hl_alloc *alloc, struct heap_birth *b)
{
	char path[4096], *argv[] = { path, "2", NULL };
	struct hl_trace t;

	memset(b, 0, sizeof(*b));
	hl_target_path(path, sizeof(path), "arenaprobe");
	if (hl_trace_run(alloc, argv, &t, NULL) != 0)
		hl_die("arenas", "arenaprobe 2 failed under %s when traced",
		       alloc->name);
	/*
	 * The thread malloc that mapped first: the first heap the process
	 * ever made (glibc's later heaps may take the hint after the last
	 * one, a single mapping). Not the first thread malloc called: with
	 * two threads racing, the other may map first.
	 */
	for (size_t i = 0; i < t.n && !b->seen; i++) {
		const struct json *e = t.ev[i];
		int64_t seq = hl_ev_cause_seq(e);

		if (strcmp(hl_ev_kind(e), "mmap") || seq < 0 ||
		    strcmp(hl_ev_cause_kind(e), "malloc") ||
		    json_as_int(json_get(e, "tid"), 0) ==
		    json_as_int(json_get(e, "pid"), 0))
			continue;
		fold_birth(&t, 0, seq, b);
		b->seen = b->reserved > 0;
		/* A read-write mapping is committed as it is mapped. */
		if (b->seen && (b->reserved_prot & 2) && !b->committed)
			b->committed = b->reserved - b->trimmed;
		if (!b->seen)
			memset(b, 0, sizeof(*b));
	}
	hl_trace_free(&t);
}

/* The largest power of two that divides every non-brk heap's start. */
static unsigned long common_alignment(const struct arenas_result *r)
{
	unsigned long align = 0;

	for (int i = 0; i < r->nruns; i++)
		for (int h = 0; h < r->runs[i].nheaps; h++) {
			const struct heap_seen *hs = &r->runs[i].heaps[h];
			unsigned long a = hs->start & -hs->start;

			if (!hs->is_brk_heap && (!align || a < align))
				align = a;
		}
	return align;
}

/* Arenas stop growing with threads: the plateau, or -1 if none was seen. */
static int arena_cap(const struct arenas_result *r)
{
	const struct arenas_run *last = &r->runs[r->nruns - 1];

	if (r->nruns < 2 || last->nheaps >= last->threads)
		return -1;
	return r->runs[r->nruns - 2].nheaps == last->nheaps ?
	       last->nheaps : -1;
}

static void print_text(const struct hl_alloc *alloc,
		       const struct arenas_result *r)
{
	unsigned long align = common_alignment(r);
	int cap = arena_cap(r);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	printf("heaplab arenas: %s with threads allocating at once\n\n",
	       alloc->name);
	printf("%-8s %-8s %-10s %s\n", "threads", "heaps", "malloc_info",
	       "heaps: committed / reserved");
	for (int i = 0; i < r->nruns; i++) {
		const struct arenas_run *run = &r->runs[i];
		char mi[16];

		snprintf(mi, sizeof(mi), "%d", run->malloc_info_heaps);
		printf("%-8d %-8d %-10s", run->threads, run->nheaps,
		       run->malloc_info_heaps >= 0 ? mi : "-");
		for (int h = 0; h < run->nheaps && h < 4; h++) {
			const struct heap_seen *hs = &run->heaps[h];

			if (hs->is_brk_heap)
				printf(" [heap]");
			else
				printf(" %luK/%luM", (hs->end - hs->start) >> 10,
				       (hs->reserve_end - hs->start) >> 20);
		}
		printf("%s\n", run->nheaps > 4 ? " ..." : "");
	}
	putchar('\n');
	printf("heaps: the distinct mappings holding the threads' blocks, "
	       "each an arena's heap\n  (adjacent mappings of one allocator "
	       "can show as one); malloc_info: the arenas\n  the allocator "
	       "itself counts (glibc's malloc_info), '-' where it has none.\n");
	if (r->birth.seen) {
		const struct heap_birth *b = &r->birth;

		printf("a thread's first malloc, traced: mmap of %ld KiB (%s)",
		       b->reserved >> 10, b->reserved_prot ? "read-write" :
		       "PROT_NONE: reserved, not committed");
		if (b->trimmed)
			printf(", munmap of %ld KiB to align it", b->trimmed >> 10);
		printf(",\n  %ld KiB kept at %#lx, %ld KiB of it committed "
		       "read-write; %d syscalls in all.\n",
		       (b->reserved - b->trimmed) >> 10, b->kept_start,
		       b->committed >> 10, b->nsyscalls);
	} else {
		printf("a thread's first malloc, traced: no mapping of its own "
		       "(the thread used memory mapped before).\n");
	}
	if (align)
		printf("heaps outside the break are aligned to at least %lu MiB "
		       "(the lowest set bit of every start).\n", align >> 20);
	if (cap > 0)
		printf("cap: %d heaps for %d threads as for %d, on %ld CPUs "
		       "(%.1f per CPU):\n  beyond it threads share arenas.\n",
		       cap, r->runs[r->nruns - 1].threads,
		       r->runs[r->nruns - 2].threads, ncpu, (double)cap / ncpu);
	else
		printf("cap: none seen up to %d threads.\n",
		       r->runs[r->nruns - 1].threads);
}

static void print_json(const struct hl_alloc *alloc,
		       const struct arenas_result *r)
{
	struct json *o = json_obj(), *runs;
	unsigned long align = common_alignment(r);
	int cap = arena_cap(r);

	json_set(o, "experiment", json_str("arenas"));
	json_set(o, "allocator", json_str(alloc->name));
	json_set(o, "cpus", json_int(sysconf(_SC_NPROCESSORS_ONLN)));
	runs = json_set(o, "runs", json_arr());
	for (int i = 0; i < r->nruns; i++) {
		const struct arenas_run *run = &r->runs[i];
		struct json *jr = json_push(runs, json_obj()), *hs;

		json_set(jr, "threads", json_int(run->threads));
		json_set(jr, "arenas", json_int(run->nheaps));
		json_set(jr, "malloc_info_heaps", run->malloc_info_heaps >= 0 ?
			 json_int(run->malloc_info_heaps) : json_null());
		hs = json_set(jr, "heaps", json_arr());
		for (int h = 0; h < run->nheaps; h++) {
			const struct heap_seen *s = &run->heaps[h];
			struct json *jh = json_push(hs, json_obj());

			json_set(jh, "start", json_int(s->start));
			json_set(jh, "committed", json_int(s->end - s->start));
			json_set(jh, "reserved",
				 json_int(s->reserve_end - s->start));
			json_set(jh, "brk_heap", json_bool(s->is_brk_heap));
		}
	}
	json_set(o, "heap_alignment", align ? json_int(align) : json_null());
	if (r->birth.seen) {
		struct json *b = json_set(o, "thread_heap_birth", json_obj());

		json_set(b, "reserved", json_int(r->birth.reserved));
		json_set(b, "reserved_prot", json_int(r->birth.reserved_prot));
		json_set(b, "trimmed", json_int(r->birth.trimmed));
		json_set(b, "kept", json_int(r->birth.reserved -
					      r->birth.trimmed));
		json_set(b, "kept_start", json_int(r->birth.kept_start));
		json_set(b, "kept_alignment", json_int(r->birth.kept_start &
						       -r->birth.kept_start));
		json_set(b, "committed", json_int(r->birth.committed));
		json_set(b, "syscalls", json_int(r->birth.nsyscalls));
	} else {
		json_set(o, "thread_heap_birth", json_null());
	}
	json_set(o, "arena_cap", cap > 0 ? json_int(cap) : json_null());
	json_write(stdout, o, 2);
	json_free(o);
}

static void arenas_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab arenas [-a ALLOC] [-t THREADS] [--json]\n"
		"       heaplab experiment arenas [...]\n"
		"\n"
		"Threads allocating at once: how many arenas (or heaps) ALLOC\n"
		"uses for 1, 2, 4 ... THREADS threads, the mappings of the\n"
		"heaps outside the program break (committed and reserved size,\n"
		"alignment), and the cap on arenas.\n"
		"\n"
		"  -a, --alloc ALLOC     allocator (default glibc)\n"
		"  -t, --threads N       most threads to try (default 16 per\n"
		"                        CPU, at most 256)\n"
		"      --json            the measurements as JSON\n");
}

static int arenas_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *alloc_name = "glibc";
	long threads = 16 * sysconf(_SC_NPROCESSORS_ONLN);
	struct arenas_result *r;
	struct hl_alloc alloc;
	int c, json = 0;
	char *end;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alloc_name = optarg; break;
		case 't':
			threads = strtol(optarg, &end, 10);
			if (*end || threads < 1 || threads > 256)
				return hl_usage("arenas", "-t wants a number "
						"of threads from 1 to 256, not "
						"'%s'", optarg);
			break;
		case 'j': json = 1; break;
		case 'h': arenas_help(stdout); return 0;
		default: return hl_getopt_error("arenas", c, argv);
		}
	}
	if (optind < argc)
		return hl_usage("arenas", "unexpected argument '%s'",
				argv[optind]);
	if (threads > 256)
		threads = 256;
	if (hl_alloc_resolve("arenas", alloc_name, &alloc) < 0)
		return HL_EXIT_USAGE;
	r = calloc(1, sizeof(*r));
	if (!r)
		hl_die("arenas", "out of memory");
	measure(&alloc, (int)threads, r);
	trace_birth(&alloc, &r->birth);
	if (json)
		print_json(&alloc, r);
	else
		print_text(&alloc, r);
	free(r);
	return 0;
}

const struct hl_cmd hl_exp_arenas = {
	.name = "arenas",
	.summary = "arenas and heaps for threads allocating at once",
	.main = arenas_main,
	.help = arenas_help,
};
