// SPDX-License-Identifier: MIT
/*
 * experiment.c — `heaplab experiment NAME [ARGS]` and `--list`.
 *
 * The drivers themselves are one file each beside this one; to add one,
 * define its struct hl_cmd there and list it below.
 */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiments/experiment.h"

extern const struct hl_cmd hl_exp_bins;
extern const struct hl_cmd hl_exp_arenas;
extern const struct hl_cmd hl_exp_fingerprint;
extern const struct hl_cmd hl_exp_threshold;
extern const struct hl_cmd hl_exp_preload, hl_exp_magic, hl_exp_fragment,
	hl_exp_split, hl_exp_coalesce, hl_exp_progression;
extern const struct hl_cmd hl_exp_recon;

const struct hl_cmd *const hl_experiments[] = {
	&hl_exp_recon,
	&hl_exp_threshold,
	&hl_exp_preload,
	&hl_exp_magic,
	&hl_exp_fragment,
	&hl_exp_split,
	&hl_exp_coalesce,
	&hl_exp_progression,
	&hl_exp_bins,
	&hl_exp_arenas,
	&hl_exp_fingerprint,
	NULL,
};

const struct hl_cmd *hl_experiment_find(const char *name)
{
	for (const struct hl_cmd *const *e = hl_experiments; *e; e++)
		if (strcmp((*e)->name, name) == 0)
			return *e;
	return NULL;
}

int hl_exp_parse(const char *cmd, int argc, char **argv,
		 void (*help)(FILE *), const char **alloc, int *json)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': *alloc = optarg; break;
		case 'j': *json = 1; break;
		case 'h': help(stdout); return 0;
		default: return hl_getopt_error(cmd, c, argv);
		}
	}
	if (optind < argc)
		return hl_usage(cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

char *hl_target_path(char *buf, size_t len, const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "experiments/targets/%s", name);
	hl_libpath(buf, len, rel);
	if (access(buf, X_OK) != 0)
		hl_die(NULL, "experiment target %s is not built; run 'make'",
		       buf);
	return buf;
}

static void experiment_help(FILE *out)
{
	fprintf(out,
		"Usage: heaplab experiment --list\n"
		"       heaplab experiment NAME [OPTIONS] [--json]\n"
		"\n"
		"Runs one of heaplab's experiments on this machine and prints\n"
		"what it asked, what it measured and what that shows; with\n"
		"--json, the measured data as one JSON document.\n"
		"'heaplab experiment NAME --help' shows its options.\n"
		"\n"
		"Experiments:\n");
	for (const struct hl_cmd *const *e = hl_experiments; *e; e++)
		fprintf(out, "  %-12s %s\n", (*e)->name, (*e)->summary);
}

static int experiment_main(int argc, char **argv)
{
	const struct hl_cmd *e;

	if (argc < 2)
		return hl_usage("experiment", "no experiment named "
				"(see 'heaplab experiment --list')");
	if (!strcmp(argv[1], "--list") || !strcmp(argv[1], "-l")) {
		if (argc > 2)
			return hl_usage("experiment", "--list takes no arguments");
		for (const struct hl_cmd *const *p = hl_experiments; *p; p++)
			printf("%-12s %s\n", (*p)->name, (*p)->summary);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		experiment_help(stdout);
		return 0;
	}
	e = hl_experiment_find(argv[1]);
	if (!e)
		return hl_usage("experiment", "unknown experiment '%s' "
				"(see 'heaplab experiment --list')", argv[1]);
	return e->main(argc - 1, argv + 1);
}

const struct hl_cmd hl_cmd_experiment = {
	.name = "experiment",
	.summary = "run one of the experiments (--list lists them)",
	.main = experiment_main,
	.help = experiment_help,
};
