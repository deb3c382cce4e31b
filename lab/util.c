// SPDX-License-Identifier: MIT
/* util.c — messages in one voice, and wait statuses as a shell reports them. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "lab/heaplab.h"

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
	if (cmd)
		fprintf(stderr, "heaplab %s: ", cmd);
	else
		fputs("heaplab: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void hl_warn(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
}

void hl_die(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	exit(HL_EXIT_FAIL);
}

int hl_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'heaplab help %s'.\n", cmd);
	return HL_EXIT_USAGE;
}

int hl_getopt_error(const char *cmd, int c, char **argv)
{
	const char *opt = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	/* optopt names the culprit in a cluster like -xq; 0 for long options. */
	if (optopt && !(opt[0] == '-' && opt[1] == '-'))
		opt = shortopt;
	if (c == ':')
		return hl_usage(cmd, "option '%s' needs an argument", opt);
	return hl_usage(cmd, "unknown option '%s'", opt);
}

int hl_exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return HL_EXIT_FAIL;
}
