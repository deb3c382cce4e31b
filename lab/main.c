// SPDX-License-Identifier: MIT
/*
 * main.c — `heaplab`: subcommand dispatch, --help, --version, `help CMD`.
 *
 * Every subcommand lives in the area that owns it and exports one
 * `struct hl_cmd`; this file only lists them.
 */
#include <stdlib.h>
#include <string.h>

#include "lab/heaplab.h"

extern const struct hl_cmd hl_cmd_run;
extern const struct hl_cmd hl_cmd_trace;
extern const struct hl_cmd hl_cmd_experiment;
extern const struct hl_cmd hl_cmd_help;
extern const struct hl_cmd hl_exp_bins;
extern const struct hl_cmd hl_exp_arenas;
extern const struct hl_cmd hl_exp_fingerprint;
extern const struct hl_cmd hl_exp_threshold;
extern const struct hl_cmd hl_exp_recon;
extern const struct hl_cmd hl_cmd_report;
extern const struct hl_cmd hl_cmd_replay;

const struct hl_cmd *const hl_cmds[] = {
	&hl_cmd_run,
	&hl_cmd_trace,
	&hl_cmd_experiment,
	&hl_exp_recon,
	&hl_exp_threshold,
	&hl_exp_bins,
	&hl_exp_arenas,
	&hl_exp_fingerprint,
	&hl_cmd_replay,
	&hl_cmd_report,
	&hl_cmd_help,
	NULL,
};

const struct hl_cmd *hl_cmd_find(const char *name)
{
	for (const struct hl_cmd *const *c = hl_cmds; *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: heaplab [--help] [--version] COMMAND [ARGS]\n"
		"\n"
		"See how memory allocators talk to the kernel.\n"
		"\n"
		"Commands:\n");
	for (const struct hl_cmd *const *c = hl_cmds; *c; c++)
		fprintf(out, "  %-12s %s\n", (*c)->name, (*c)->summary);
	fprintf(out,
		"\n"
		"Allocators (-a): glibc, heaplab, phase1..phase6, jemalloc, mimalloc,\n"
		"tcmalloc, or a path to a shared object.\n"
		"\n"
		"'heaplab help COMMAND' shows the options of one command.\n");
}

static int help_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		return hl_usage("help", "too many arguments");
	const struct hl_cmd *c = hl_cmd_find(argv[1]);
	if (!c)
		return hl_usage("help", "unknown command '%s'", argv[1]);
	c->help(stdout);
	return 0;
}

static void help_help(FILE *out)
{
	fprintf(out, "Usage: heaplab help [COMMAND]\n\n"
		     "Shows the list of commands, or the options of COMMAND.\n");
}

const struct hl_cmd hl_cmd_help = {
	.name = "help",
	.summary = "show the options of a command",
	.main = help_main,
	.help = help_help,
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	const char *name = argv[1];

	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("heaplab %s\n", HEAPLAB_VERSION);
		return 0;
	}
	if (name[0] == '-') {
		fprintf(stderr, "heaplab: unknown option '%s'\n"
				"Try 'heaplab --help'.\n", name);
		return HL_EXIT_USAGE;
	}
	const struct hl_cmd *c = hl_cmd_find(name);
	if (!c) {
		fprintf(stderr, "heaplab: unknown command '%s'\n"
				"Try 'heaplab --help'.\n", name);
		return HL_EXIT_USAGE;
	}
	return c->main(argc - 1, argv + 1);
}
