// SPDX-License-Identifier: MIT
/*
 * target.c — running an experiment's target program with an allocator
 * preloaded and collecting what it prints.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "experiments/experiment.h"

static char *read_all(int fd, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		hl_die(NULL, "out of memory");
	for (;;) {
		if (cap - len < 2048) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				hl_die(NULL, "out of memory");
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

int hl_target_capture(const struct hl_alloc *alloc, char *const argv[],
		      char **out)
{
	const char *libs[] = { alloc ? alloc->path : NULL };
	int pfd[2], wstatus;
	size_t len;
	pid_t pid;

	if (pipe(pfd) < 0)
		hl_die(NULL, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		hl_die(NULL, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		if (hl_set_preload(libs, 1) < 0)
			_exit(127);
		execv(argv[0], argv);
		hl_warn(NULL, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	*out = read_all(pfd[0], &len);
	close(pfd[0]);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			hl_die(NULL, "waitpid: %s", strerror(errno));
	return hl_exit_status(wstatus);
}

long long hl_out_value(const char *out, const char *key, long long dflt)
{
	size_t klen = strlen(key);

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (!strncmp(l, key, klen) && l[klen] == ' ')
			return strtoll(l + klen + 1, NULL, 0);
	return dflt;
}
