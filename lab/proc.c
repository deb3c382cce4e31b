// SPDX-License-Identifier: MIT
/* proc.c — run a program and collect what it prints on stdout and stderr. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/heaplab.h"

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_read(struct buf *b, int fd, int *open)
{
	ssize_t n;

	if (b->cap - b->len < 4096) {
		b->cap = b->cap ? 2 * b->cap : 16384;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			hl_die(NULL, "out of memory");
	}
	n = read(fd, b->p + b->len, b->cap - b->len - 1);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*open = 0;
		return;
	}
	b->len += n;
}

static char *buf_take(struct buf *b)
{
	if (!b->p) {
		b->p = malloc(1);
		if (!b->p)
			hl_die(NULL, "out of memory");
	}
	b->p[b->len] = '\0';
	return b->p;
}

int hl_capture(char *const argv[], const char *const preload[], size_t n,
	       char **out, char **err)
{
	int po[2], pe[2], wstatus, open_o = 1, open_e = err != NULL;
	struct buf bo = { 0 }, be = { 0 };
	pid_t pid;

	if (pipe(po) < 0 || (err && pipe(pe) < 0))
		hl_die(NULL, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		hl_die(NULL, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(po[1], STDOUT_FILENO);
		close(po[0]);
		close(po[1]);
		if (err) {
			dup2(pe[1], STDERR_FILENO);
			close(pe[0]);
			close(pe[1]);
		}
		if (n && hl_set_preload(preload, n) < 0)
			_exit(127);
		execv(argv[0], argv);
		hl_warn(NULL, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	if (err)
		close(pe[1]);
	while (open_o || open_e) {
		struct pollfd fds[2] = {
			{ .fd = open_o ? po[0] : -1, .events = POLLIN },
			{ .fd = open_e ? pe[0] : -1, .events = POLLIN },
		};

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			hl_die(NULL, "poll: %s", strerror(errno));
		}
		if (fds[0].revents)
			buf_read(&bo, po[0], &open_o);
		if (fds[1].revents)
			buf_read(&be, pe[0], &open_e);
	}
	close(po[0]);
	if (err)
		close(pe[0]);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			hl_die(NULL, "waitpid: %s", strerror(errno));
	*out = buf_take(&bo);
	if (err)
		*err = buf_take(&be);
	return hl_exit_status(wstatus);
}
