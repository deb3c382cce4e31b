// SPDX-License-Identifier: MIT
/*
 * mtdump — the ebpf engine without the rest of heaplab: runs CMD held
 * before exec until memtrace is attached, and prints every raw record.
 * The tests use it to check the kernel side on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probes/ebpf/ebpf.h"

static int print(const struct mt_hdr *h, void *ctx)
{
	(void)ctx;
	printf("%llu %u %u ", h->ts_ns, h->pid, h->tid);
	switch (h->type) {
	case MT_SYSCALL: {
		const struct mt_syscall *s = (const void *)h;
		printf("%s %llx %llx %llx %llx %llx %llx = %llx ip=%llx flags=%u\n",
		       hl_ebpf_syscall_name(s->nr), s->args[0], s->args[1],
		       s->args[2], s->args[3], s->args[4], s->args[5],
		       (unsigned long long)s->ret, s->ip, s->flags);
		break;
	}
	case MT_FORK: {
		const struct mt_fork *f = (const void *)h;
		printf("fork %u %u thread=%u %s\n", f->child_pid, f->child_tid,
		       f->thread, f->comm);
		break;
	}
	case MT_EXEC: {
		const struct mt_exec *x = (const void *)h;
		printf("exec %s %s base=%llx\n", x->path, x->comm, x->interp_base);
		break;
	}
	case MT_EXIT: {
		const struct mt_exit *x = (const void *)h;
		printf("exit code=%d group=%u\n", x->code, x->group_dead);
		break;
	}
	default:
		printf("type %u\n", h->type);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct hl_ebpf_opts o = { .syscalls = 1 };
	struct hl_ebpf *e;
	char why[512], go;
	int hold[2], status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: mtdump CMD [ARGS]\n");
		return 2;
	}
	e = hl_ebpf_open(&o, print, NULL, why, sizeof(why));
	if (!e) {
		fprintf(stderr, "mtdump: %s\n", why);
		return 77;
	}
	if (pipe(hold) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(hold[1]);
		if (read(hold[0], &go, 1) != 1)
			_exit(126);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	close(hold[0]);
	if (hl_ebpf_follow(e, pid) < 0)
		return 1;
	if (write(hold[1], "", 1) != 1)
		return 1;
	close(hold[1]);
	while (hl_ebpf_live(e) > 0)
		hl_ebpf_poll(e, 20);
	hl_ebpf_poll(e, 0);
	waitpid(pid, &status, 0);
	fprintf(stderr, "drops %llu\n", hl_ebpf_drops(e));
	hl_ebpf_close(e);
	return 0;
}
