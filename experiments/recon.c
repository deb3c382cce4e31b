// SPDX-License-Identifier: MIT
/*
 * recon.c — `heaplab recon [-a ALLOC] [--json] [-- CMD]`: phase 0 of the lab
 * guide, walking the territory before building anything.
 *
 *  1. census: every brk/mmap/munmap of CMD (default: ls), from the trace,
 *     classed by who made it, beside the raw counts strace reports;
 *  2. the heap in the memory map: where malloc(100) landed in [heap];
 *  3. the break moving: sbrk(0) around two malloc(1000)s, explained from
 *     the move observed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/experiment.h"

enum { SC_BRK, SC_MMAP, SC_MUNMAP, NSC };
static const char *const sc_name[NSC] = { "brk", "mmap", "munmap" };

/* Who made a syscall, from its cause and (for mmap) its file descriptor. */
enum { WHO_LOADER_FILE, WHO_LOADER_ANON, WHO_ALLOC, WHO_OTHER, WHO_TAP, NWHO };
static const char *const who_key[NWHO] = {
	"loader_file", "loader_anon", "allocator", "other", "tap",
};
static const char *const who_label[NWHO] = {
	"the loader mapping files (libraries, the tap's too)",
	"the loader's anonymous memory",
	"the allocator (inside a malloc-family call)",
	"everything else (the program, libc outside malloc)",
	"heaplab's own tap (not in strace's run)",
};

struct census {
	long count[NWHO][NSC];
	long total[NSC];		/* without the tap's */
	long strace[NSC];		/* -1: strace not available */
	int status;
};

static int sc_index(const char *kind)
{
	for (int i = 0; i < NSC; i++)
		if (!strcmp(kind, sc_name[i]))
			return i;
	return -1;
}

static int who_made(const struct json *ev, int sc)
{
	const struct json *cause = json_get(ev, "cause");
	const char *c = json_as_str(cause, NULL);

	if (json_type(cause) == JSON_OBJ)
		return WHO_ALLOC;
	if (c && !strcmp(c, "tap"))
		return WHO_TAP;
	if (c && !strcmp(c, "loader"))
		return sc == SC_MMAP && hl_ev_arg(ev, "fd", -1) >= 0 ?
		       WHO_LOADER_FILE : WHO_LOADER_ANON;
	return WHO_OTHER;
}

/*
 * strace's counts for the same command with the same libraries preloaded
 * (heaplab's tap too, idle without a tracer, so the loader maps the same
 * files): its own lines, "resumed" halves of interrupted calls not
 * counted twice.
 */
static void strace_counts(const struct hl_alloc *alloc, char **cmd,
			  long out[NSC])
{
	char path[] = "/tmp/heaplab-recon.XXXXXX", env[8300], tap[4096];
	char *argv[64], *text, line[4096];
	int argc = 0, fd = mkstemp(path);
	FILE *f;

	for (int i = 0; i < NSC; i++)
		out[i] = -1;
	if (fd < 0 || access("/usr/bin/strace", X_OK) != 0) {
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return;
	}
	close(fd);
	argv[argc++] = "/usr/bin/strace";
	argv[argc++] = "-f";
	argv[argc++] = "-qq";
	argv[argc++] = "-e";
	argv[argc++] = "trace=brk,mmap,munmap";
	argv[argc++] = "-o";
	argv[argc++] = path;
	hl_libpath(tap, sizeof(tap), "libheaplab-tap.so");
	snprintf(env, sizeof(env), "LD_PRELOAD=%s%s%s", tap,
		 alloc->path[0] ? ":" : "", alloc->path);
	argv[argc++] = "-E";
	argv[argc++] = env;
	for (int i = 0; cmd[i] && argc < 63; i++)
		argv[argc++] = cmd[i];
	argv[argc] = NULL;
	hl_capture(argv, NULL, 0, &text, NULL);
	free(text);
	f = fopen(path, "r");
	if (f) {
		for (int i = 0; i < NSC; i++)
			out[i] = 0;
		while (fgets(line, sizeof(line), f)) {
			char *p = line;

			while (*p && *p != ' ')	/* the pid column */
				p++;
			while (*p == ' ')
				p++;
			if (!strncmp(p, "<...", 4))
				continue;
			for (int i = 0; i < NSC; i++)
				if (!strncmp(p, sc_name[i], strlen(sc_name[i])) &&
				    p[strlen(sc_name[i])] == '(')
					out[i]++;
		}
		fclose(f);
	}
	unlink(path);
}

static void census(const struct hl_alloc *alloc, char **cmd, struct census *c)
{
	struct hl_trace t;
	char *out;

	memset(c, 0, sizeof(*c));
	c->status = hl_trace_run(alloc, cmd, &t, &out);
	free(out);
	if (!t.complete)
		hl_warn("recon", "the trace of %s is incomplete (%lld records "
			"dropped): the census undercounts", cmd[0],
			(long long)t.dropped);
	for (size_t i = 0; i < t.n; i++) {
		int sc = sc_index(hl_ev_kind(t.ev[i]));
		int who;

		if (sc < 0)
			continue;
		who = who_made(t.ev[i], sc);
		c->count[who][sc]++;
		if (who != WHO_TAP)
			c->total[sc]++;
	}
	hl_trace_free(&t);
	strace_counts(alloc, cmd, c->strace);
}

struct heap_map {
	unsigned long block, brk, start, end;	/* start = 0: no [heap] */
	char *maps;				/* the map lines, malloc'd */
};

static void heap_in_map(const struct hl_alloc *alloc, struct heap_map *h)
{
	char path[4096], *out, *argv[] = { path, NULL };
	size_t len = 0;

	memset(h, 0, sizeof(*h));
	hl_target_path(path, sizeof(path), "mapsprobe");
	if (hl_target_capture(alloc, argv, &out) != 0)
		hl_die("recon", "mapsprobe failed under %s", alloc->name);
	h->block = hl_out_value(out, "block", 0);
	h->brk = hl_out_value(out, "break", 0);
	h->maps = calloc(1, strlen(out) + 1);
	if (!h->maps)
		hl_die("recon", "out of memory");
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long s, e;

		if (strncmp(l, "map ", 4))
			continue;
		len += sprintf(h->maps + len, "%s\n", l + 4);
		if (strstr(l, "[heap]") && sscanf(l + 4, "%lx-%lx", &s, &e) == 2) {
			h->start = s;
			h->end = e;
		}
	}
	free(out);
}

struct break_move {
	unsigned long b0, b1, b2, p1, p2;
	long brk_calls;			/* brk syscalls the mallocs caused */
};

static void break_moving(const struct hl_alloc *alloc, struct break_move *m)
{
	char path[4096], *out, *argv[] = { path, NULL };
	struct hl_trace t;

	hl_target_path(path, sizeof(path), "brkprobe");
	if (hl_trace_run(alloc, argv, &t, &out) != 0)
		hl_die("recon", "brkprobe failed under %s", alloc->name);
	m->b0 = hl_out_value(out, "break0", 0);
	m->b1 = hl_out_value(out, "break1", 0);
	m->b2 = hl_out_value(out, "break2", 0);
	m->p1 = hl_out_value(out, "block1", 0);
	m->p2 = hl_out_value(out, "block2", 0);
	m->brk_calls = 0;
	for (size_t i = 0; i < t.n; i++)
		if (!strcmp(hl_ev_kind(t.ev[i]), "brk") &&
		    json_type(json_get(t.ev[i], "cause")) == JSON_OBJ)
			m->brk_calls++;
	free(out);
	hl_trace_free(&t);
}

long hl_measure_break_move(const struct hl_alloc *alloc)
{
	struct break_move m;

	break_moving(alloc, &m);
	return (long)(m.b1 - m.b0);
}

static void print_census(const struct census *c, char **cmd)
{
	printf("1. Syscall census of '%s' (exit status %d)\n\n", cmd[0],
	       c->status);
	printf("%-52s %6s %6s %6s\n", "made by", "brk", "mmap", "munmap");
	for (int w = 0; w < NWHO; w++)
		printf("%-52s %6ld %6ld %6ld\n", who_label[w], c->count[w][0],
		       c->count[w][1], c->count[w][2]);
	printf("%-52s %6ld %6ld %6ld\n", "heaplab trace, in all (tap left out)",
	       c->total[0], c->total[1], c->total[2]);
	if (c->strace[0] >= 0)
		printf("%-52s %6ld %6ld %6ld\n", "strace -f, same command and "
		       "preloads",
		       c->strace[0], c->strace[1], c->strace[2]);
	else
		printf("strace: not installed, no comparison\n");
}

static void print_map(const struct heap_map *h)
{
	printf("\n2. The heap in the memory map (malloc(100), then "
	       "/proc/self/maps)\n\n");
	if (!h->start) {
		printf("no [heap] segment: the block at %#lx lives in a "
		       "mapping of the allocator's own.\n", h->block);
		return;
	}
	printf("[heap]   %#lx-%#lx (%lu KiB)\n", h->start, h->end,
	       (h->end - h->start) >> 10);
	printf("break    %#lx: %s\n", h->brk, h->brk == h->end ?
	       "the end of [heap]: brk() moves that end" :
	       "not the end of [heap]");
	if (h->block >= h->start && h->block < h->end)
		printf("block    %#lx: inside [heap], %lu B from its start "
		       "(what the allocator keeps below it)\n", h->block,
		       h->block - h->start);
	else
		printf("block    %#lx: outside [heap]\n", h->block);
}

static void print_break(const struct break_move *m)
{
	long move1 = m->b1 - m->b0, move2 = m->b2 - m->b1;

	printf("\n3. The break moving (sbrk(0) around malloc(1000), twice)\n\n");
	printf("before   %#lx\nmalloc   %#lx -> break %#lx (moved %ld B)\n"
	       "malloc   %#lx -> break %#lx (moved %ld B)\n", m->b0, m->p1,
	       m->b1, move1, m->p2, m->b2, move2);
	if (move1 <= 0) {
		printf("The break did not move: this allocator took its memory "
		       "elsewhere (mmap); brk calls caused by the mallocs: "
		       "%ld.\n", m->brk_calls);
		return;
	}
	long used = m->p1 + 1000 - m->b0;
	printf("The first malloc moved the break %ld B (%.0fx the request, "
	       "%s) in %ld brk calls.\n", move1, move1 / 1000.0,
	       move1 % 4096 ? "not whole pages" : "whole pages",
	       m->brk_calls);
	printf("Its block ends %ld B above the old break; the other %ld B "
	       "stay as the top chunk, for later requests.\n", used,
	       move1 - used);
	if (!move2 && m->p2 > m->p1 && m->p2 < m->b1)
		printf("So the second malloc(1000) did not move the break: it "
		       "was carved from the top, %lu B after the first.\n",
		       m->p2 - m->p1);
}

static struct json *counts_json(const long v[NSC])
{
	struct json *o = json_obj();

	for (int i = 0; i < NSC; i++)
		json_set(o, sc_name[i], v[i] >= 0 ? json_int(v[i]) :
			 json_null());
	return o;
}

static struct json *recon_json(const struct hl_alloc *alloc, char **cmd,
			       const struct census *c, const struct heap_map *h,
			       const struct break_move *m)
{
	struct json *o = json_obj(), *cj, *cls, *cmdj, *mj, *bj;

	json_set(o, "experiment", json_str("recon"));
	json_set(o, "allocator", json_str(alloc->name));
	cmdj = json_set(o, "command", json_arr());
	for (int i = 0; cmd[i]; i++)
		json_push(cmdj, json_str(cmd[i]));
	cj = json_set(o, "census", json_obj());
	json_set(cj, "exit_status", json_int(c->status));
	cls = json_set(cj, "by_maker", json_obj());
	for (int w = 0; w < NWHO; w++)
		json_set(cls, who_key[w], counts_json(c->count[w]));
	json_set(cj, "heaplab", counts_json(c->total));
	json_set(cj, "strace", c->strace[0] >= 0 ? counts_json(c->strace) :
		 json_null());
	mj = json_set(o, "heap_map", json_obj());
	json_set(mj, "request", json_int(100));
	json_set(mj, "block", json_int(h->block));
	json_set(mj, "break", json_int(h->brk));
	json_set(mj, "heap_start", h->start ? json_int(h->start) : json_null());
	json_set(mj, "heap_end", h->start ? json_int(h->end) : json_null());
	if (h->start) {
		json_set(mj, "heap_size", json_int(h->end - h->start));
		json_set(mj, "block_offset", json_int(h->block - h->start));
	}
	json_set(mj, "maps", json_str(h->maps));
	bj = json_set(o, "break_moving", json_obj());
	json_set(bj, "request", json_int(1000));
	json_set(bj, "break_before", json_int(m->b0));
	json_set(bj, "block1", json_int(m->p1));
	json_set(bj, "break_after1", json_int(m->b1));
	json_set(bj, "block2", json_int(m->p2));
	json_set(bj, "break_after2", json_int(m->b2));
	json_set(bj, "move1", json_int(m->b1 - m->b0));
	json_set(bj, "move2", json_int(m->b2 - m->b1));
	json_set(bj, "brk_calls", json_int(m->brk_calls));
	if (m->b1 > m->b0) {
		json_set(bj, "block1_end_above_break",
			 json_int(m->p1 + 1000 - m->b0));
		json_set(bj, "top_left", json_int(m->b1 - (m->p1 + 1000)));
		json_set(bj, "block2_after_block1", json_int(m->p2 - m->p1));
	}
	return o;
}

static void recon_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab recon [-a ALLOC] [--json] [-- CMD [ARGS...]]\n"
		"       heaplab experiment recon [...]\n"
		"\n"
		"Walks the territory (the lab guide's phase 0), with heaplab\n"
		"trace doing the observing:\n"
		"  1. a census of every brk/mmap/munmap CMD makes (default: ls),\n"
		"     classed by who made it, beside strace's raw counts;\n"
		"  2. where malloc(100) lands in the memory map's [heap];\n"
		"  3. the program break before and after malloc(1000), twice,\n"
		"     and why it moves by much more than 1000 bytes.\n"
		"\n"
		"  -a, --alloc ALLOC   allocator (default glibc)\n"
		"      --json          the measurements as JSON\n");
}

static int recon_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static char *default_cmd[] = { "ls", NULL };
	const char *alloc_name = "glibc";
	struct break_move m;
	struct heap_map h;
	struct hl_alloc alloc;
	struct census c;
	char **cmd = default_cmd;
	int opt, json = 0;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:a:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': alloc_name = optarg; break;
		case 'j': json = 1; break;
		case 'h': recon_help(stdout); return 0;
		default: return hl_getopt_error("recon", opt, argv);
		}
	}
	if (optind < argc)
		cmd = argv + optind;
	if (hl_alloc_resolve("recon", alloc_name, &alloc) < 0)
		return HL_EXIT_USAGE;
	census(&alloc, cmd, &c);
	if (c.status == 127)
		hl_die("recon", "cannot run '%s'", cmd[0]);
	heap_in_map(&alloc, &h);
	break_moving(&alloc, &m);
	if (json) {
		struct json *o = recon_json(&alloc, cmd, &c, &h, &m);

		json_write(stdout, o, 2);
		json_free(o);
	} else {
		print_census(&c, cmd);
		print_map(&h);
		print_break(&m);
	}
	free(h.maps);
	return 0;
}

const struct hl_cmd hl_exp_recon = {
	.name = "recon",
	.summary = "walk the territory: syscall census, [heap], the break",
	.main = recon_main,
	.help = recon_help,
};
