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

char *hl_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 65536) {
			cap = cap ? 2 * cap : 1 << 20;
			buf = realloc(buf, cap);
			if (!buf)
				hl_die(NULL, "out of memory");
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	fclose(f);
	return buf;
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
