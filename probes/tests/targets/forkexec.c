// SPDX-License-Identifier: MIT
/*
 * forkexec.c [fork|vfork|leaf] — the parent mallocs, then starts a child
 * with fork (or vfork) that execs this program again as "leaf"; the leaf
 * mallocs 200000 bytes (an mmap) and exits 5.  The parent waits and exits
 * with 0 when the child's status was 5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int leaf(void)
{
	char *p = malloc(200000);

	if (!p)
		return 1;
	p[0] = 1;
	free(p);
	return 5;
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "fork";
	char *args[] = { argv[0], "leaf", NULL };
	static char *p;
	pid_t pid;
	int st;

	if (!strcmp(how, "leaf"))
		return leaf();
	p = malloc(1000);
	if (!p)
		return 1;
	pid = !strcmp(how, "vfork") ? vfork() : fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execv("/proc/self/exe", args);
		_exit(127);
	}
	free(p);
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}
