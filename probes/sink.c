// SPDX-License-Identifier: MIT
/*
 * sink.c — events as text or jsonl.
 *
 * text, one line per event, strace-like:
 *	#7 malloc(135000) = 0x7ffff7d9e010
 *	#8 mmap(NULL, 139264, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7d9e000 <- #7 malloc(135000)
 * with "[pid P]" (or "[pid P/T]" for a thread) in front once the trace has
 * seen more than one thread.
 *
 * jsonl, one object per event:
 *	{"seq":8,"ts_ns":..,"end_ns":..,"pid":..,"tid":..,"kind":"mmap",
 *	 "args":{"addr":0,"length":139264,...},"ret":140737351639040,
 *	 "cause":{"seq":7,"kind":"malloc","args":{"size":135000}}}
 * Output is buffered and written in whole lines only.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probes/sink.h"

#define SINK_BUF (256 * 1024)
#define LINE_MAX_ (8192)

int hl_sink_open(struct hl_sink *s, int fd, enum hl_format format)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->format = format;
	s->cap = SINK_BUF + LINE_MAX_;
	s->buf = malloc(s->cap);
	return s->buf ? 0 : -1;
}

int hl_sink_flush(struct hl_sink *s)
{
	size_t off = 0;

	while (off < s->len && !s->err) {
		ssize_t n = write(s->fd, s->buf + off, s->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			s->err = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	s->len = 0;
	return s->err;
}

void hl_sink_close(struct hl_sink *s)
{
	hl_sink_flush(s);
	free(s->buf);
	s->buf = NULL;
}

/* ---- appending to the buffer; a line is at most LINE_MAX_ long ---- */

/* Inlined, so that appending a literal is a fixed-size copy. */
static inline __attribute__((always_inline)) void
put(struct hl_sink *s, const char *p, size_t n)
{
	if (__builtin_expect(s->len + n > s->cap - 1, 0))
		n = s->cap - 1 - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void puts_(struct hl_sink *s, const char *p)
{
	put(s, p, strlen(p));
}

/* A string literal. */
#define PUTL(s, lit) put(s, "" lit, sizeof(lit) - 1)

static inline void putc_(struct hl_sink *s, char c)
{
	if (s->len < s->cap - 1)
		s->buf[s->len++] = c;
}

/* Decimal, two digits at a time: the trace is mostly numbers. */
static void put_u64(struct hl_sink *s, uint64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324"
		"25262728293031323334353637383940414243444546474849"
		"50515253545556575859606162636465666768697071727374"
		"75767778798081828384858687888990919293949596979899";
	char b[24];
	int i = sizeof(b);

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		b[--i] = pairs[d + 1];
		b[--i] = pairs[d];
	}
	if (v >= 10) {
		b[--i] = pairs[v * 2 + 1];
		b[--i] = pairs[v * 2];
	} else {
		b[--i] = (char)('0' + v);
	}
	put(s, b + i, sizeof(b) - i);
}

static void put_i64(struct hl_sink *s, int64_t v)
{
	if (v < 0) {
		putc_(s, '-');
		put_u64(s, -(uint64_t)v);
	} else {
		put_u64(s, (uint64_t)v);
	}
}

static void put_hex(struct hl_sink *s, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char b[20];
	int i = sizeof(b);

	do {
		b[--i] = digits[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	put(s, b + i, sizeof(b) - i);
}

static void putf(struct hl_sink *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void putf(struct hl_sink *s, const char *fmt, ...)
{
	char b[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(s, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

static void put_json_str(struct hl_sink *s, const char *p)
{
	putc_(s, '"');
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			putc_(s, '\\');
			putc_(s, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			putf(s, "\\u%04x", c);
		} else {
			putc_(s, (char)c);
		}
	}
	putc_(s, '"');
}

static void end_line(struct hl_sink *s)
{
	putc_(s, '\n');
	s->nevents++;
	if (s->len >= SINK_BUF)
		hl_sink_flush(s);
}

/* ---- flag names, as strace prints them ---- */

struct flag {
	uint64_t bit;
	const char *name;
};

static void put_flags(struct hl_sink *s, uint64_t v, const struct flag *f,
		      size_t n, const char *zero)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (!(v & f[i].bit))
			continue;
		if (any++)
			putc_(s, '|');
		puts_(s, f[i].name);
		v &= ~f[i].bit;
	}
	if (v || !any) {
		if (any)
			putc_(s, '|');
		if (!v && zero)
			puts_(s, zero);
		else
			put_hex(s, v);
	}
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct flag prot_flags[] = {
	{ PROT_READ, "PROT_READ" }, { PROT_WRITE, "PROT_WRITE" },
	{ PROT_EXEC, "PROT_EXEC" }, { PROT_GROWSDOWN, "PROT_GROWSDOWN" },
	{ PROT_GROWSUP, "PROT_GROWSUP" },
};

static const struct flag map_flags[] = {
	{ MAP_FIXED, "MAP_FIXED" }, { MAP_ANONYMOUS, "MAP_ANONYMOUS" },
	{ MAP_32BIT, "MAP_32BIT" }, { MAP_GROWSDOWN, "MAP_GROWSDOWN" },
	{ MAP_DENYWRITE, "MAP_DENYWRITE" }, { MAP_EXECUTABLE, "MAP_EXECUTABLE" },
	{ MAP_LOCKED, "MAP_LOCKED" }, { MAP_NORESERVE, "MAP_NORESERVE" },
	{ MAP_POPULATE, "MAP_POPULATE" }, { MAP_NONBLOCK, "MAP_NONBLOCK" },
	{ MAP_STACK, "MAP_STACK" }, { MAP_HUGETLB, "MAP_HUGETLB" },
	{ MAP_SYNC, "MAP_SYNC" }, { MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE" },
};

static const struct flag mremap_flags[] = {
	{ 1, "MREMAP_MAYMOVE" }, { 2, "MREMAP_FIXED" }, { 4, "MREMAP_DONTUNMAP" },
};

static void put_map_flags(struct hl_sink *s, uint64_t v)
{
	static const char *const type[] = {
		"0", "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE",
	};

	puts_(s, type[v & 3]);
	v &= ~(uint64_t)3;
	if (v) {
		putc_(s, '|');
		put_flags(s, v, map_flags, ARRAY_LEN(map_flags), NULL);
	}
}

static const char *advice_name(uint64_t a)
{
	switch (a) {
	case MADV_NORMAL: return "MADV_NORMAL";
	case MADV_RANDOM: return "MADV_RANDOM";
	case MADV_SEQUENTIAL: return "MADV_SEQUENTIAL";
	case MADV_WILLNEED: return "MADV_WILLNEED";
	case MADV_DONTNEED: return "MADV_DONTNEED";
	case MADV_FREE: return "MADV_FREE";
	case MADV_REMOVE: return "MADV_REMOVE";
	case MADV_DONTFORK: return "MADV_DONTFORK";
	case MADV_DOFORK: return "MADV_DOFORK";
	case MADV_MERGEABLE: return "MADV_MERGEABLE";
	case MADV_UNMERGEABLE: return "MADV_UNMERGEABLE";
	case MADV_HUGEPAGE: return "MADV_HUGEPAGE";
	case MADV_NOHUGEPAGE: return "MADV_NOHUGEPAGE";
	case MADV_DONTDUMP: return "MADV_DONTDUMP";
	case MADV_DODUMP: return "MADV_DODUMP";
	case MADV_WIPEONFORK: return "MADV_WIPEONFORK";
	case MADV_KEEPONFORK: return "MADV_KEEPONFORK";
	case MADV_COLD: return "MADV_COLD";
	case MADV_PAGEOUT: return "MADV_PAGEOUT";
	case MADV_HWPOISON: return "MADV_HWPOISON";
	default: return NULL;
	}
}

static void put_arg_text(struct hl_sink *s, int fmt, uint64_t v)
{
	const char *name;

	switch (fmt) {
	case HL_AF_ADDR:
		if (v)
			put_hex(s, v);
		else
			PUTL(s, "NULL");
		break;
	case HL_AF_INT:
		put_i64(s, (int32_t)v);
		break;
	case HL_AF_PROT:
		put_flags(s, v, prot_flags, ARRAY_LEN(prot_flags), "PROT_NONE");
		break;
	case HL_AF_MAPF:
		put_map_flags(s, v);
		break;
	case HL_AF_MREMAPF:
		put_flags(s, v, mremap_flags, ARRAY_LEN(mremap_flags), "0");
		break;
	case HL_AF_ADVICE:
		name = advice_name(v);
		if (name)
			puts_(s, name);
		else
			put_u64(s, v);
		break;
	case HL_AF_HEX:
		if (v)
			put_hex(s, v);
		else
			putc_(s, '0');
		break;
	default:
		put_u64(s, v);
	}
}

/* "malloc(135000)": a call or syscall with its arguments, for text. */
static void put_call_text(struct hl_sink *s, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);
	unsigned n = ki->nargs;

	/* posix_memalign's fourth argument is its result, shown after. */
	if (ev->kind == HL_EV_POSIX_MEMALIGN)
		n = 3;
	/* mremap's new_address only means something with MREMAP_FIXED. */
	if (ev->kind == HL_EV_MREMAP && !(ev->args[3] & 2))
		n = 4;
	puts_(s, ki->name);
	putc_(s, '(');
	for (unsigned i = 0; i < n; i++) {
		if (i)
			PUTL(s, ", ");
		put_arg_text(s, ki->fmt[i], ev->args[i]);
	}
	putc_(s, ')');
}

static void put_ret_text(struct hl_sink *s, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (ev->flags & HL_EVF_UNFINISHED) {
		PUTL(s, " = ? <unfinished>");
		return;
	}
	if (ki->flags & HL_KF_RET_NONE)
		return;
	PUTL(s, " = ");
	if (ki->class == HL_KC_SYSCALL && ev->ret < 0 && ev->ret >= -4095) {
		const char *name = strerrorname_np((int)-ev->ret);

		putf(s, "-1 %s (%s)", name ? name : "E?",
		     strerror((int)-ev->ret));
		return;
	}
	if (ki->flags & HL_KF_RET_ADDR) {
		put_arg_text(s, HL_AF_ADDR, (uint64_t)ev->ret);
		return;
	}
	put_i64(s, ev->ret);
	if (ev->kind == HL_EV_POSIX_MEMALIGN && ev->ret == 0) {
		PUTL(s, " [*memptr=");
		put_arg_text(s, HL_AF_ADDR, ev->args[3]);
		putc_(s, ']');
	}
}

static void put_process_text(struct hl_sink *s, const struct hl_event *ev,
			     const char *str)
{
	switch (ev->kind) {
	case HL_EV_FORK:
		putf(s, "+++ %s %llu +++", ev->args[2] ? "new thread" :
		     ev->args[1] ? "vfork: child" : "fork: child",
		     (unsigned long long)ev->args[0]);
		break;
	case HL_EV_EXEC:
		if (ev->args[0])
			putf(s, "+++ exec %s (by thread %llu) +++", str ? str : "?",
			     (unsigned long long)ev->args[0]);
		else
			putf(s, "+++ exec %s +++", str ? str : "?");
		break;
	case HL_EV_EXIT:
		if (ev->args[1])
			putf(s, "+++ killed by %s +++",
			     sigabbrev_np((int)ev->args[1]) ?
			     sigabbrev_np((int)ev->args[1]) : "?");
		else
			putf(s, "+++ exited with %llu +++",
			     (unsigned long long)ev->args[0]);
		break;
	}
}

static void text_event(struct hl_sink *s, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (!s->first_tid)
		s->first_tid = ev->tid;
	else if (ev->tid != s->first_tid)
		s->multi = 1;
	if (s->multi) {
		if (ev->pid == ev->tid)
			putf(s, "[pid %u] ", ev->pid);
		else
			putf(s, "[pid %u/%u] ", ev->pid, ev->tid);
	}
	putc_(s, '#');
	put_u64(s, ev->seq);
	putc_(s, ' ');
	if (ki->class == HL_KC_PROCESS) {
		put_process_text(s, ev, str);
		end_line(s);
		return;
	}
	put_call_text(s, ev);
	put_ret_text(s, ev);
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		PUTL(s, " <- loader");
		break;
	case HL_CAUSE_TAP:
		PUTL(s, " <- tap");
		break;
	case HL_CAUSE_CALL:
		PUTL(s, " <- ");
		if (cause && cause->seq) {
			putc_(s, '#');
			put_u64(s, cause->seq);
			putc_(s, ' ');
		}
		if (cause)
			put_call_text(s, cause);
		break;
	}
	end_line(s);
}

/* ---- jsonl ---- */

static void put_json_args(struct hl_sink *s, const struct hl_event *ev,
			  const char *str)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	putc_(s, '{');
	if (ki->flags & HL_KF_STR) {
		PUTL(s, "\"path\":");
		put_json_str(s, str ? str : "");
		if (ki->nargs)
			putc_(s, ',');
	}
	for (unsigned i = 0; i < ki->nargs; i++) {
		if (i)
			putc_(s, ',');
		putc_(s, '"');
		puts_(s, ki->arg[i]);
		PUTL(s, "\":");
		if (ki->fmt[i] == HL_AF_INT)
			put_i64(s, (int32_t)ev->args[i]);
		else
			put_u64(s, ev->args[i]);
	}
	putc_(s, '}');
}

static void json_event(struct hl_sink *s, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	PUTL(s, "{\"seq\":");
	put_u64(s, ev->seq);
	PUTL(s, ",\"ts_ns\":");
	put_u64(s, ev->ts_ns);
	PUTL(s, ",\"end_ns\":");
	put_u64(s, ev->end_ns);
	PUTL(s, ",\"pid\":");
	put_u64(s, ev->pid);
	PUTL(s, ",\"tid\":");
	put_u64(s, ev->tid);
	PUTL(s, ",\"kind\":\"");
	puts_(s, ki->name);
	PUTL(s, "\",\"args\":");
	put_json_args(s, ev, str);
	PUTL(s, ",\"ret\":");
	if (ev->flags & HL_EVF_UNFINISHED || ki->flags & HL_KF_RET_NONE)
		PUTL(s, "null");
	else
		put_i64(s, ev->ret);
	if (ki->class == HL_KC_SYSCALL && ev->ret < 0 && ev->ret >= -4095 &&
	    !(ev->flags & HL_EVF_UNFINISHED)) {
		const char *name = strerrorname_np((int)-ev->ret);

		PUTL(s, ",\"errno\":");
		put_json_str(s, name ? name : "E?");
	}
	if (ev->flags & HL_EVF_UNFINISHED)
		PUTL(s, ",\"unfinished\":true");
	PUTL(s, ",\"cause\":");
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		PUTL(s, "\"loader\"");
		break;
	case HL_CAUSE_TAP:
		PUTL(s, "\"tap\"");
		break;
	case HL_CAUSE_CALL:
		if (cause) {
			PUTL(s, "{\"seq\":");
			if (cause->seq)
				put_u64(s, cause->seq);
			else
				PUTL(s, "null");
			PUTL(s, ",\"kind\":\"");
			puts_(s, hl_kind_info(cause->kind)->name);
			PUTL(s, "\",\"args\":");
			put_json_args(s, cause, NULL);
			putc_(s, '}');
			break;
		}
		/* fall through */
	default:
		PUTL(s, "null");
	}
	putc_(s, '}');
	end_line(s);
}

void hl_sink_event(struct hl_sink *s, const struct hl_event *ev,
		   const char *str, const struct hl_event *cause)
{
	if (!hl_kind_info(ev->kind))
		return;
	if (s->ext_event) {
		s->ext_event(s->ext, ev, str, cause);
		s->nevents++;
		return;
	}
	if (s->format == HL_FMT_JSONL)
		json_event(s, ev, str, cause);
	else
		text_event(s, ev, str, cause);
}

void hl_sink_end(struct hl_sink *s, const struct hl_trace_end *e)
{
	if (s->ext_end) {
		s->ext_end(s->ext, e);
		return;
	}
	if (s->format == HL_FMT_JSONL) {
		putf(s, "{\"seq\":%llu,\"ts_ns\":%llu,\"kind\":\"trace_end\","
		     "\"complete\":%s,\"dropped\":%llu,\"events\":%llu,"
		     "\"status\":%d,\"engine\":",
		     (unsigned long long)e->seq, (unsigned long long)e->ts_ns,
		     e->complete ? "true" : "false",
		     (unsigned long long)e->dropped,
		     (unsigned long long)s->nevents, e->status);
		put_json_str(s, e->engine);
		if (e->reason) {
			PUTL(s, ",\"reason\":");
			put_json_str(s, e->reason);
		}
		PUTL(s, "}\n");
	} else {
		putf(s, "# trace end: %s, %llu events, %llu dropped, status %d",
		     e->complete ? "complete" : "INCOMPLETE",
		     (unsigned long long)s->nevents,
		     (unsigned long long)e->dropped, e->status);
		if (e->reason)
			putf(s, " (%s)", e->reason);
		putc_(s, '\n');
	}
	hl_sink_flush(s);
}
