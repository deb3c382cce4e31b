/* SPDX-License-Identifier: MIT */
/*
 * heaplab.h — what every part of the `heaplab` command shares: the command
 * table, error reporting with one voice, and where heaplab's own files live.
 */
#ifndef HEAPLAB_LAB_H
#define HEAPLAB_LAB_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef HEAPLAB_VERSION
#define HEAPLAB_VERSION "0"
#endif

/* Exit codes: a command's own failure is 1, bad usage is 2 (as getopt tools). */
enum { HL_EXIT_FAIL = 1, HL_EXIT_USAGE = 2 };

/* One subcommand: `heaplab NAME ...` calls main(argc, argv) with argv[0] = NAME. */
struct hl_cmd {
	const char *name;
	const char *summary;		/* one line for `heaplab --help` */
	int (*main)(int argc, char **argv);
	void (*help)(FILE *out);	/* full text for `heaplab help NAME` */
};

/* Every subcommand, in the order `heaplab --help` lists them (lab/main.c). */
extern const struct hl_cmd *const hl_cmds[];
const struct hl_cmd *hl_cmd_find(const char *name);

/* Messages: "heaplab CMD: ..." on stderr. */
void hl_warn(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
_Noreturn void hl_die(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints the problem and "Try 'heaplab help CMD'", returns HL_EXIT_USAGE. */
int hl_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * For getopt_long(3) run with a leading ':' in its optstring: reports the
 * option that getopt returned '?' or ':' for, returns HL_EXIT_USAGE.
 */
int hl_getopt_error(const char *cmd, int c, char **argv);

/* The whole of file PATH, NUL-terminated (malloc'd), or NULL with errno. */
char *hl_read_file(const char *path);

/*
 * Where heaplab's libraries live: beside the executable in a build tree
 * (build/heaplab, build/libheaplab.so), or PREFIX/lib/heaplab once installed.
 * Found from /proc/self/exe, never from the source tree.
 */
const char *hl_libdir(void);
/* hl_libdir()/REL into buf; returns buf. */
char *hl_libpath(char *buf, size_t len, const char *rel);

/*
 * Allocator names: glibc (nothing preloaded), heaplab, phase1..phase6,
 * jemalloc, mimalloc, tcmalloc, or a path to a shared object. On success
 * *path is "" for glibc, else the .so to preload. On failure prints why,
 * naming the allocator, and returns -1.
 */
struct hl_alloc {
	const char *name;		/* as the user wrote it */
	char path[4096];		/* "" for glibc */
};
int hl_alloc_resolve(const char *cmd, const char *name, struct hl_alloc *out);
/* The known allocator names, NULL-terminated (for --help and fingerprint). */
extern const char *const hl_alloc_names[];
/* True when NAME resolves without printing anything (installed/built). */
int hl_alloc_available(const char *name);

/*
 * LD_PRELOAD for a child: the libraries given (NULL or "" entries skipped),
 * in order, in front of whatever the user's LD_PRELOAD already holds.
 * Returns 0, or -1 with errno set.
 */
int hl_set_preload(const char *const libs[], size_t n);

/* A wait status as a shell reports it: the exit code, or 128+N for signal N. */
int hl_exit_status(int wstatus);

/*
 * Runs ARGV (argv[0] a path) with the N libraries of PRELOAD preloaded,
 * collecting its stdout into *OUT and, when ERR is not NULL, its stderr
 * into *ERR (else stderr passes through); both malloc'd, NUL-terminated.
 * Returns the exit status as a shell reports it.
 */
int hl_capture(char *const argv[], const char *const preload[], size_t n,
	       char **out, char **err);

/* Runs ARGV with ALLOC preloaded, waits, returns hl_exit_status(). */
int hl_run_with(const char *cmd, const struct hl_alloc *alloc, char **argv);

#endif
