// SPDX-License-Identifier: MIT
/*
 * mtdump — the ebpf engine without the rest of heaplab: runs CMD held
 * before exec until memtrace is attached, and prints every raw record.
 * The tests use it to check the kernel side on its own.
 *
 *   mtdump [-u OBJ] [-c OBJ] CMD [ARGS]
 *     -u OBJ  also attach OBJ's heaplab USDT probes (cookie = list index)
 *     -c OBJ  also attach uprobes to malloc (1) and free (2) in OBJ
 */
#include <errno.h>
#include <getopt.h>
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
	case MT_USDT: {
		const struct mt_usdt *u = (const void *)h;
		printf("usdt %u %u %llx %llx\n", u->probe, u->nargs, u->args[0],
		       u->args[1]);
		break;
	}
	case MT_CALL: {
		const struct mt_call *c = (const void *)h;
		printf("call %u %llx = %llx dur=%llu\n", c->fn, c->args[0], c->ret,
		       c->exit_ns - c->h.ts_ns);
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

	static const struct hl_ebpf_probe usdts[] = {
		{ "heap_grow", 1 }, { "heap_shrink", 2 }, { "arena_new", 3 },
		{ "trim", 4 }, { "threshold", 5 },
	};
	static const struct hl_ebpf_probe fns[] = { { "malloc", 1 }, { "free", 2 } };
	const char *usdt_obj = NULL, *call_obj = NULL;
	int c, n;

	while ((c = getopt(argc, argv, "+u:c:")) != -1) {
		if (c == 'u')
			usdt_obj = optarg;
		else if (c == 'c')
			call_obj = optarg;
		else
			return 2;
	}
	argv += optind - 1;
	argc -= optind - 1;
	if (argc < 2) {
		fprintf(stderr, "usage: mtdump [-u OBJ] [-c OBJ] CMD [ARGS]\n");
		return 2;
	}
	o.usdt = usdt_obj != NULL;
	o.calls = call_obj != NULL;
	e = hl_ebpf_open(&o, print, NULL, why, sizeof(why));
	if (!e) {
		fprintf(stderr, "mtdump: %s\n", why);
		return 77;
	}
	fprintf(stderr, "btf %s\n", hl_ebpf_btf(e));
	if (usdt_obj) {
		n = hl_ebpf_attach_usdt(e, usdt_obj, "heaplab", usdts, 5, why, sizeof(why));
		if (n < 0) {
			fprintf(stderr, "mtdump: %s\n", why);
			return 1;
		}
		fprintf(stderr, "usdt %d\n", n);
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
	/* By pid, before it is released: its calls alone, from its start. */
	if (call_obj) {
		n = hl_ebpf_attach_calls(e, call_obj, pid, fns, 2, why, sizeof(why));
		if (n < 0) {
			fprintf(stderr, "mtdump: %s\n", why);
			return 1;
		}
		fprintf(stderr, "calls %d\n", n);
	}
	if (write(hold[1], "", 1) != 1)
		return 1;
	close(hold[1]);
	while (hl_ebpf_live(e) > 0)
		hl_ebpf_poll(e, 20);
	hl_ebpf_poll(e, 0);
	waitpid(pid, &status, 0);
	fprintf(stderr, "drops %llu\n", hl_ebpf_drops(e));
	fprintf(stderr, "pending %ld\n", hl_ebpf_pending(e));
	hl_ebpf_close(e);
	return 0;
}
