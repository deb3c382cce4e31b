// SPDX-License-Identifier: MIT
/* json.c — the JSON value tree of json.h: build, read, write, parse. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lab/json.h"

struct json {
	enum json_type type;
	union {
		int b;
		int64_t i;
		double d;
		char *s;
		struct {
			struct json **items;
			char **keys;		/* objects only */
			size_t len, cap;
		} c;
	};
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fputs("heaplab: out of memory\n", stderr);
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static struct json *new_value(enum json_type type)
{
	struct json *v = xrealloc(NULL, sizeof(*v));

	memset(v, 0, sizeof(*v));
	v->type = type;
	return v;
}

struct json *json_null(void) { return new_value(JSON_NULL); }

struct json *json_bool(int b)
{
	struct json *v = new_value(JSON_BOOL);

	v->b = !!b;
	return v;
}

struct json *json_int(int64_t i)
{
	struct json *v = new_value(JSON_INT);

	v->i = i;
	return v;
}

struct json *json_num(double d)
{
	struct json *v = new_value(JSON_NUM);

	v->d = d;
	return v;
}

struct json *json_str(const char *s)
{
	struct json *v = new_value(JSON_STR);

	v->s = xstrdup(s ? s : "");
	return v;
}

struct json *json_strf(const char *fmt, ...)
{
	struct json *v = new_value(JSON_STR);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&v->s, fmt, ap) < 0) {
		fputs("heaplab: out of memory\n", stderr);
		abort();
	}
	va_end(ap);
	return v;
}

struct json *json_arr(void) { return new_value(JSON_ARR); }
struct json *json_obj(void) { return new_value(JSON_OBJ); }

void json_free(struct json *v)
{
	if (!v)
		return;
	if (v->type == JSON_STR)
		free(v->s);
	if (v->type == JSON_ARR || v->type == JSON_OBJ) {
		for (size_t i = 0; i < v->c.len; i++) {
			json_free(v->c.items[i]);
			if (v->c.keys)
				free(v->c.keys[i]);
		}
		free(v->c.items);
		free(v->c.keys);
	}
	free(v);
}

static void grow(struct json *c)
{
	if (c->c.len < c->c.cap)
		return;
	c->c.cap = c->c.cap ? 2 * c->c.cap : 8;
	c->c.items = xrealloc(c->c.items, c->c.cap * sizeof(*c->c.items));
	if (c->type == JSON_OBJ)
		c->c.keys = xrealloc(c->c.keys, c->c.cap * sizeof(*c->c.keys));
}

struct json *json_push(struct json *arr, struct json *val)
{
	grow(arr);
	arr->c.items[arr->c.len++] = val;
	return val;
}

struct json *json_set(struct json *obj, const char *key, struct json *val)
{
	for (size_t i = 0; i < obj->c.len; i++) {
		if (strcmp(obj->c.keys[i], key) == 0) {
			json_free(obj->c.items[i]);
			obj->c.items[i] = val;
			return val;
		}
	}
	grow(obj);
	obj->c.keys[obj->c.len] = xstrdup(key);
	obj->c.items[obj->c.len++] = val;
	return val;
}

enum json_type json_type(const struct json *v) { return v ? v->type : JSON_NULL; }

size_t json_len(const struct json *v)
{
	return v && (v->type == JSON_ARR || v->type == JSON_OBJ) ? v->c.len : 0;
}

struct json *json_at(const struct json *arr, size_t i)
{
	return i < json_len(arr) ? arr->c.items[i] : NULL;
}

const char *json_key_at(const struct json *obj, size_t i)
{
	return obj && obj->type == JSON_OBJ && i < obj->c.len ?
	       obj->c.keys[i] : NULL;
}

struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->c.len; i++)
		if (strcmp(obj->c.keys[i], key) == 0)
			return obj->c.items[i];
	return NULL;
}

int64_t json_as_int(const struct json *v, int64_t dflt)
{
	if (v && v->type == JSON_INT)
		return v->i;
	if (v && v->type == JSON_NUM)
		return (int64_t)v->d;
	return dflt;
}

double json_as_num(const struct json *v, double dflt)
{
	if (v && v->type == JSON_NUM)
		return v->d;
	if (v && v->type == JSON_INT)
		return (double)v->i;
	return dflt;
}

const char *json_as_str(const struct json *v, const char *dflt)
{
	return v && v->type == JSON_STR ? v->s : dflt;
}

int json_as_bool(const struct json *v, int dflt)
{
	return v && v->type == JSON_BOOL ? v->b : dflt;
}

/* ---- writing ---- */

void json_write_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

static void newline(FILE *out, int indent, int depth)
{
	if (indent < 0)
		return;
	fputc('\n', out);
	fprintf(out, "%*s", indent * depth, "");
}

static void write_value(FILE *out, const struct json *v, int indent, int depth)
{
	switch (v->type) {
	case JSON_NULL: fputs("null", out); return;
	case JSON_BOOL: fputs(v->b ? "true" : "false", out); return;
	case JSON_INT:	fprintf(out, "%lld", (long long)v->i); return;
	case JSON_NUM:
		/* JSON has no NaN or infinity: an unmeasured number is null. */
		if (isfinite(v->d))
			fprintf(out, "%.17g", v->d);
		else
			fputs("null", out);
		return;
	case JSON_STR: json_write_str(out, v->s); return;
	case JSON_ARR:
	case JSON_OBJ:
		break;
	}
	fputc(v->type == JSON_ARR ? '[' : '{', out);
	for (size_t i = 0; i < v->c.len; i++) {
		if (i)
			fputc(',', out);
		newline(out, indent, depth + 1);
		if (v->type == JSON_OBJ) {
			json_write_str(out, v->c.keys[i]);
			fputs(indent < 0 ? ":" : ": ", out);
		}
		write_value(out, v->c.items[i], indent, depth + 1);
	}
	if (v->c.len)
		newline(out, indent, depth);
	fputc(v->type == JSON_ARR ? ']' : '}', out);
}

void json_write(FILE *out, const struct json *v, int indent)
{
	write_value(out, v, indent, 0);
	if (indent >= 0)
		fputc('\n', out);
}

/* ---- parsing: recursive descent over a NUL-terminated text ---- */

struct parser {
	const char *text, *p;
	char *err;
	size_t errlen;
	int failed;
	int depth;
};

#define MAX_DEPTH 256

static struct json *fail(struct parser *ps, const char *what)
{
	int line = 1, col = 1;

	if (ps->failed)
		return NULL;
	for (const char *q = ps->text; q < ps->p; q++, col++)
		if (*q == '\n') {
			line++;
			col = 0;
		}
	snprintf(ps->err, ps->errlen, "line %d col %d: %s", line, col, what);
	ps->failed = 1;
	return NULL;
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
	       *ps->p == '\r')
		ps->p++;
}

static struct json *parse_value(struct parser *ps);

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | cp >> 6;
		o[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | cp >> 12;
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	o[0] = 0xf0 | cp >> 18;
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* At the opening quote; returns a malloc'd string or NULL. */
static char *parse_string(struct parser *ps)
{
	const char *start = ++ps->p;
	size_t cap = 16;
	char *s, *o;

	for (const char *q = start; *q && *q != '"'; q++)
		cap++;
	/* Escapes only ever shrink: \uXXXX (6 bytes) makes at most 4. */
	o = s = xrealloc(NULL, cap);
	for (;;) {
		unsigned char c = *ps->p;
		unsigned cp, lo;

		if (c == '"')
			break;
		if (c == '\0' || c < 0x20) {
			free(s);
			fail(ps, c ? "control character in string" :
				     "unterminated string");
			return NULL;
		}
		ps->p++;
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		c = *ps->p++;
		switch (c) {
		case '"': case '\\': case '/': *o++ = c; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (hex4(ps->p, &cp) < 0)
				goto bad;
			ps->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' &&
			    ps->p[1] == 'u' && hex4(ps->p + 2, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				ps->p += 6;
			}
			o += put_utf8(o, cp);
			break;
		default:
			goto bad;
		}
	}
	ps->p++;
	*o = '\0';
	return s;
bad:
	free(s);
	fail(ps, "bad escape in string");
	return NULL;
}

static struct json *parse_number(struct parser *ps)
{
	const char *start = ps->p;
	int integral = 1;
	char *end;

	if (*ps->p == '-')
		ps->p++;
	if (!isdigit((unsigned char)*ps->p))
		return fail(ps, "bad number");
	while (isdigit((unsigned char)*ps->p))
		ps->p++;
	if (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')
		integral = 0;
	if (integral) {
		long long i;

		errno = 0;
		i = strtoll(start, &end, 10);
		if (errno == 0 && end == ps->p)
			return json_int(i);
	}
	/* Fractions, exponents and integers too big for int64. */
	double d = strtod(start, &end);
	if (end == start)
		return fail(ps, "bad number");
	ps->p = end;
	return json_num(d);
}

static struct json *parse_container(struct parser *ps, char close)
{
	struct json *c = close == ']' ? json_arr() : json_obj();

	if (++ps->depth > MAX_DEPTH) {
		json_free(c);
		return fail(ps, "nested too deeply");
	}
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		ps->depth--;
		return c;
	}
	for (;;) {
		char *key = NULL;
		struct json *v;

		skip_ws(ps);
		if (close == '}') {
			if (*ps->p != '"')
				goto bad;
			key = parse_string(ps);
			if (!key)
				goto bad;
			skip_ws(ps);
			if (*ps->p++ != ':') {
				free(key);
				ps->p--;
				fail(ps, "expected ':'");
				goto bad;
			}
		}
		v = parse_value(ps);
		if (!v) {
			free(key);
			goto bad;
		}
		if (key) {
			json_set(c, key, v);
			free(key);
		} else {
			json_push(c, v);
		}
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return c;
		}
		fail(ps, close == ']' ? "expected ',' or ']'" :
					"expected ',' or '}'");
		goto bad;
	}
bad:
	json_free(c);
	return fail(ps, close == ']' ? "bad array" : "bad object");
}

static struct json *parse_word(struct parser *ps, const char *word,
			       struct json *v)
{
	size_t n = strlen(word);

	if (strncmp(ps->p, word, n) != 0) {
		json_free(v);
		return fail(ps, "unexpected character");
	}
	ps->p += n;
	return v;
}

static struct json *parse_value(struct parser *ps)
{
	char *s;

	skip_ws(ps);
	switch (*ps->p) {
	case '{': return parse_container(ps, '}');
	case '[': return parse_container(ps, ']');
	case '"':
		s = parse_string(ps);
		if (!s)
			return NULL;
		struct json *v = new_value(JSON_STR);
		v->s = s;
		return v;
	case 't': return parse_word(ps, "true", json_bool(1));
	case 'f': return parse_word(ps, "false", json_bool(0));
	case 'n': return parse_word(ps, "null", json_null());
	case '\0': return fail(ps, "unexpected end of input");
	default:
		if (*ps->p == '-' || isdigit((unsigned char)*ps->p))
			return parse_number(ps);
		return fail(ps, "unexpected character");
	}
}

struct json *json_parse(const char *text, char *err, size_t errlen)
{
	struct parser ps = { .text = text, .p = text, .err = err,
			     .errlen = errlen };
	struct json *v = parse_value(&ps);

	if (!v)
		return NULL;
	skip_ws(&ps);
	if (*ps.p) {
		json_free(v);
		return fail(&ps, "trailing characters after the value");
	}
	return v;
}
