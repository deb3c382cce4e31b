// SPDX-License-Identifier: MIT
/* run.c — `heaplab run [-a ALLOC] -- CMD...`: CMD with an allocator preloaded. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/heaplab.h"

static void run_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab run [-a ALLOC] [--] CMD [ARGS...]\n"
		"\n"
		"Runs CMD with ALLOC preloaded (LD_PRELOAD, in front of any the\n"
		"environment already has) and exits with CMD's exit status, or\n"
		"128+N when CMD dies of signal N.\n"
		"\n"
		"  -a, --alloc ALLOC   glibc (default), heaplab, phase1..phase6,\n"
		"                      jemalloc, mimalloc, tcmalloc, or a path to a .so\n"
		"  -h, --help          this text\n");
}

int hl_run_with(const char *cmd, const struct hl_alloc *alloc, char **argv)
{
	const char *libs[] = { alloc->path };
	int wstatus;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		hl_die(cmd, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (hl_set_preload(libs, 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		hl_warn(cmd, "cannot run '%s': %s", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* The terminal's Ctrl-C reaches CMD itself; we wait for its verdict. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			hl_die(cmd, "waitpid: %s", strerror(errno));
	return hl_exit_status(wstatus);
}

static int run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *alloc_name = "glibc";
	struct hl_alloc alloc;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			alloc_name = optarg;
			break;
		case 'h':
			run_help(stdout);
			return 0;
		default:
			return hl_getopt_error("run", c, argv);
		}
	}
	if (optind >= argc)
		return hl_usage("run", "no command given");
	if (hl_alloc_resolve("run", alloc_name, &alloc) < 0)
		return HL_EXIT_USAGE;
	return hl_run_with("run", &alloc, argv + optind);
}

const struct hl_cmd hl_cmd_run = {
	.name = "run",
	.summary = "run a command with an allocator preloaded",
	.main = run_main,
	.help = run_help,
};
