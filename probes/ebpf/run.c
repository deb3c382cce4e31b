// SPDX-License-Identifier: MIT
/* run.c — engine choice for `heaplab trace` (run.h). */
#include <string.h>

#include "lab/heaplab.h"
#include "probes/ebpf/engine.h"
#include "probes/ebpf/run.h"

static int run_ebpf(struct hl_engine_run *er, struct hl_ebpf_engine *g,
		    struct hl_ptrace_result *res)
{
	struct hl_ebpf_result r;
	int rc;

	er->used = "ebpf";
	rc = hl_ebpf_engine_run(g, &r);
	res->status = r.status;
	res->interrupted = r.interrupted;
	res->started = r.started;
	er->lost = r.lost;
	er->err = r.err;
	return rc;
}

int hl_engine_run(struct hl_engine_run *er, const struct hl_ptrace_opts *po,
		  struct hl_ptrace_result *res)
{
	struct hl_ebpf_run_opts eo = {
		.cmd = po->cmd, .path = po->path, .argv = po->argv,
		.syscalls = po->syscalls, .tap = po->tap,
		.tap_path = po->tap_path, .alloc_path = er->alloc_path,
		.uprobes = er->uprobes, .tl = po->tl, .hlt = er->hlt,
		.on_interrupt = po->on_interrupt, .ctx = po->ctx,
	};
	struct hl_ebpf_engine *g = NULL;
	char why[512] = "";

	memset(res, 0, sizeof(*res));
	res->status = HL_EXIT_FAIL;	/* until CMD has run */
	er->lost = 0;
	er->err = 0;
	if (strcmp(er->engine, "ptrace")) {
		g = hl_ebpf_engine_open(&eo, why, sizeof(why));
		if (g) {
			if (!strcmp(er->engine, "auto"))
				hl_warn(po->cmd, "engine auto: using ebpf (its "
					"programs loaded)");
			return run_ebpf(er, g, res);
		}
		if (strcmp(er->engine, "auto") || er->uprobes) {
			hl_warn(po->cmd, "the ebpf engine cannot run here: %s", why);
			return -1;
		}
		hl_warn(po->cmd, "engine auto: using ptrace (ebpf: %s)", why);
	}
	er->used = "ptrace";
	return hl_ptrace_run(po, res);
}
