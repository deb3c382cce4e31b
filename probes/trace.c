// SPDX-License-Identifier: MIT
/*
 * trace.c — `heaplab trace`: CMD with an allocator preloaded, its memory
 * syscalls and allocator calls on one timeline, each syscall with its cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lab/heaplab.h"
#include "probes/ebpf/run.h"
#include "probes/hlt.h"
#include "probes/perfetto.h"
#include "probes/ptrace/engine.h"
#include "probes/sink.h"
#include "probes/summary.h"
#include "probes/tap/reader.h"
#include "probes/timeline.h"

#define CMD "trace"
#define TAP_SO "libheaplab-tap.so"

static void trace_help(FILE *out)
{
	fprintf(out,
"Usage: heaplab trace [-e ebpf|ptrace|auto] [-a ALLOC] [--events all|syscalls|calls]\n"
"                     [-f text|jsonl|perfetto|hlt] [-c] [-o FILE] [-b RECORDS]\n"
"                     [--uprobes] [--] CMD [ARGS...]\n"
"       heaplab trace -i FILE [-f text|jsonl|perfetto] [-c] [-o FILE]\n"
"\n"
"Runs CMD with ALLOC preloaded and records every brk, mmap, munmap, mremap,\n"
"madvise and mprotect of CMD, its threads and descendants (fork, vfork,\n"
"clone, exec) with arguments and return values, and every call of the\n"
"malloc family (malloc, free, calloc, realloc, reallocarray, memalign,\n"
"posix_memalign, aligned_alloc, valloc, pvalloc).  Each syscall carries its\n"
"cause: the allocator call open on its thread when it happened, \"loader\"\n"
"(made by ld.so) or \"tap\" (made by heaplab's own call tap).  Exits with\n"
"CMD's exit status, or 128+N when CMD died of signal N.\n"
"\n"
"  -e, --engine E     ebpf: tracepoints filtered in the kernel to CMD's\n"
"                     process tree (needs root: CAP_BPF, CAP_PERFMON);\n"
"                     ptrace: heaplab's ptrace+seccomp engine (no root needed);\n"
"                     auto (default): ebpf when its programs load, else\n"
"                     ptrace (which one, and why, is said on stderr)\n"
"  -a, --alloc ALLOC  glibc (default), heaplab, phase1..phase6, jemalloc,\n"
"                     mimalloc, tcmalloc, or a path to a .so\n"
"      --events SET   all (default), syscalls (no call tap), calls (no\n"
"                     syscall stops); fork/exec/exit are always recorded\n"
"  -f, --format F     text (default): one strace-like line per event;\n"
"                     jsonl: one JSON object per line; perfetto: Chrome\n"
"                     Trace Event JSON for ui.perfetto.dev (calls as slices,\n"
"                     syscalls nested in their cause with flow arrows, the\n"
"                     break and mapped bytes as counters); hlt: heaplab's\n"
"                     compact binary trace (about 10 bytes an event where\n"
"                     jsonl takes 150, the cheapest way to record every\n"
"                     call; needs -o), for -i to turn into the others.\n"
"                     Under -e ebpf, hlt records what the engine took in\n"
"                     (the tap's calls and the kernel's records, as they\n"
"                     came) and -i joins them, each syscall to its cause,\n"
"                     when it reads the file; under ptrace it records the\n"
"                     joined events.  Either way -i writes what the live\n"
"                     format would have\n"
"  -i, --input FILE   read a trace recorded with -f hlt instead of running a\n"
"                     command, and write it with -f / -c: the same output as\n"
"                     if it had been written so while tracing\n"
"  -c, --summary      instead of the events, a table like strace -c: calls\n"
"                     per kind and per cause, bytes mapped and unmapped, how\n"
"                     far the break moved, events dropped\n"
"  -o, --output FILE  write the trace to FILE ('-': stdout); default stderr\n"
"  -b, --buffer N     tap ring records per thread (a power of two,\n"
"                     default 2097152, 128 MiB of memory at most); calls\n"
"                     beyond a full buffer are dropped and counted\n"
"      --uprobes      (ebpf) record the allocator calls with uprobes and\n"
"                     uretprobes on the allocator's malloc family instead of\n"
"                     the preloaded tap, for programs that cannot be preloaded;\n"
"                     each call then costs the traced program some 6-20 us (a\n"
"                     uprobe and a uretprobe) where the tap costs tens of ns;\n"
"                     the uprobes are attached by pid, so only the traced\n"
"                     processes pay it, not the rest of the machine; each\n"
"                     fork and exec in the tree is held until attached (a\n"
"                     fork+exec then takes ~1.4 ms here, 0.6 ms untraced)\n"
"  -h, --help         this text\n"
"\n"
"text lines: \"#SEQ kind(args) = ret <- CAUSE\", with \"[pid P]\" or\n"
"\"[pid P/TID]\" in front once the trace has more than one thread; CAUSE is\n"
"\"#SEQ malloc(135000)\", \"loader\" or \"tap\".  Process events read\n"
"\"+++ fork: child N +++\", \"+++ exec PATH +++\", \"+++ exited with N +++\".\n"
"\n"
"jsonl events: {\"seq\", \"ts_ns\" (enter, CLOCK_MONOTONIC), \"end_ns\" (exit),\n"
"\"pid\", \"tid\", \"kind\" (brk, mmap, munmap, mremap, madvise, mprotect, malloc,\n"
"free, ..., fork, exec, exit), \"args\" (an object of numbers; exec also has\n"
"\"path\"), \"ret\" (a number; syscalls give the kernel's value, -errno on\n"
"failure, with \"errno\":\"ENOMEM\"; null for free and for a call that never\n"
"returned, which has \"unfinished\":true), \"cause\" (null, \"loader\", \"tap\" or\n"
"{\"seq\",\"kind\",\"args\"} of the call; seq is null if the call's own record\n"
"was dropped)}.\n"
"The last line is always {\"kind\":\"trace_end\",\"complete\":BOOL,\n"
"\"dropped\":N,\"events\":N,\"status\":N,\"engine\":\"ebpf|ptrace\"[,\"reason\":\"...\"]}:\n"
"complete is false when the trace was interrupted (Ctrl-C, SIGTERM) or when\n"
"the tap dropped records.  Text ends with \"# trace end: ...\".\n"
"\n"
"The trace lasts until every traced process has exited.  Ctrl-C ends the\n"
"trace (flushed, marked incomplete); the target keeps running under the\n"
"tracer until it exits; a second Ctrl-C kills it.  SIGTERM and SIGHUP end\n"
"the trace the same way and are passed on to the target.\n");
}

struct trace_opts {
	const char *engine, *alloc, *events, *format, *output, *input;
	unsigned long buffer;
	int summary, uprobes;
	int run_opt;		/* an option that only running a command takes */
};

/* Finds CMD like execvp would; 0, or the exit status to give up with. */
static int resolve_cmd(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	struct stat st;
	int found_noexec = 0;

	if (!*name) {
		hl_warn(CMD, "cannot run '': empty command");
		return 127;
	}
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		if (stat(out, &st) < 0) {
			hl_warn(CMD, "cannot run '%s': %s", name, strerror(errno));
			return errno == ENOENT ? 127 : 126;
		}
		if (S_ISDIR(st.st_mode) || access(out, X_OK) < 0) {
			hl_warn(CMD, "cannot run '%s': %s", name,
				S_ISDIR(st.st_mode) ? "is a directory" :
				"not executable (permission denied)");
			return 126;
		}
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(out, len, "%.*s%s%s", (int)n, path, n ? "/" : "", name);
		path += n + (path[n] == ':');
		if (stat(out, &st) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (access(out, X_OK) == 0)
			return 0;
		found_noexec = 1;
	}
	hl_warn(CMD, "cannot run '%s': %s", name, found_noexec ?
		"not executable (permission denied)" : "command not found");
	return found_noexec ? 126 : 127;
}

/* The fd -o names before it is opened: stdout for '-'. */
static int fd_of(const char *file)
{
	return file && !strcmp(file, "-") ? STDOUT_FILENO : -1;
}

static int open_output(const char *file)
{
	int fd;

	if (!file)
		return STDERR_FILENO;
	if (!strcmp(file, "-"))
		return STDOUT_FILENO;
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		hl_warn(CMD, "cannot write the trace to '%s': %s", file,
			strerror(errno));
	return fd;
}

struct run {
	struct hl_sink sink;
	struct hl_engine_run er;	/* which engine ran (probes/ebpf/run.h) */
	struct hl_perfetto *perfetto;	/* -f perfetto */
	struct hl_summary *summary;	/* -c */
	struct hlt_writer *hlt;		/* -f hlt */
	FILE *summary_out;
	struct hl_timeline tl;
	struct hl_tap_reader tap;
	int use_tap;
	int ended;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void end_trace(struct run *r, int complete, int status,
		      const char *reason)
{
	struct hl_trace_end e = {
		.ts_ns = now_ns(), .complete = complete, .status = status,
		.engine = r->er.used ? r->er.used : "none", .reason = reason,
		.dropped = (r->use_tap ? hl_tap_drops(&r->tap) : 0) + r->er.lost,
	};
	char why[128];

	if (r->ended)
		return;
	r->ended = 1;
	if (e.dropped && complete) {
		e.complete = 0;
		e.reason = r->er.lost ? "the ebpf ring was full: events were lost" :
			   "the tap ring was full: calls were dropped (see -b)";
	} else if (r->er.err && complete) {
		/* "the ebpf engine lost records (Cannot allocate memory)" */
		snprintf(why, sizeof(why), "the ebpf engine lost records (%s)",
			 strerror(r->er.err));
		e.complete = 0;
		e.reason = why;
	}
	e.seq = r->tl.seq + 1;
	hl_sink_end(&r->sink, &e);
}

/* The tap sees only processes that load it: say when none did, rather
 * than hand over a trace that looks like a program without calls. */
static void check_tap_loaded(struct run *r)
{
	if (r->use_tap && !hl_tap_attached(&r->tap))
		hl_warn(CMD, "no traced process loaded the call tap (statically "
			"linked, or LD_PRELOAD dropped): no allocator calls "
			"were recorded; --uprobes records them without it");
}

static void interrupted(void *ctx)
{
	end_trace(ctx, 0, -1, "interrupted");
}

/* -i FILE: only the output options go with it. */
static int parse_input(int argc, char **argv, const struct trace_opts *t)
{
	static const char *const names[] = {
		['e'] = "-e", ['a'] = "-a", ['E'] = "--events", ['b'] = "-b",
		['U'] = "--uprobes",
	};

	if (t->run_opt)
		return hl_usage(CMD, "%s is for running a command, not with -i",
				names[t->run_opt]);
	if (!strcmp(t->format, "hlt") && !t->summary)
		return hl_usage(CMD, "-i FILE is already hlt: choose -f text, "
				"jsonl or perfetto, or -c");
	if (optind < argc)
		return hl_usage(CMD, "-i reads a recorded trace: no command "
				"('%s') goes with it", argv[optind]);
	return 0;
}

static int parse(int argc, char **argv, struct trace_opts *t)
{
	static const struct option opts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "events", required_argument, NULL, 'E' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "buffer", required_argument, NULL, 'b' },
		{ "summary", no_argument, NULL, 'c' },
		{ "uprobes", no_argument, NULL, 'U' },
		{ "input", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:e:a:f:o:b:i:ch", opts, NULL)) != -1) {
		switch (c) {
		case 'e': t->engine = optarg; t->run_opt = 'e'; break;
		case 'a': t->alloc = optarg; t->run_opt = 'a'; break;
		case 'E': t->events = optarg; t->run_opt = 'E'; break;
		case 'i': t->input = optarg; break;
		case 'f': t->format = optarg; break;
		case 'o': t->output = optarg; break;
		case 'b':
			errno = 0;
			t->buffer = strtoul(optarg, &end, 0);
			if (errno || *end || t->buffer < 16 ||
			    t->buffer > (1ul << 24) ||
			    (t->buffer & (t->buffer - 1)))
				return hl_usage(CMD, "-b wants a power of two "
						"from 16 to 16777216, not '%s'",
						optarg);
			t->run_opt = 'b';
			break;
		case 'c': t->summary = 1; break;
		case 'U': t->uprobes = 1; t->run_opt = 'U'; break;
		case 'h':
			trace_help(stdout);
			return -1;
		default:
			return hl_getopt_error(CMD, c, argv);
		}
	}
	if (strcmp(t->events, "all") && strcmp(t->events, "syscalls") &&
	    strcmp(t->events, "calls"))
		return hl_usage(CMD, "unknown event set '%s' (all, syscalls, "
				"calls)", t->events);
	if (strcmp(t->format, "text") && strcmp(t->format, "jsonl") &&
	    strcmp(t->format, "perfetto") && strcmp(t->format, "hlt"))
		return hl_usage(CMD, "unknown format '%s' (text, jsonl, "
				"perfetto, hlt)", t->format);
	if (t->input)
		return parse_input(argc, argv, t);
	if (!strcmp(t->format, "hlt") && !t->summary && !t->output)
		return hl_usage(CMD, "-f hlt is binary: give -o FILE");
	if (strcmp(t->engine, "auto") && strcmp(t->engine, "ebpf") &&
	    strcmp(t->engine, "ptrace"))
		return hl_usage(CMD, "unknown engine '%s' (ebpf, ptrace, auto)",
				t->engine);
	if (t->uprobes && !strcmp(t->engine, "ptrace"))
		return hl_usage(CMD, "--uprobes needs the ebpf engine");
	if (t->uprobes && !strcmp(t->events, "syscalls"))
		return hl_usage(CMD, "--uprobes records calls: not with "
				"--events syscalls");
	if (optind >= argc)
		return hl_usage(CMD, "no command given");
	return 0;
}

/* -f perfetto, -f hlt and -c take the events in place of text/jsonl
 * (sink.h). */
static void perfetto_event(void *p, const struct hl_event *ev, const char *str,
			   const struct hl_event *cause)
{
	hl_perfetto_event(p, ev, str, cause);
}

static void perfetto_end(void *p, const struct hl_trace_end *e)
{
	hl_perfetto_end(p, e);
}

static void hlt_sink_event(void *w, const struct hl_event *ev, const char *str,
			   const struct hl_event *cause)
{
	hlt_event(w, ev, str, cause);
}

static void hlt_sink_end(void *w, const struct hl_trace_end *e)
{
	hlt_end(w, e);
}

static void summary_event(void *r, const struct hl_event *ev, const char *str,
			  const struct hl_event *cause)
{
	hl_summary_event(((struct run *)r)->summary, ev, str, cause);
}

static void summary_end(void *arg, const struct hl_trace_end *e)
{
	struct run *r = arg;

	hl_summary_print(r->summary, r->summary_out, e);
	fflush(r->summary_out);
}

static int attach_ext(struct run *r, const struct trace_opts *t, int fd)
{
	if (t->summary) {
		r->summary = calloc(1, sizeof(*r->summary));
		r->summary_out = fdopen(dup(fd), "w");
		if (!r->summary || !r->summary_out)
			return -1;
		hl_summary_init(r->summary);
		r->sink.ext_event = summary_event;
		r->sink.ext_end = summary_end;
		r->sink.ext = r;
	} else if (!strcmp(t->format, "perfetto")) {
		r->perfetto = hl_perfetto_open(fd);
		if (!r->perfetto)
			return -1;
		r->sink.ext_event = perfetto_event;
		r->sink.ext_end = perfetto_end;
		r->sink.ext = r->perfetto;
	} else if (!strcmp(t->format, "hlt")) {
		r->hlt = hlt_open(fd);
		if (!r->hlt)
			return -1;
		r->sink.ext_event = hlt_sink_event;
		r->sink.ext_end = hlt_sink_end;
		r->sink.ext = r->hlt;
	}
	return 0;
}

static void detach_ext(struct run *r)
{
	int err = 0;

	if (r->perfetto)
		err = hl_perfetto_close(r->perfetto);
	if (r->hlt)
		err = hlt_close(r->hlt);
	if (r->summary) {
		hl_summary_fini(r->summary);
		free(r->summary);
	}
	if (r->summary_out && fclose(r->summary_out))
		err = errno;
	if (err && err != EPIPE)
		hl_warn(CMD, "writing the trace failed: %s (it is "
			"incomplete)", strerror(err));
}

/* LD_PRELOAD = tap (when calls are traced) in front of the allocator. */
static int setup_tap(struct run *r, const struct hl_alloc *alloc,
		     unsigned long buffer, char *tap_real)
{
	char tap[PATH_MAX];
	const char *libs[2] = { NULL, alloc->path };

	if (r->use_tap) {
		hl_libpath(tap, sizeof(tap), TAP_SO);
		if (!realpath(tap, tap_real)) {
			hl_warn(CMD, "the call tap is not built (%s is "
				"missing); run 'make'", tap);
			return -1;
		}
		if (hl_tap_create(&r->tap, HL_TAP_LANES, (uint32_t)buffer) < 0 ||
		    hl_tap_setenv(&r->tap) < 0) {
			hl_warn(CMD, "cannot create the tap ring: %s",
				strerror(errno));
			return -1;
		}
		libs[0] = tap_real;
	}
	if (hl_set_preload(libs, 2) < 0) {
		hl_warn(CMD, "cannot set LD_PRELOAD: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Traces with everything set up; returns CMD's status. */
static int trace_run(struct run *r, const struct trace_opts *t, char *path,
		     char **argv, const char *tap_real, const char *alloc_path)
{
	struct hl_ptrace_result res;
	struct hl_ptrace_opts po = {
		.cmd = CMD, .path = path, .argv = argv,
		.syscalls = strcmp(t->events, "calls") != 0,
		.tap = r->use_tap ? &r->tap : NULL,
		.tap_path = r->use_tap ? tap_real : NULL,
		.tl = &r->tl, .on_interrupt = interrupted, .ctx = r,
	};

	hl_tl_init(&r->tl, &r->sink);
	/* A closed reader of the trace must not kill the tracer (and, by
	 * PTRACE_O_EXITKILL, the target): the sink notes EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	r->er.engine = t->engine;
	r->er.alloc_path = alloc_path;
	r->er.uprobes = t->uprobes;
	r->er.hlt = r->hlt;
	if (hl_engine_run(&r->er, &po, &res) == 0 || res.started) {
		hl_tl_flush(&r->tl);
		end_trace(r, !res.interrupted, res.status,
			  res.interrupted ? "interrupted" : NULL);
		check_tap_loaded(r);
	}
	if (r->sink.err && r->sink.err != EPIPE)
		hl_warn(CMD, "writing the trace failed: %s (it is "
			"incomplete)", strerror(r->sink.err));
	hl_tl_fini(&r->tl);
	return res.status;
}

/* -o naming the -i file would empty it before it is read. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return b && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* -i FILE: a trace recorded with -f hlt, out through the sink. */
static int render(const struct trace_opts *t)
{
	struct run *r;
	const char *why;
	int in, fd = -1, rc = HL_EXIT_FAIL;

	if (same_file(t->input, t->output))
		return hl_usage(CMD, "-o names the -i file ('%s')", t->input);
	in = open(t->input, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		hl_warn(CMD, "cannot read '%s': %s", t->input, strerror(errno));
		return HL_EXIT_FAIL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		hl_die(CMD, "out of memory");
	signal(SIGPIPE, SIG_IGN);
	fd = open_output(t->output);
	if (fd < 0)
		goto out;
	if (hl_sink_open(&r->sink, fd, strcmp(t->format, "jsonl") ?
			 HL_FMT_TEXT : HL_FMT_JSONL) < 0 ||
	    attach_ext(r, t, fd) < 0) {
		hl_warn(CMD, "out of memory");
		goto out;
	}
	if (hlt_read(in, &r->sink, &why) == 0)
		rc = 0;
	else
		hl_warn(CMD, "%s: %s", t->input, why);
	hl_sink_close(&r->sink);
	if (r->sink.err && r->sink.err != EPIPE)
		hl_warn(CMD, "writing the trace failed: %s (it is "
			"incomplete)", strerror(r->sink.err));
out:
	detach_ext(r);
	if (fd > STDERR_FILENO)
		close(fd);
	close(in);
	free(r);
	return rc;
}

static int trace_main(int argc, char **argv)
{
	struct trace_opts t = {
		.engine = "auto", .alloc = "glibc", .events = "all",
		.format = "text", .buffer = HL_TAP_NRECS,
	};
	char path[PATH_MAX], tap_real[PATH_MAX] = "";
	struct hl_alloc alloc;
	struct run *r;
	int rc, fd = -1;

	rc = parse(argc, argv, &t);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (t.input)
		return render(&t);
	if (!strcmp(t.format, "hlt") && !t.summary && isatty(fd_of(t.output)))
		return hl_usage(CMD, "-f hlt is binary: not to a terminal");
	if (hl_alloc_resolve(CMD, t.alloc, &alloc) < 0)
		return HL_EXIT_USAGE;
	rc = resolve_cmd(argv[optind], path, sizeof(path));
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		hl_die(CMD, "out of memory");
	r->tap.fd = -1;
	rc = HL_EXIT_FAIL;
	/* The ring first: its fd is then the same (3) from run to run. */
	r->use_tap = strcmp(t.events, "syscalls") != 0 && !t.uprobes;
	if (setup_tap(r, &alloc, t.buffer, tap_real) < 0)
		goto out;
	fd = open_output(t.output);
	if (fd < 0)
		goto out;
	if (hl_sink_open(&r->sink, fd, strcmp(t.format, "jsonl") ?
			 HL_FMT_TEXT : HL_FMT_JSONL) < 0) {
		hl_warn(CMD, "out of memory");
		goto out;
	}
	if (attach_ext(r, &t, fd) < 0) {
		hl_warn(CMD, "out of memory");
		goto out;
	}
	rc = trace_run(r, &t, path, argv + optind, tap_real, alloc.path);
	hl_sink_close(&r->sink);
out:
	detach_ext(r);
	hl_tap_destroy(&r->tap);
	if (fd > STDERR_FILENO)
		close(fd);
	free(r);
	return rc;
}

const struct hl_cmd hl_cmd_trace = {
	.name = "trace",
	.summary = "trace a command's memory syscalls and allocator calls",
	.main = trace_main,
	.help = trace_help,
};
