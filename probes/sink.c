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
 *
 * A trace is millions of lines, so the per-event path is plain stores: a
 * record is formatted straight into a 1 MiB buffer (room reserved once per
 * record, sink.h), numbers two digits per multiplication, the jsonl keys of
 * each kind made once; no stdio, no allocation.  The buffer is written with
 * write(2) in whole lines, so a file cut short by a crash is still valid to
 * its last line; a failed write is handled by hl_sink_recover() below.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probes/sink.h"

const char hl_fmt_pairs[200] = {
	"00010203040506070809101112131415161718192021222324"
	"25262728293031323334353637383940414243444546474849"
	"50515253545556575859606162636465666768697071727374"
	"75767778798081828384858687888990919293949596979899"
};

/*
 * Per kind, the jsonl pieces that never change, made once: the text from
 * after "tid" up to the first argument, and each argument's key.  They are
 * copied with fixed-size moves (the buffer has room past any record) and
 * the cursor advanced by their true length.
 */
#define JHEAD 48
#define JKEY 32

struct jkind {
	char head[JHEAD];		/* ,"kind":"mmap","args":{ */
	char key[HL_EV_ARGS][JKEY];	/* "addr":  ,"length":  ... */
	uint8_t head_len, key_len[HL_EV_ARGS], name_len;
};

static struct jkind jkinds[HL_EV_NKINDS];

static void jkinds_init(void)
{
	static int done;

	if (done)
		return;
	for (unsigned k = HL_EV_NONE + 1; k < HL_EV_NKINDS; k++) {
		const struct hl_kind_info *ki = &hl_kinds[k];
		struct jkind *j = &jkinds[k];
		int first = !(ki->flags & HL_KF_STR);	/* exec: path first */

		j->name_len = (uint8_t)strlen(ki->name);
		j->head_len = (uint8_t)snprintf(j->head, JHEAD,
			",\"kind\":\"%s\",\"args\":{", ki->name);
		for (unsigned i = 0; i < ki->nargs; i++)
			j->key_len[i] = (uint8_t)snprintf(j->key[i], JKEY,
				"%s\"%s\":", i || !first ? "," : "", ki->arg[i]);
	}
	done = 1;
}

int hl_sink_open(struct hl_sink *s, int fd, enum hl_format format)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->format = format;
	s->base = lseek(fd, 0, SEEK_CUR);
	s->cap = HL_SINK_BUF + HL_SINK_REC_MAX;
	s->buf = malloc(s->cap);
	jkinds_init();
	return s->buf ? 0 : -1;
}

/* What reached the fd of the buffer's first N bytes: the lines in it. */
static void count_out(struct hl_sink *s, size_t n)
{
	const char *nl = memrchr(s->buf, '\n', n);

	s->out += n;
	if (!nl)
		return;
	s->out_whole = s->out - n + (uint64_t)(nl - s->buf) + 1;
	for (const char *p = s->buf; (p = memchr(p, '\n', (size_t)(nl - p) + 1)); p++)
		s->events_whole++;
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
	if (off == s->len && !s->err) {
		/* A buffer ends with a whole record: all of it is out. */
		s->out += off;
		s->out_whole = s->out;
		s->events_whole = s->nevents;
	} else if (off) {
		count_out(s, off);
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

char *hl_sink_reserve(struct hl_sink *s, size_t need)
{
	if (s->len + need > s->cap) {
		hl_sink_flush(s);
		if (need > s->cap) {	/* a record with a huge string */
			char *b = realloc(s->buf, need + HL_SINK_REC_MAX);

			if (!b) {
				if (!s->err)
					s->err = ENOMEM;
				return NULL;
			}
			s->buf = b;
			s->cap = need + HL_SINK_REC_MAX;
		}
	}
	return s->buf + s->len;
}

char *hl_fmt_json_str(char *p, const char *str)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (; *str; str++) {
		unsigned char c = (unsigned char)*str;

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			p = HL_FMT_LIT(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	return p;
}

/*
 * A path in a text line, as C writes it where it must: \\ for a
 * backslash, \t \n \r, and \xHH for the other control bytes.  A line is
 * one event (a newline in a path would make it two), and what is printed
 * reads back unambiguously; other bytes, UTF-8 too, go as they are.
 */
static char *put_text_str(char *p, const char *str)
{
	static const char hex[] = "0123456789abcdef";

	for (; *str; str++) {
		unsigned char c = (unsigned char)*str;

		if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
			*p++ = '\\';
			*p++ = c == '\t' ? 't' : c == '\n' ? 'n' :
			       c == '\r' ? 'r' : '\\';
		} else if (c < 0x20 || c == 0x7f) {
			p = HL_FMT_LIT(p, "\\x");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	return p;
}

/* Room for a record and its string STR (NULL: none). */
static char *begin_rec(struct hl_sink *s, const char *str)
{
	return hl_sink_reserve(s, HL_SINK_REC_MAX + (str ? 6 * strlen(str) : 0));
}

static void end_line(struct hl_sink *s, char *p)
{
	*p++ = '\n';
	s->nevents++;
	hl_sink_commit(s, p);
}

/* ---- flag names, as strace prints them ---- */

struct flag {
	uint64_t bit;
	const char *name;
};

static char *put_flags(char *p, uint64_t v, const struct flag *f, size_t n,
		       const char *zero)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (!(v & f[i].bit))
			continue;
		if (any++)
			*p++ = '|';
		p = hl_fmt_str(p, f[i].name);
		v &= ~f[i].bit;
	}
	if (v || !any) {
		if (any)
			*p++ = '|';
		if (!v && zero)
			p = hl_fmt_str(p, zero);
		else
			p = hl_fmt_hex(p, v);
	}
	return p;
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

static char *put_map_flags(char *p, uint64_t v)
{
	static const char *const type[] = {
		"0", "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE",
	};

	p = hl_fmt_str(p, type[v & 3]);
	v &= ~(uint64_t)3;
	if (v) {
		*p++ = '|';
		p = put_flags(p, v, map_flags, ARRAY_LEN(map_flags), NULL);
	}
	return p;
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
	case MADV_POPULATE_READ: return "MADV_POPULATE_READ";
	case MADV_POPULATE_WRITE: return "MADV_POPULATE_WRITE";
	default: return NULL;
	}
}

/* ---- text ---- */

static char *put_arg_text(char *p, int fmt, uint64_t v)
{
	const char *name;

	switch (fmt) {
	case HL_AF_ADDR:
		return v ? hl_fmt_hex(p, v) : HL_FMT_LIT(p, "NULL");
	case HL_AF_INT:
		return hl_fmt_i64(p, (int32_t)v);
	case HL_AF_PROT:
		return put_flags(p, v, prot_flags, ARRAY_LEN(prot_flags),
				 "PROT_NONE");
	case HL_AF_MAPF:
		return put_map_flags(p, v);
	case HL_AF_MREMAPF:
		return put_flags(p, v, mremap_flags, ARRAY_LEN(mremap_flags), "0");
	case HL_AF_ADVICE:
		name = advice_name(v);
		return name ? hl_fmt_str(p, name) : hl_fmt_u64(p, v);
	case HL_AF_HEX:
		if (v)
			return hl_fmt_hex(p, v);
		*p++ = '0';
		return p;
	default:
		return hl_fmt_u64(p, v);
	}
}

/* "malloc(135000)": a call or syscall with its arguments, for text. */
static char *put_call_text(char *p, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);
	unsigned n = ki->nargs;

	/* posix_memalign's fourth argument is its result, shown after. */
	if (ev->kind == HL_EV_POSIX_MEMALIGN)
		n = 3;
	/* mremap's new_address only means something with MREMAP_FIXED. */
	if (ev->kind == HL_EV_MREMAP && !(ev->args[3] & 2))
		n = 4;
	p = hl_fmt_mem(p, ki->name, jkinds[ev->kind].name_len);
	*p++ = '(';
	for (unsigned i = 0; i < n; i++) {
		if (i)
			p = HL_FMT_LIT(p, ", ");
		p = put_arg_text(p, ki->fmt[i], ev->args[i]);
	}
	*p++ = ')';
	return p;
}

static char *put_ret_text(char *p, const struct hl_event *ev)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);

	if (ev->flags & HL_EVF_UNFINISHED)
		return HL_FMT_LIT(p, " = ? <unfinished>");
	if (ki->flags & HL_KF_RET_NONE)
		return p;
	p = HL_FMT_LIT(p, " = ");
	if (ki->class == HL_KC_SYSCALL && ev->ret < 0 && ev->ret >= -4095) {
		const char *name = strerrorname_np((int)-ev->ret);
		/* bounded: glibc's longest message is under 64 bytes */
		const char *msg = strerror((int)-ev->ret);

		p = HL_FMT_LIT(p, "-1 ");
		p = hl_fmt_str(p, name ? name : "E?");
		p = HL_FMT_LIT(p, " (");
		p = hl_fmt_mem(p, msg, strnlen(msg, 256));
		*p++ = ')';
		return p;
	}
	if (ki->flags & HL_KF_RET_ADDR)
		return put_arg_text(p, HL_AF_ADDR, (uint64_t)ev->ret);
	p = hl_fmt_i64(p, ev->ret);
	if (ev->kind == HL_EV_POSIX_MEMALIGN && ev->ret == 0) {
		p = HL_FMT_LIT(p, " [*memptr=");
		p = put_arg_text(p, HL_AF_ADDR, ev->args[3]);
		*p++ = ']';
	}
	return p;
}

static char *put_process_text(char *p, const struct hl_event *ev,
			      const char *str)
{
	const char *sig;

	switch (ev->kind) {
	case HL_EV_FORK:
		p = HL_FMT_LIT(p, "+++ ");
		p = hl_fmt_str(p, ev->args[2] ? "new thread" :
			       ev->args[1] ? "vfork: child" : "fork: child");
		*p++ = ' ';
		p = hl_fmt_u64(p, ev->args[0]);
		return HL_FMT_LIT(p, " +++");
	case HL_EV_EXEC:
		p = HL_FMT_LIT(p, "+++ exec ");
		p = str ? put_text_str(p, str) : HL_FMT_LIT(p, "?");
		if (ev->args[0]) {
			p = HL_FMT_LIT(p, " (by thread ");
			p = hl_fmt_u64(p, ev->args[0]);
			*p++ = ')';
		}
		return HL_FMT_LIT(p, " +++");
	case HL_EV_EXIT:
		if (ev->args[1]) {
			sig = sigabbrev_np((int)ev->args[1]);
			p = HL_FMT_LIT(p, "+++ killed by ");
			p = hl_fmt_mem(p, sig ? sig : "?", sig ? strnlen(sig, 32) : 1);
		} else {
			p = HL_FMT_LIT(p, "+++ exited with ");
			p = hl_fmt_u64(p, ev->args[0]);
		}
		return HL_FMT_LIT(p, " +++");
	}
	return p;
}

static void text_event(struct hl_sink *s, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = hl_kind_info(ev->kind);
	char *p = begin_rec(s, str);

	if (!p)
		return;
	if (!s->first_tid)
		s->first_tid = ev->tid;
	else if (ev->tid != s->first_tid)
		s->multi = 1;
	if (s->multi) {
		p = HL_FMT_LIT(p, "[pid ");
		p = hl_fmt_u64(p, ev->pid);
		if (ev->pid != ev->tid) {
			*p++ = '/';
			p = hl_fmt_u64(p, ev->tid);
		}
		p = HL_FMT_LIT(p, "] ");
	}
	*p++ = '#';
	p = hl_fmt_u64(p, ev->seq);
	*p++ = ' ';
	if (ki->class == HL_KC_PROCESS) {
		end_line(s, put_process_text(p, ev, str));
		return;
	}
	p = put_call_text(p, ev);
	p = put_ret_text(p, ev);
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		p = HL_FMT_LIT(p, " <- loader");
		break;
	case HL_CAUSE_TAP:
		p = HL_FMT_LIT(p, " <- tap");
		break;
	case HL_CAUSE_CALL:
		p = HL_FMT_LIT(p, " <- ");
		if (cause && cause->seq) {
			*p++ = '#';
			p = hl_fmt_u64(p, cause->seq);
			*p++ = ' ';
		}
		if (cause)
			p = put_call_text(p, cause);
		break;
	}
	end_line(s, p);
}

/* ---- jsonl ---- */

/* {"addr":0,"length":139264,...}, from after the kind's head. */
static char *put_json_args(char *p, const struct hl_event *ev, const char *str)
{
	const struct hl_kind_info *ki = &hl_kinds[ev->kind];
	const struct jkind *j = &jkinds[ev->kind];

	if (__builtin_expect(ki->flags & HL_KF_STR, 0)) {
		p = HL_FMT_LIT(p, "\"path\":");
		p = hl_fmt_json_str(p, str ? str : "");
	}
	for (unsigned i = 0; i < ki->nargs; i++) {
		memcpy(p, j->key[i], JKEY);
		p += j->key_len[i];
		if (ki->fmt[i] == HL_AF_INT)
			p = hl_fmt_i64(p, (int32_t)ev->args[i]);
		else
			p = hl_fmt_u64(p, ev->args[i]);
	}
	*p++ = '}';
	return p;
}

/* ,"kind":"mmap","args":{...} */
static char *put_json_kind(char *p, const struct hl_event *ev, const char *str)
{
	const struct jkind *j = &jkinds[ev->kind];

	memcpy(p, j->head, JHEAD);
	return put_json_args(p + j->head_len, ev, str);
}

static void json_event(struct hl_sink *s, const struct hl_event *ev,
		       const char *str, const struct hl_event *cause)
{
	const struct hl_kind_info *ki = &hl_kinds[ev->kind];
	char *p = begin_rec(s, str);

	if (!p)
		return;
	p = HL_FMT_LIT(p, "{\"seq\":");
	p = hl_fmt_u64(p, ev->seq);
	p = HL_FMT_LIT(p, ",\"ts_ns\":");
	p = hl_fmt_u64(p, ev->ts_ns);
	p = HL_FMT_LIT(p, ",\"end_ns\":");
	p = hl_fmt_u64(p, ev->end_ns);
	p = HL_FMT_LIT(p, ",\"pid\":");
	p = hl_fmt_u64(p, ev->pid);
	p = HL_FMT_LIT(p, ",\"tid\":");
	p = hl_fmt_u64(p, ev->tid);
	p = put_json_kind(p, ev, str);
	p = HL_FMT_LIT(p, ",\"ret\":");
	if (ev->flags & HL_EVF_UNFINISHED || ki->flags & HL_KF_RET_NONE)
		p = HL_FMT_LIT(p, "null");
	else
		p = hl_fmt_i64(p, ev->ret);
	if (ki->class == HL_KC_SYSCALL && ev->ret < 0 && ev->ret >= -4095 &&
	    !(ev->flags & HL_EVF_UNFINISHED)) {
		const char *name = strerrorname_np((int)-ev->ret);

		p = HL_FMT_LIT(p, ",\"errno\":");
		p = hl_fmt_json_str(p, name ? name : "E?");
	}
	if (ev->flags & HL_EVF_UNFINISHED)
		p = HL_FMT_LIT(p, ",\"unfinished\":true");
	p = HL_FMT_LIT(p, ",\"cause\":");
	switch (ev->cause) {
	case HL_CAUSE_LOADER:
		p = HL_FMT_LIT(p, "\"loader\"");
		break;
	case HL_CAUSE_TAP:
		p = HL_FMT_LIT(p, "\"tap\"");
		break;
	case HL_CAUSE_CALL:
		if (cause && hl_kind_info(cause->kind)) {
			p = HL_FMT_LIT(p, "{\"seq\":");
			if (cause->seq)
				p = hl_fmt_u64(p, cause->seq);
			else
				p = HL_FMT_LIT(p, "null");
			p = put_json_kind(p, cause, NULL);
			*p++ = '}';
			break;
		}
		/* fall through */
	default:
		p = HL_FMT_LIT(p, "null");
	}
	*p++ = '}';
	end_line(s, p);
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
	/* The output failed: the rest is counted, for trace_end. */
	if (__builtin_expect(s->err != 0, 0)) {
		s->nevents++;
		return;
	}
	if (s->format == HL_FMT_JSONL)
		json_event(s, ev, str, cause);
	else
		text_event(s, ev, str, cause);
}

/* ---- the end ---- */

static char *put_end_json(char *p, const struct hl_trace_end *e,
			  uint64_t seq, uint64_t events, const char *reason,
			  int complete)
{
	p = HL_FMT_LIT(p, "{\"seq\":");
	p = hl_fmt_u64(p, seq);
	p = HL_FMT_LIT(p, ",\"ts_ns\":");
	p = hl_fmt_u64(p, e->ts_ns);
	p = HL_FMT_LIT(p, ",\"kind\":\"trace_end\",\"complete\":");
	p = complete ? HL_FMT_LIT(p, "true") : HL_FMT_LIT(p, "false");
	p = HL_FMT_LIT(p, ",\"dropped\":");
	p = hl_fmt_u64(p, e->dropped);
	p = HL_FMT_LIT(p, ",\"events\":");
	p = hl_fmt_u64(p, events);
	p = HL_FMT_LIT(p, ",\"status\":");
	p = hl_fmt_i64(p, e->status);
	p = HL_FMT_LIT(p, ",\"engine\":");
	p = hl_fmt_json_str(p, e->engine);
	if (reason) {
		p = HL_FMT_LIT(p, ",\"reason\":");
		p = hl_fmt_json_str(p, reason);
	}
	return HL_FMT_LIT(p, "}\n");
}

static char *put_end_text(char *p, const struct hl_trace_end *e,
			  uint64_t events, const char *reason, int complete)
{
	p = HL_FMT_LIT(p, "# trace end: ");
	p = complete ? HL_FMT_LIT(p, "complete") : HL_FMT_LIT(p, "INCOMPLETE");
	p = HL_FMT_LIT(p, ", ");
	p = hl_fmt_u64(p, events);
	p = HL_FMT_LIT(p, " events, ");
	p = hl_fmt_u64(p, e->dropped);
	p = HL_FMT_LIT(p, " dropped, status ");
	p = hl_fmt_i64(p, e->status);
	if (reason) {
		p = HL_FMT_LIT(p, " (");
		p = hl_fmt_str(p, reason);
		*p++ = ')';
	}
	*p++ = '\n';
	return p;
}

/*
 * Cuts the file back to whole lines ending at least FREE bytes before
 * s->out_whole (reading them back to find the line ends), counting the
 * events taken out.  0, or -1 when it cannot.
 */
static int cut_back(struct hl_sink *s, int rfd, uint64_t free)
{
	char tail[8192];

	while (free) {
		uint64_t n = s->out_whole < sizeof(tail) ? s->out_whole : sizeof(tail);
		const char *nl;

		if (!n || pread(rfd, tail, n, s->base + (int64_t)(s->out_whole - n))
		    != (ssize_t)n)
			return -1;
		/* tail ends with a line's '\n': the one before ends the line
		 * before it (none: the first line, cut from the start) */
		nl = n > 1 ? memrchr(tail, '\n', n - 1) : NULL;
		if (!nl && n == sizeof(tail))
			return -1;	/* a line longer than tail */
		n -= nl ? (uint64_t)(nl - tail) + 1 : 0;
		s->out_whole -= n;
		s->events_whole--;
		free = free > n ? free - n : 0;
	}
	return 0;
}

char *hl_sink_fail_reason(char *p, const struct hl_sink *s, uint64_t kept)
{
	const char *why = strerror(s->err);

	p = HL_FMT_LIT(p, "writing the trace failed (");
	p = hl_fmt_mem(p, why, strnlen(why, 100));
	p = HL_FMT_LIT(p, ") after ");
	return hl_fmt_u64(p, kept);
}

/* "writing the trace failed (No space left on device) after 1402 of
 * 4051000 events": the events formatted or not, a line each. */
static void lines_reason(char *reason, const struct hl_sink *s)
{
	char *p = hl_sink_fail_reason(reason, s, s->events_whole);

	p = HL_FMT_LIT(p, " of ");
	p = hl_fmt_u64(p, s->nevents);
	p = HL_FMT_LIT(p, " events");
	*p = '\0';
}

static char *end_text_failed(char *p, const struct hl_sink *s,
			     const struct hl_trace_end *e)
{
	char reason[HL_SINK_REASON_MAX];

	lines_reason(reason, s);
	return put_end_text(p, e, s->events_whole, reason, 0);
}

static char *end_json_failed(char *p, const struct hl_sink *s,
			     const struct hl_trace_end *e)
{
	char reason[HL_SINK_REASON_MAX];

	lines_reason(reason, s);
	return put_end_json(p, e, s->events_whole + 1, s->events_whole,
			    reason, 0);
}

/*
 * The output failed part-way (a full disk): cut the file back to its last
 * whole line and end it there with PUT_END's record, which says the trace
 * is incomplete, and why.  If that record does not fit, a few more lines
 * go to make room (a file system frees a whole block at a time).  Only a
 * file can be cut; a pipe or terminal keeps what it got, and heaplab's
 * warning says why.
 */
void hl_sink_recover(struct hl_sink *s, const struct hl_trace_end *e,
		     hl_sink_end_fn *put_end)
{
	static const uint64_t give[] = { 0, 4096, 16384, 65536 };
	char *p, *end, path[64];
	int rfd;

	/*
	 * Only a file the trace has to itself: stdout and stderr are the
	 * target's too (and its writes would move the offset under ours).
	 */
	if (s->base < 0 || s->err == EPIPE || s->fd <= STDERR_FILENO ||
	    lseek(s->fd, 0, SEEK_CUR) != s->base + (int64_t)s->out)
		return;
	/* The trace is open write-only: read it back through /proc. */
	p = hl_fmt_u64(HL_FMT_LIT(path, "/proc/self/fd/"), (uint64_t)s->fd);
	*p = '\0';
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	/* Lines past the records (a format's own ending, cut part-way). */
	while (s->events_whole > s->nevents)
		if (cut_back(s, rfd, 1) < 0)
			goto out;
	for (unsigned i = 0; i < sizeof(give) / sizeof(give[0]); i++) {
		off_t at;

		if (i && cut_back(s, rfd, give[i]) < 0)
			break;
		at = (off_t)(s->base + (int64_t)s->out_whole);
		if (ftruncate(s->fd, at) < 0 || lseek(s->fd, at, SEEK_SET) != at)
			break;
		p = s->buf;
		end = put_end(p, s, e);
		if (write(s->fd, p, (size_t)(end - p)) == end - p)
			break;
		/* No room: whole lines only, then try with more room. */
		if (ftruncate(s->fd, (off_t)(s->base + (int64_t)s->out_whole)) < 0)
			break;
	}
out:
	if (rfd >= 0)
		close(rfd);
}

void hl_sink_end(struct hl_sink *s, const struct hl_trace_end *e)
{
	const char *reason = e->reason;
	char *p;

	if (s->ext_end) {
		s->ext_end(s->ext, e);
		return;
	}
	hl_sink_flush(s);
	if (s->err) {
		hl_sink_recover(s, e, s->format == HL_FMT_JSONL ?
				end_json_failed : end_text_failed);
		return;
	}
	p = hl_sink_reserve(s, HL_SINK_REC_MAX + 6 * (strlen(e->engine) +
				(reason ? strlen(reason) : 0)));
	if (!p)
		return;
	if (s->format == HL_FMT_JSONL)
		p = put_end_json(p, e, e->seq, s->nevents, reason, e->complete);
	else
		p = put_end_text(p, e, s->nevents, reason, e->complete);
	s->len = (size_t)(p - s->buf);
	hl_sink_flush(s);
	if (s->err)
		hl_sink_recover(s, e, s->format == HL_FMT_JSONL ?
				end_json_failed : end_text_failed);
}
