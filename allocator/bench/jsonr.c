// SPDX-License-Identifier: MIT
/*
 * jsonr.c — a recursive-descent JSON reader (RFC 8259) into a tree. Small
 * on purpose: it reads results.json back for `runner --from`, so it favours
 * clear errors over speed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/bench/jsonr.h"

#define MAX_DEPTH 64

struct cursor {
	const char *s, *start;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct cursor *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct cursor *c, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	if (c->failed)
		return;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "at byte %ld: %s", (long)(c->s - c->start),
		 what);
}

static void skip_ws(struct cursor *c)
{
	while (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')
		c->s++;
}

static void *grow(struct cursor *c, void *p, size_t n, size_t size)
{
	void *q = realloc(p, n * size);

	if (!q)
		fail(c, "out of memory");
	return q;
}

/* UTF-8 of code point U into OUT; returns the length. */
static int put_utf8(char *out, unsigned u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | (u >> 12 & 0x3f));
	out[2] = (char)(0x80 | (u >> 6 & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

static int hex4(struct cursor *c, unsigned *u)
{
	*u = 0;
	for (int i = 0; i < 4; i++) {
		char h = *c->s++;

		*u <<= 4;
		if (h >= '0' && h <= '9')
			*u |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			*u |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			*u |= (unsigned)(h - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* \uXXXX, a surrogate pair taken whole. */
static int unicode_escape(struct cursor *c, unsigned *u)
{
	unsigned lo;

	if (hex4(c, u) < 0)
		return -1;
	if (*u < 0xd800 || *u > 0xdbff)
		return 0;
	if (c->s[0] != '\\' || c->s[1] != 'u')
		return -1;
	c->s += 2;
	if (hex4(c, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	*u = 0x10000 + ((*u - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

static int escape(struct cursor *c, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	unsigned u;

	if (*c->s == 'u') {
		c->s++;
		if (unicode_escape(c, &u) < 0) {
			fail(c, "bad \\u escape");
			return 0;
		}
		return put_utf8(out, u);
	}
	hit = *c->s ? strchr(from, *c->s) : NULL;
	if (!hit) {
		fail(c, "bad escape '\\%c'", *c->s);
		return 0;
	}
	c->s++;
	*out = to[hit - from];
	return 1;
}

/* A string's contents (the cursor is past the opening quote). */
static char *parse_string(struct cursor *c)
{
	size_t cap = 16, len = 0;
	char *buf = grow(c, NULL, cap, 1);

	while (buf && !c->failed && *c->s != '"') {
		if (len + 5 > cap)
			buf = grow(c, buf, cap *= 2, 1);
		if (!buf)
			break;
		if (!*c->s || (unsigned char)*c->s < 0x20) {
			fail(c, *c->s ? "control character in a string" :
			     "unterminated string");
		} else if (*c->s == '\\') {
			c->s++;
			len += (size_t)escape(c, buf + len);
		} else {
			buf[len++] = *c->s++;
		}
	}
	if (c->failed || !buf) {
		free(buf);
		return NULL;
	}
	c->s++;
	buf[len] = '\0';
	return buf;
}

static void parse_value(struct cursor *c, struct jval *v, int depth);

static void parse_number(struct cursor *c, struct jval *v)
{
	const char *p = c->s;
	char *end;

	/* strtod takes more than JSON allows (hex, inf, leading '+'): vet first. */
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9') {
		fail(c, "unexpected character '%c'", *c->s);
		return;
	}
	errno = 0;
	v->type = J_NUM;
	v->num = strtod(c->s, &end);
	if (errno == ERANGE || end == c->s || end[-1] == '.' ||
	    memchr(c->s, 'x', (size_t)(end - c->s)) ||
	    memchr(c->s, 'X', (size_t)(end - c->s)))
		fail(c, "bad number");
	c->s = end;
}

static void parse_members(struct cursor *c, struct jval *v, int depth, int obj)
{
	char close = obj ? '}' : ']';

	v->type = obj ? J_OBJ : J_ARR;
	skip_ws(c);
	if (*c->s == close) {
		c->s++;
		return;
	}
	while (!c->failed) {
		v->kids = grow(c, v->kids, (size_t)v->n + 1, sizeof(*v->kids));
		if (obj)
			v->keys = grow(c, v->keys, (size_t)v->n + 1, sizeof(*v->keys));
		if (c->failed)
			return;
		memset(&v->kids[v->n], 0, sizeof(v->kids[v->n]));
		if (obj) {
			v->keys[v->n] = NULL;
			skip_ws(c);
			if (*c->s++ != '"') {
				c->s--;
				fail(c, "expected a member name");
				return;
			}
			v->keys[v->n] = parse_string(c);
			skip_ws(c);
			if (!c->failed && *c->s++ != ':') {
				c->s--;
				fail(c, "expected ':'");
			}
		}
		v->n++;
		parse_value(c, &v->kids[v->n - 1], depth + 1);
		skip_ws(c);
		if (c->failed)
			return;
		if (*c->s == ',') {
			c->s++;
			continue;
		}
		if (*c->s == close) {
			c->s++;
			return;
		}
		fail(c, "expected ',' or '%c'", close);
	}
}

static int literal(struct cursor *c, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(c->s, word, n))
		return 0;
	c->s += n;
	return 1;
}

static void parse_value(struct cursor *c, struct jval *v, int depth)
{
	if (depth > MAX_DEPTH) {
		fail(c, "nested deeper than %d", MAX_DEPTH);
		return;
	}
	skip_ws(c);
	switch (*c->s) {
	case '{':
	case '[':
		c->s++;
		parse_members(c, v, depth, c->s[-1] == '{');
		return;
	case '"':
		c->s++;
		v->type = J_STR;
		v->str = parse_string(c);
		return;
	}
	if (literal(c, "null")) {
		v->type = J_NULL;
	} else if (literal(c, "true")) {
		v->type = J_BOOL;
		v->num = 1;
	} else if (literal(c, "false")) {
		v->type = J_BOOL;
	} else if (!*c->s) {
		fail(c, "unexpected end of input");
	} else {
		parse_number(c, v);
	}
}

struct jval *jparse(const char *text, char *err, size_t errlen)
{
	struct cursor c = { text, text, err, errlen, 0 };
	struct jval *v = calloc(1, sizeof(*v));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	parse_value(&c, v, 0);
	skip_ws(&c);
	if (!c.failed && *c.s)
		fail(&c, "trailing text after the value");
	if (c.failed) {
		jfree(v);
		return NULL;
	}
	return v;
}

static void free_members(struct jval *v)
{
	for (int i = 0; i < v->n; i++) {
		free_members(&v->kids[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->kids);
	free(v->keys);
	free(v->str);
}

void jfree(struct jval *v)
{
	if (!v)
		return;
	free_members(v);
	free(v);
}

const struct jval *jget(const struct jval *v, const char *key)
{
	if (!v || v->type != J_OBJ)
		return NULL;
	for (int i = 0; i < v->n; i++)
		if (v->keys[i] && !strcmp(v->keys[i], key))
			return &v->kids[i];
	return NULL;
}

const char *jstr(const struct jval *v, const char *def)
{
	return v && v->type == J_STR && v->str ? v->str : def;
}

double jnum(const struct jval *v, double def)
{
	return v && v->type == J_NUM ? v->num : def;
}
