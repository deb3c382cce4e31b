// SPDX-License-Identifier: MIT
/*
 * perfetto.c — Chrome Trace Event JSON for ui.perfetto.dev (perfetto.h).
 *
 * Streams: each event is written as it comes, so memory stays bounded by
 * the live state (one record per process: its break and its mappings).
 */
#include <errno.h>
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
	struct hl_sink out;		/* the buffer and its writing (sink.h) */
	char *p;			/* the cursor of the record being written */
	uint64_t nevents;
	struct hl_tidmap procs;		/* pid -> struct proc */
	uint8_t name_len[HL_EV_NKINDS];
};

/*
 * Records go through the sink's buffer (sink.h): one reserve per event for
 * all it writes (a slice, its flow arrows, a counter), one commit after.
 * HL_SINK_REC_MAX covers each piece without its strings; REC_ROOM the most
 * pieces one event writes (exec: two names, an instant).
 */
#define REC_ROOM (4 * HL_SINK_REC_MAX)

static int room(struct hl_perfetto *p, const char *str)
{
	p->p = hl_sink_reserve(&p->out, REC_ROOM + (str ? 18 * strlen(str) : 0));
	return p->p != NULL;
}

/*
 * The sink counts in its nevents the lines a failed write may keep
 * (sink.h): here, the trace event objects, one per line.
 */
static void commit(struct hl_perfetto *p)
{
	p->out.nevents = p->nevents;
	hl_sink_commit(&p->out, p->p);
}

struct hl_perfetto *hl_perfetto_open(int fd)
{
	struct hl_perfetto *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (hl_sink_open(&p->out, fd, HL_FMT_JSONL) < 0) {
		free(p);
		return NULL;
	}
	for (unsigned k = HL_EV_NONE + 1; k < HL_EV_NKINDS; k++)
		p->name_len[k] = (uint8_t)strlen(hl_kinds[k].name);
	if (room(p, NULL)) {
		p->p = HL_FMT_LIT(p->p, "{\"traceEvents\":[");
		commit(p);
	}
	return p;
}

/* ---- JSON pieces ---- */

/* Microseconds with three decimals: the nanoseconds, exactly. */
static char *put_us(char *c, uint64_t ns)
{
	unsigned frac = (unsigned)(ns % 1000);

	c = hl_fmt_u64(c, ns / 1000);
	*c++ = '.';
	c[0] = (char)('0' + frac / 100);
	__builtin_memcpy(c + 1, hl_fmt_pairs + 2 * (frac % 100), 2);
	return c + 3;
}

/* Opens one trace event object with the fields they all have. */
static void begin_named(struct hl_perfetto *p, char ph, const char *name,
			size_t name_len, const char *cat, uint32_t pid,
			uint32_t tid, uint64_t ts)
{
	char *c = p->p;

	if (p->nevents++)
		*c++ = ',';
	c = HL_FMT_LIT(c, "\n{\"ph\":\"");
	*c++ = ph;
	c = HL_FMT_LIT(c, "\",\"name\":");
	if (name_len) {		/* a kind's name: nothing to escape */
		*c++ = '"';
		c = hl_fmt_mem(c, name, name_len);
		*c++ = '"';
	} else {
		c = hl_fmt_json_str(c, name);
	}
	if (cat) {
		c = HL_FMT_LIT(c, ",\"cat\":\"");
		c = hl_fmt_str(c, cat);
		*c++ = '"';
	}
	c = HL_FMT_LIT(c, ",\"pid\":");
	c = hl_fmt_u64(c, pid);
	c = HL_FMT_LIT(c, ",\"tid\":");
	c = hl_fmt_u64(c, tid);
	c = HL_FMT_LIT(c, ",\"ts\":");
	p->p = put_us(c, ts);
}

static void begin(struct hl_perfetto *p, char ph, const char *name,
		  const char *cat, uint32_t pid, uint32_t tid, uint64_t ts)
{
	begin_named(p, ph, name, 0, cat, pid, tid, ts);
}

static void begin_kind(struct hl_perfetto *p, char ph, unsigned kind,
		       const char *cat, uint32_t pid, uint32_t tid, uint64_t ts)
{
	begin_named(p, ph, hl_kinds[kind].name, p->name_len[kind], cat, pid,
		    tid, ts);
}

/*
 * An event's arguments by their jsonl names. Addresses are hex strings:
 * the viewer's numbers are doubles, which would round a 48-bit address.
 */
static char *put_args(char *c, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	for (unsigned i = 0; i < ki->nargs; i++) {
		if (i)
			*c++ = ',';
		*c++ = '"';
		c = hl_fmt_str(c, ki->arg[i]);
		c = HL_FMT_LIT(c, "\":");
		if (ki->fmt[i] == HL_AF_ADDR) {
			*c++ = '"';
			c = hl_fmt_hex(c, ev->args[i]);
			*c++ = '"';
		} else if (ki->fmt[i] == HL_AF_INT) {
			c = hl_fmt_i64(c, (int32_t)ev->args[i]);
		} else {
			c = hl_fmt_u64(c, ev->args[i]);
		}
	}
	return c;
}

static char *put_ret(char *c, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (ev->flags & HL_EVF_UNFINISHED)
		return HL_FMT_LIT(c, ",\"unfinished\":true");
	if (ki->flags & HL_KF_RET_NONE)
		return c;
	c = HL_FMT_LIT(c, ",\"ret\":");
	if (ki->flags & HL_KF_RET_ADDR && !(ev->ret < 0 && ev->ret >= -4095)) {
		*c++ = '"';
		c = hl_fmt_hex(c, (uint64_t)ev->ret);
		*c++ = '"';
		return c;
	}
	return hl_fmt_i64(c, ev->ret);
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
	begin(p, 'C', name, NULL, pid, pid, ts);
	p->p = HL_FMT_LIT(p->p, ",\"args\":{\"bytes\":");
	p->p = hl_fmt_u64(p->p, value);
	p->p = HL_FMT_LIT(p->p, "}}");
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
	char *c = p->p;

	if (p->nevents++)
		*c++ = ',';
	c = HL_FMT_LIT(c, "\n{\"ph\":\"M\",\"name\":\"");
	c = hl_fmt_str(c, what);
	c = HL_FMT_LIT(c, "\",\"pid\":");
	c = hl_fmt_u64(c, pid);
	c = HL_FMT_LIT(c, ",\"tid\":");
	c = hl_fmt_u64(c, tid);
	c = HL_FMT_LIT(c, ",\"args\":{\"name\":");
	c = hl_fmt_json_str(c, name);
	p->p = HL_FMT_LIT(c, "}}");
}

static void process_events(struct hl_perfetto *p, const struct hl_event *ev,
			   const char *str)
{
	struct proc *pr = proc_get(p, ev->pid);
	char tname[96], *t;

	switch (ev->kind) {
	case HL_EV_EXEC: {
		const char *base = str ? strrchr(str, '/') : NULL;

		base = base ? base + 1 : str ? str : "?";
		if (pr) {
			free(pr->maps);
			memset(pr, 0, sizeof(*pr));	/* a new image */
			size_t n = strnlen(base, sizeof(pr->name) - 1);

			memcpy(pr->name, base, n);
			pr->name[n] = '\0';
		}
		name_meta(p, "process_name", ev->pid, ev->pid, base);
		name_meta(p, "thread_name", ev->pid, ev->pid, base);
		begin(p, 'i', "exec", "process", ev->pid, ev->tid, ev->ts_ns);
		p->p = HL_FMT_LIT(p->p, ",\"s\":\"p\",\"args\":{\"path\":");
		p->p = hl_fmt_json_str(p->p, str ? str : "");
		p->p = HL_FMT_LIT(p->p, "}}");
		return;
	}
	case HL_EV_FORK:
		if (ev->args[2]) {	/* a thread */
			/* "NAME thread TID": NAME is at most 63 bytes */
			t = hl_fmt_str(tname, pr ? pr->name : "");
			t = HL_FMT_LIT(t, " thread ");
			*hl_fmt_u64(t, ev->args[0]) = '\0';
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
	begin_kind(p, 'i', ev->kind, "process", ev->pid, ev->tid, ev->ts_ns);
	p->p = HL_FMT_LIT(p->p, ",\"s\":\"p\",\"args\":{");
	p->p = put_args(p->p, ev);
	p->p = HL_FMT_LIT(p->p, "}}");
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
	char *c;
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
	begin_kind(p, 'X', ev->kind, "syscall", ev->pid, ev->tid, ts);
	c = HL_FMT_LIT(p->p, ",\"dur\":");
	c = put_us(c, end - ts);
	c = HL_FMT_LIT(c, ",\"args\":{\"seq\":");
	c = hl_fmt_u64(c, ev->seq);
	*c++ = ',';
	c = put_args(c, ev);
	c = put_ret(c, ev);
	if (why) {
		c = HL_FMT_LIT(c, ",\"cause\":");
		c = hl_fmt_json_str(c, why);
		if (nested && cause->seq) {
			c = HL_FMT_LIT(c, ",\"cause_seq\":");
			c = hl_fmt_u64(c, cause->seq);
		}
	}
	p->p = HL_FMT_LIT(c, "}}");
	if (!nested)
		return;
	/*
	 * The flow arrow: it starts inside the call, before the syscall (bound
	 * to the call's slice), and ends in the middle of the syscall's slice.
	 */
	begin(p, 's', "caused", "cause", cause->pid, cause->tid,
	      cause->ts_ns + (ts - cause->ts_ns) / 2);
	c = HL_FMT_LIT(p->p, ",\"id\":");
	c = hl_fmt_u64(c, ev->seq);
	p->p = HL_FMT_LIT(c, "}");
	begin(p, 'f', "caused", "cause", ev->pid, ev->tid, ts + (end - ts) / 2);
	c = HL_FMT_LIT(p->p, ",\"bp\":\"e\",\"id\":");
	c = hl_fmt_u64(c, ev->seq);
	p->p = HL_FMT_LIT(c, "}");
}

static void call_slice(struct hl_perfetto *p, const struct hl_event *ev)
{
	uint64_t end = ev->end_ns < ev->ts_ns ? ev->ts_ns : ev->end_ns;
	char *c;

	begin_kind(p, 'X', ev->kind, "malloc", ev->pid, ev->tid, ev->ts_ns);
	c = HL_FMT_LIT(p->p, ",\"dur\":");
	c = put_us(c, end - ev->ts_ns);
	c = HL_FMT_LIT(c, ",\"args\":{\"seq\":");
	c = hl_fmt_u64(c, ev->seq);
	*c++ = ',';
	c = put_args(c, ev);
	c = put_ret(c, ev);
	p->p = HL_FMT_LIT(c, "}}");
}

void hl_perfetto_event(struct hl_perfetto *p, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	/* After a failed write the trace is broken: nothing more to format. */
	if (!ki || p->out.err || !room(p, ki->flags & HL_KF_STR ? str : NULL))
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
		begin_kind(p, 'i', ev->kind, "allocator", ev->pid, ev->tid,
			   ev->ts_ns);
		p->p = HL_FMT_LIT(p->p, ",\"s\":\"t\",\"args\":{");
		p->p = put_args(p->p, ev);
		p->p = HL_FMT_LIT(p->p, "}}");
		break;
	case HL_KC_PROCESS:
		process_events(p, ev, str);
		break;
	}
	commit(p);
}

/* "\n],...otherData...}}\n": what closes the file. */
static char *put_tail(char *c, const struct hl_trace_end *e, int complete,
		      const char *reason)
{
	c = HL_FMT_LIT(c, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{"
		       "\"tool\":\"heaplab trace\",\"engine\":");
	c = hl_fmt_json_str(c, e->engine ? e->engine : "");
	c = HL_FMT_LIT(c, ",\"complete\":");
	c = complete ? HL_FMT_LIT(c, "true") : HL_FMT_LIT(c, "false");
	c = HL_FMT_LIT(c, ",\"dropped\":");
	c = hl_fmt_u64(c, e->dropped);
	c = HL_FMT_LIT(c, ",\"status\":");
	c = hl_fmt_i64(c, e->status);
	if (reason) {
		c = HL_FMT_LIT(c, ",\"reason\":");
		c = hl_fmt_json_str(c, reason);
	}
	return HL_FMT_LIT(c, "}}\n");
}

/*
 * After a failed write (sink.h: hl_sink_recover), where the file was cut
 * back to its first LINES lines: each trace event object starts a line, so
 * the kept part is the header and the first LINES - 1 objects, each with
 * the comma after it.  It ends with a global instant saying why, which the
 * UI shows across the timeline, and the usual tail with complete false.
 */
static char *end_failed(char *c, const struct hl_sink *s,
			const struct hl_trace_end *e)
{
	uint64_t kept = s->events_whole ? s->events_whole - 1 : 0;
	char reason[HL_SINK_REASON_MAX], *r;

	/* "... after 1402 trace events": the objects, not heaplab's events,
	 * and none are counted after the failure. */
	r = hl_sink_fail_reason(reason, s, kept);
	r = HL_FMT_LIT(r, " trace events");
	*r = '\0';
	if (!s->events_whole)
		c = HL_FMT_LIT(c, "{\"traceEvents\":[\n");
	c = HL_FMT_LIT(c, "{\"ph\":\"i\",\"s\":\"g\",\"name\":"
		       "\"trace incomplete\",\"pid\":0,\"tid\":0,\"ts\":");
	c = put_us(c, e->ts_ns);
	c = HL_FMT_LIT(c, ",\"args\":{\"reason\":");
	c = hl_fmt_json_str(c, reason);
	c = HL_FMT_LIT(c, "}}");
	return put_tail(c, e, 0, reason);
}

void hl_perfetto_end(struct hl_perfetto *p, const struct hl_trace_end *e)
{
	size_t strs = (e->engine ? strlen(e->engine) : 0) +
		      (e->reason ? strlen(e->reason) : 0);
	char *c;

	if (!p->out.err &&
	    (c = hl_sink_reserve(&p->out, HL_SINK_REC_MAX + 6 * strs))) {
		c = put_tail(c, e, e->complete, e->reason);
		p->out.len = (size_t)(c - p->out.buf);
		hl_sink_flush(&p->out);
	}
	if (p->out.err)
		hl_sink_recover(&p->out, e, end_failed);
}

int hl_perfetto_close(struct hl_perfetto *p)
{
	int err;

	if (!p)
		return 0;
	hl_sink_close(&p->out);
	err = p->out.err;
	hl_tidmap_each(&p->procs, i) {
		struct proc *pr = p->procs.vals[i];

		free(pr->maps);
		free(pr);
	}
	hl_tidmap_free(&p->procs);
	free(p);
	return err;
}
