// SPDX-License-Identifier: MIT
/*
 * perfetto.c — Chrome Trace Event JSON for ui.perfetto.dev (perfetto.h).
 *
 * Streams: each event is written as it comes, so memory stays bounded by
 * the live state (one record per process: its break and its mappings).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probes/perfetto.h"
#include "probes/tidmap.h"

#define PAGE 4096ULL

/* A mapped range [lo, hi) of one process. */
struct range {
	uint64_t lo, hi;
};

/* What a process's counter tracks need: its break and its mappings. */
struct proc {
	uint64_t brk_start, brk_cur;
	struct range *maps;		/* sorted, disjoint */
	size_t nmaps, cap;
	uint64_t mapped;		/* sum of maps */
	char name[64];
};

struct hl_perfetto {
	FILE *f;
	int err;
	uint64_t nevents;
	struct hl_tidmap procs;		/* pid -> struct proc */
};

struct hl_perfetto *hl_perfetto_open(int fd)
{
	struct hl_perfetto *p = calloc(1, sizeof(*p));
	int dfd;

	if (!p)
		return NULL;
	dfd = dup(fd);
	p->f = dfd < 0 ? NULL : fdopen(dfd, "w");
	if (!p->f) {
		if (dfd >= 0)
			close(dfd);
		free(p);
		return NULL;
	}
	setvbuf(p->f, NULL, _IOFBF, 1 << 20);
	fputs("{\"traceEvents\":[", p->f);
	return p;
}

/* ---- JSON pieces ---- */

static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Microseconds with three decimals: the nanoseconds, exactly. */
static void put_us(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* Opens one trace event object with the fields they all have. */
static void begin(struct hl_perfetto *p, const char *ph, const char *name,
		  const char *cat, uint32_t pid, uint32_t tid, uint64_t ts)
{
	fputs(p->nevents++ ? ",\n" : "\n", p->f);
	fprintf(p->f, "{\"ph\":\"%s\",\"name\":", ph);
	put_str(p->f, name);
	if (cat)
		fprintf(p->f, ",\"cat\":\"%s\"", cat);
	fprintf(p->f, ",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32 ",\"ts\":", pid, tid);
	put_us(p->f, ts);
}

/*
 * An event's arguments by their jsonl names. Addresses are hex strings:
 * the viewer's numbers are doubles, which would round a 48-bit address.
 */
static void put_args(FILE *f, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	for (unsigned i = 0; i < ki->nargs; i++) {
		fprintf(f, "%s\"%s\":", i ? "," : "", ki->arg[i]);
		if (ki->fmt[i] == HL_AF_ADDR)
			fprintf(f, "\"0x%" PRIx64 "\"", ev->args[i]);
		else if (ki->fmt[i] == HL_AF_INT)
			fprintf(f, "%d", (int32_t)ev->args[i]);
		else
			fprintf(f, "%" PRIu64, ev->args[i]);
	}
}

static void put_ret(FILE *f, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (ev->flags & HL_EVF_UNFINISHED)
		fputs(",\"unfinished\":true", f);
	else if (ki->flags & HL_KF_RET_NONE)
		return;
	else if (ki->flags & HL_KF_RET_ADDR && !(ev->ret < 0 && ev->ret >= -4095))
		fprintf(f, ",\"ret\":\"0x%" PRIx64 "\"", (uint64_t)ev->ret);
	else
		fprintf(f, ",\"ret\":%" PRId64, ev->ret);
}

/* ---- per-process state ---- */

static struct proc *proc_get(struct hl_perfetto *p, uint32_t pid)
{
	struct proc *pr = hl_tidmap_get(&p->procs, pid);

	if (pr)
		return pr;
	pr = calloc(1, sizeof(*pr));
	if (!pr || hl_tidmap_put(&p->procs, pid, pr) < 0) {
		free(pr);
		return NULL;
	}
	return pr;
}

/*
 * Removes [lo, hi) from the process's mappings. Splitting one range in two
 * needs one more slot: the caller has reserved it (maps_reserve).
 */
static void maps_remove(struct proc *pr, uint64_t lo, uint64_t hi)
{
	size_t i = 0;

	while (i < pr->nmaps) {
		struct range *r = &pr->maps[i];

		if (r->hi <= lo || r->lo >= hi) {
			i++;
		} else if (r->lo < lo && r->hi > hi) {
			memmove(r + 2, r + 1, (pr->nmaps - i - 1) * sizeof(*r));
			r[1] = (struct range){ hi, r->hi };
			r->hi = lo;
			pr->nmaps++;
			pr->mapped -= hi - lo;
			return;
		} else if (r->lo < lo) {
			pr->mapped -= r->hi - lo;
			r->hi = lo;
			i++;
		} else if (r->hi > hi) {
			pr->mapped -= hi - r->lo;
			r->lo = hi;
			i++;
		} else {
			pr->mapped -= r->hi - r->lo;
			memmove(r, r + 1, (pr->nmaps - i - 1) * sizeof(*r));
			pr->nmaps--;
		}
	}
}

static int maps_reserve(struct proc *pr, size_t more)
{
	struct range *n;
	size_t cap;

	if (pr->nmaps + more <= pr->cap)
		return 0;
	cap = pr->cap ? pr->cap * 2 : 64;
	while (cap < pr->nmaps + more)
		cap *= 2;
	n = realloc(pr->maps, cap * sizeof(*n));
	if (!n)
		return -1;
	pr->maps = n;
	pr->cap = cap;
	return 0;
}

static void maps_add(struct proc *pr, uint64_t lo, uint64_t hi)
{
	size_t i = 0;

	if (maps_reserve(pr, 2) < 0)
		return;
	maps_remove(pr, lo, hi);
	while (i < pr->nmaps && pr->maps[i].lo < lo)
		i++;
	memmove(&pr->maps[i + 1], &pr->maps[i],
		(pr->nmaps - i) * sizeof(*pr->maps));
	pr->maps[i] = (struct range){ lo, hi };
	pr->nmaps++;
	pr->mapped += hi - lo;
}

static uint64_t page_up(uint64_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

static void counter(struct hl_perfetto *p, const char *name, uint32_t pid,
		    uint64_t ts, uint64_t value)
{
	begin(p, "C", name, NULL, pid, pid, ts);
	fprintf(p->f, ",\"args\":{\"bytes\":%" PRIu64 "}}", value);
}

static int failed(const struct hl_event *ev)
{
	return (ev->flags & HL_EVF_UNFINISHED) || (ev->ret < 0 && ev->ret >= -4095);
}

/*
 * The counter tracks move with successful brk, mmap, munmap and mremap,
 * except the mappings heaplab's tap makes for itself.
 */
static void update_counters(struct hl_perfetto *p, const struct hl_event *ev)
{
	struct proc *pr;
	uint64_t before;

	if (failed(ev) || !(pr = proc_get(p, ev->pid)))
		return;
	before = pr->mapped;
	switch (ev->kind) {
	case HL_EV_BRK:
		if (!pr->brk_start)
			pr->brk_start = (uint64_t)ev->ret;
		if ((uint64_t)ev->ret == pr->brk_cur)
			return;
		pr->brk_cur = (uint64_t)ev->ret;
		counter(p, "program break (bytes above start)", ev->pid, ev->end_ns,
			pr->brk_cur > pr->brk_start ? pr->brk_cur - pr->brk_start : 0);
		return;
	case HL_EV_MMAP:
		/* The tap's ring is heaplab's own, not the program's memory. */
		if (ev->cause == HL_CAUSE_TAP)
			return;
		maps_add(pr, (uint64_t)ev->ret, (uint64_t)ev->ret + page_up(ev->args[1]));
		break;
	case HL_EV_MUNMAP:
		if (maps_reserve(pr, 1) == 0)
			maps_remove(pr, ev->args[0], ev->args[0] + page_up(ev->args[1]));
		break;
	case HL_EV_MREMAP:
		if (maps_reserve(pr, 1) == 0)
			maps_remove(pr, ev->args[0], ev->args[0] + page_up(ev->args[1]));
		maps_add(pr, (uint64_t)ev->ret, (uint64_t)ev->ret + page_up(ev->args[2]));
		break;
	default:
		return;
	}
	if (pr->mapped != before)
		counter(p, "mapped bytes (mmap)", ev->pid, ev->end_ns, pr->mapped);
}

/* ---- names ---- */

static void name_meta(struct hl_perfetto *p, const char *what, uint32_t pid,
		      uint32_t tid, const char *name)
{
	fputs(p->nevents++ ? ",\n" : "\n", p->f);
	fprintf(p->f, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%" PRIu32
		",\"tid\":%" PRIu32 ",\"args\":{\"name\":", what, pid, tid);
	put_str(p->f, name);
	fputs("}}", p->f);
}

static void process_events(struct hl_perfetto *p, const struct hl_event *ev,
			   const char *str)
{
	struct proc *pr = proc_get(p, ev->pid);
	char tname[96];

	switch (ev->kind) {
	case HL_EV_EXEC: {
		const char *base = str ? strrchr(str, '/') : NULL;

		base = base ? base + 1 : str ? str : "?";
		if (pr) {
			free(pr->maps);
			memset(pr, 0, sizeof(*pr));	/* a new image */
			snprintf(pr->name, sizeof(pr->name), "%s", base);
		}
		name_meta(p, "process_name", ev->pid, ev->pid, base);
		name_meta(p, "thread_name", ev->pid, ev->pid, base);
		begin(p, "i", "exec", "process", ev->pid, ev->tid, ev->ts_ns);
		fputs(",\"s\":\"p\",\"args\":{\"path\":", p->f);
		put_str(p->f, str ? str : "");
		fputs("}}", p->f);
		return;
	}
	case HL_EV_FORK:
		if (ev->args[2]) {	/* a thread */
			snprintf(tname, sizeof(tname), "%s thread %" PRIu64,
				 pr && pr->name[0] ? pr->name : "", ev->args[0]);
			name_meta(p, "thread_name", ev->pid, (uint32_t)ev->args[0], tname);
		} else {
			struct proc *child = proc_get(p, (uint32_t)ev->args[0]);

			/* The child is a copy: same break, same mappings. */
			if (child && pr && !maps_reserve(child, pr->nmaps)) {
				memcpy(child->maps, pr->maps, pr->nmaps * sizeof(*pr->maps));
				child->nmaps = pr->nmaps;
				child->mapped = pr->mapped;
				child->brk_start = pr->brk_start;
				child->brk_cur = pr->brk_cur;
				memcpy(child->name, pr->name, sizeof(child->name));
			}
			if (pr && pr->name[0]) {
				name_meta(p, "process_name", (uint32_t)ev->args[0],
					  (uint32_t)ev->args[0], pr->name);
				name_meta(p, "thread_name", (uint32_t)ev->args[0],
					  (uint32_t)ev->args[0], pr->name);
			}
		}
		break;
	default:
		break;
	}
	begin(p, "i", hl_kind_info(ev->kind)->name, "process", ev->pid, ev->tid,
	      ev->ts_ns);
	fputs(",\"s\":\"p\",\"args\":{", p->f);
	put_args(p->f, ev);
	fputs("}}", p->f);
}

/* ---- the slices ---- */

static const char *cause_name(const struct hl_event *ev,
			      const struct hl_event *cause)
{
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		return "loader";
	case HL_CAUSE_TAP:
		return "tap";
	case HL_CAUSE_CALL:
		return cause ? hl_kind_info(cause->kind)->name : "call";
	}
	return NULL;
}

static void syscall_slice(struct hl_perfetto *p, const struct hl_event *ev,
			  const struct hl_event *cause)
{
	uint64_t ts = ev->ts_ns, end = ev->end_ns < ev->ts_ns ? ev->ts_ns : ev->end_ns;
	const char *why = cause_name(ev, cause);
	int nested = ev->cause == HL_CAUSE_CALL && cause && cause->end_ns >= cause->ts_ns;

	/*
	 * Nested by construction: the syscall's clock readings and the call's
	 * come from different places, so keep the syscall inside its cause.
	 */
	if (nested) {
		if (ts < cause->ts_ns)
			ts = cause->ts_ns;
		if (end > cause->end_ns)
			end = cause->end_ns;
		if (ts > cause->end_ns)
			ts = cause->end_ns;
		if (end < ts)
			end = ts;
	}
	begin(p, "X", hl_kind_info(ev->kind)->name, "syscall", ev->pid, ev->tid, ts);
	fputs(",\"dur\":", p->f);
	put_us(p->f, end - ts);
	fprintf(p->f, ",\"args\":{\"seq\":%" PRIu64 ",", ev->seq);
	put_args(p->f, ev);
	put_ret(p->f, ev);
	if (why) {
		fputs(",\"cause\":", p->f);
		put_str(p->f, why);
		if (nested && cause->seq)
			fprintf(p->f, ",\"cause_seq\":%" PRIu64, cause->seq);
	}
	fputs("}}", p->f);
	if (!nested)
		return;
	/*
	 * The flow arrow: it starts inside the call, before the syscall (bound
	 * to the call's slice), and ends in the middle of the syscall's slice.
	 */
	begin(p, "s", "caused", "cause", cause->pid, cause->tid,
	      cause->ts_ns + (ts - cause->ts_ns) / 2);
	fprintf(p->f, ",\"id\":%" PRIu64 "}", ev->seq);
	begin(p, "f", "caused", "cause", ev->pid, ev->tid, ts + (end - ts) / 2);
	fprintf(p->f, ",\"bp\":\"e\",\"id\":%" PRIu64 "}", ev->seq);
}

static void call_slice(struct hl_perfetto *p, const struct hl_event *ev)
{
	uint64_t end = ev->end_ns < ev->ts_ns ? ev->ts_ns : ev->end_ns;

	begin(p, "X", hl_kind_info(ev->kind)->name, "malloc", ev->pid, ev->tid,
	      ev->ts_ns);
	fputs(",\"dur\":", p->f);
	put_us(p->f, end - ev->ts_ns);
	fprintf(p->f, ",\"args\":{\"seq\":%" PRIu64 ",", ev->seq);
	put_args(p->f, ev);
	put_ret(p->f, ev);
	fputs("}}", p->f);
}

void hl_perfetto_event(struct hl_perfetto *p, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (!ki)
		return;
	switch (ki->class) {
	case HL_KC_SYSCALL:
		syscall_slice(p, ev, cause);
		update_counters(p, ev);
		break;
	case HL_KC_CALL:
		call_slice(p, ev);
		break;
	case HL_KC_INTERNAL:
		begin(p, "i", ki->name, "allocator", ev->pid, ev->tid, ev->ts_ns);
		fputs(",\"s\":\"t\",\"args\":{", p->f);
		put_args(p->f, ev);
		fputs("}}", p->f);
		break;
	case HL_KC_PROCESS:
		process_events(p, ev, str);
		break;
	}
	if (ferror(p->f) && !p->err)
		p->err = errno ? errno : EIO;
}

void hl_perfetto_end(struct hl_perfetto *p, const struct hl_trace_end *e)
{
	fputs("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{", p->f);
	fprintf(p->f, "\"tool\":\"heaplab trace\",\"engine\":");
	put_str(p->f, e->engine ? e->engine : "");
	fprintf(p->f, ",\"complete\":%s,\"dropped\":%" PRIu64 ",\"status\":%d",
		e->complete ? "true" : "false", e->dropped, e->status);
	if (e->reason) {
		fputs(",\"reason\":", p->f);
		put_str(p->f, e->reason);
	}
	fputs("}}\n", p->f);
	if (fflush(p->f) && !p->err)
		p->err = errno;
}

int hl_perfetto_close(struct hl_perfetto *p)
{
	int err;

	if (!p)
		return 0;
	if (fclose(p->f) && !p->err)
		p->err = errno;
	err = p->err;
	hl_tidmap_each(&p->procs, i) {
		struct proc *pr = p->procs.vals[i];

		free(pr->maps);
		free(pr);
	}
	hl_tidmap_free(&p->procs);
	free(p);
	return err;
}
