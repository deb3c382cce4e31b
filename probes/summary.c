// SPDX-License-Identifier: MIT
/* summary.c — the `-c` tables (summary.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "probes/summary.h"

void hl_summary_init(struct hl_summary *s)
{
	memset(s, 0, sizeof(*s));
}

void hl_summary_fini(struct hl_summary *s)
{
	hl_tidmap_each(&s->brk, i)
		free(s->brk.vals[i]);
	hl_tidmap_free(&s->brk);
}

static int failed(const struct hl_event *ev)
{
	return !(ev->flags & HL_EVF_UNFINISHED) && ev->ret < 0 && ev->ret >= -4095;
}

static unsigned cause_col(const struct hl_event *ev, const struct hl_event *cause)
{
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		return 1;
	case HL_CAUSE_TAP:
		return 2;
	case HL_CAUSE_CALL:
		if (cause && hl_kind_info(cause->kind))
			return HL_SUM_CAUSE_CALL + cause->kind;
	}
	return 0;
}

/* A process's break: where brk(0) first found it, and where it is now. */
struct brk_state {
	uint64_t cur;
};

static void track_brk(struct hl_summary *s, const struct hl_event *ev)
{
	struct brk_state *b = hl_tidmap_get(&s->brk, ev->pid);
	uint64_t now = (uint64_t)ev->ret;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || hl_tidmap_put(&s->brk, ev->pid, b) < 0) {
			free(b);
			return;
		}
		b->cur = now;	/* the first brk, brk(NULL): the start */
		return;
	}
	if (now > b->cur)
		s->brk_grew += now - b->cur;
	else
		s->brk_shrank += b->cur - now;
	b->cur = now;
}

static void count_bytes(struct hl_summary *s, const struct hl_event *ev)
{
	switch (ev->kind) {
	case HL_EV_MMAP:
		s->mapped += ev->args[1];
		break;
	case HL_EV_MUNMAP:
		s->unmapped += ev->args[1];
		break;
	case HL_EV_MREMAP:
		if (ev->args[2] > ev->args[1])
			s->mapped += ev->args[2] - ev->args[1];
		else
			s->unmapped += ev->args[1] - ev->args[2];
		break;
	case HL_EV_BRK:
		track_brk(s, ev);
		break;
	}
}

static void forget_brk(struct hl_summary *s, uint32_t pid)
{
	free(hl_tidmap_del(&s->brk, pid));
}

void hl_summary_event(struct hl_summary *s, const struct hl_event *ev,
		      const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	(void)str;
	if (!ki)
		return;
	s->events++;
	s->count[ev->kind]++;
	if (ev->flags & HL_EVF_UNFINISHED)
		s->unfinished[ev->kind]++;
	if (ev->end_ns > ev->ts_ns)
		s->ns[ev->kind] += ev->end_ns - ev->ts_ns;
	switch (ki->class) {
	case HL_KC_SYSCALL:
		s->by_cause[ev->kind][cause_col(ev, cause)]++;
		if (failed(ev))
			s->errors[ev->kind]++;
		else if (ev->cause == HL_CAUSE_TAP)
			s->tap_mapped += ev->kind == HL_EV_MMAP ? ev->args[1] : 0;
		else if (!(ev->flags & HL_EVF_UNFINISHED))
			count_bytes(s, ev);
		break;
	case HL_KC_CALL:
		if (ev->kind == HL_EV_CALLOC || ev->kind == HL_EV_REALLOCARRAY)
			s->requested += ev->args[ki->nargs - 2] * ev->args[ki->nargs - 1];
		else if (ev->kind == HL_EV_POSIX_MEMALIGN)
			s->requested += ev->args[2];
		else if (ev->kind != HL_EV_FREE)
			s->requested += ev->args[ki->nargs - 1];
		break;
	case HL_KC_PROCESS:
		if (ev->kind == HL_EV_FORK && ev->args[2])
			s->threads++;
		else if (ev->kind == HL_EV_FORK)
			s->processes++;
		else if (ev->kind == HL_EV_EXEC) {
			s->execs++;
			forget_brk(s, ev->pid);	/* a new image, a new break */
		}
		break;
	}
}

static void print_calls(const struct hl_summary *s, FILE *out, int class,
			const char *title)
{
	int any = 0;

	for (unsigned k = 1; k < HL_EV_NKINDS; k++) {
		if (hl_kinds[k].class != class || !s->count[k])
			continue;
		if (!any++)
			fprintf(out, "%-16s %10s %10s %12s\n", title, "calls",
				class == HL_KC_SYSCALL ? "errors" : "",
				class == HL_KC_INTERNAL ? "" : "usecs/call");
		fprintf(out, "%-16s %10" PRIu64, hl_kinds[k].name, s->count[k]);
		if (class == HL_KC_SYSCALL)
			fprintf(out, " %10" PRIu64, s->errors[k]);
		else
			fprintf(out, " %10s", "");
		if (class == HL_KC_INTERNAL)	/* instants: no time inside */
			fputc('\n', out);
		else
			fprintf(out, " %12.3f\n", s->ns[k] / 1e3 / s->count[k]);
	}
	if (any)
		fputc('\n', out);
}

static const char *col_name(unsigned c)
{
	static const char *const fixed[] = { "none", "loader", "tap" };

	return c < HL_SUM_CAUSE_CALL ? fixed[c] : hl_kinds[c - HL_SUM_CAUSE_CALL].name;
}

/* Syscalls per cause: a column for each cause that caused anything. */
static void print_causes(const struct hl_summary *s, FILE *out)
{
	unsigned cols[HL_SUM_CAUSES], ncols = 0;

	for (unsigned c = 0; c < HL_SUM_CAUSES; c++) {
		uint64_t n = 0;

		for (unsigned k = 1; k < HL_EV_NKINDS; k++)
			n += s->by_cause[k][c];
		if (n)
			cols[ncols++] = c;
	}
	if (!ncols)
		return;
	fprintf(out, "%-16s", "syscall \\ cause");
	for (unsigned i = 0; i < ncols; i++)
		fprintf(out, " %9s", col_name(cols[i]));
	fputc('\n', out);
	for (unsigned k = 1; k < HL_EV_NKINDS; k++) {
		if (hl_kinds[k].class != HL_KC_SYSCALL || !s->count[k])
			continue;
		fprintf(out, "%-16s", hl_kinds[k].name);
		for (unsigned i = 0; i < ncols; i++)
			fprintf(out, " %9" PRIu64, s->by_cause[k][cols[i]]);
		fputc('\n', out);
	}
	fputc('\n', out);
}

void hl_summary_print(const struct hl_summary *s, FILE *out,
		      const struct hl_trace_end *e)
{
	int64_t moved = (int64_t)(s->brk_grew - s->brk_shrank);

	print_calls(s, out, HL_KC_CALL, "allocator call");
	print_calls(s, out, HL_KC_SYSCALL, "syscall");
	print_causes(s, out);
	print_calls(s, out, HL_KC_INTERNAL, "allocator event");
	fprintf(out, "bytes requested  %" PRIu64 " (malloc family)\n", s->requested);
	fprintf(out, "bytes mapped     %" PRIu64 " (mmap, mremap growth; not "
		"counting heaplab's tap, %" PRIu64 ")\n", s->mapped, s->tap_mapped);
	fprintf(out, "bytes unmapped   %" PRIu64 " (munmap, mremap shrinkage)\n",
		s->unmapped);
	fprintf(out, "break moved      %+" PRId64 " (grew %" PRIu64 ", shrank %"
		PRIu64 ")\n", moved, s->brk_grew, s->brk_shrank);
	fprintf(out, "processes        %" PRIu64 " forked, %" PRIu64 " execs, %"
		PRIu64 " threads created\n", s->processes, s->execs, s->threads);
	fprintf(out, "events           %" PRIu64 " recorded, %" PRIu64 " dropped\n",
		s->events, e ? e->dropped : 0);
	if (e)
		fprintf(out, "trace            %s, engine %s, status %d%s%s%s\n",
			e->complete ? "complete" : "INCOMPLETE",
			e->engine ? e->engine : "?", e->status,
			e->reason ? " (" : "", e->reason ? e->reason : "",
			e->reason ? ")" : "");
}
