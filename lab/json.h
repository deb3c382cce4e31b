/* SPDX-License-Identifier: MIT */
/*
 * json.h — a small JSON value tree: built by the experiments as their
 * result, printed with --json, parsed back by the report and by replay.
 *
 * Objects keep their keys in insertion order (results read in the order
 * they were measured). Integers are kept exactly as int64 (addresses and
 * sizes must survive a round trip); other numbers are doubles.
 *
 * Builders never fail: out of memory aborts with a message, as heaplab's
 * tools have nothing sensible to do without memory.
 */
#ifndef HEAPLAB_JSON_H
#define HEAPLAB_JSON_H

#include <stdint.h>
#include <stdio.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_NUM, JSON_STR,
		 JSON_ARR, JSON_OBJ };

struct json;

struct json *json_null(void);
struct json *json_bool(int b);
struct json *json_int(int64_t i);
struct json *json_num(double d);
struct json *json_str(const char *s);
struct json *json_strf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
struct json *json_arr(void);
struct json *json_obj(void);
void json_free(struct json *v);

/* Adding takes ownership of VAL and returns it (handy for nesting). */
struct json *json_push(struct json *arr, struct json *val);
struct json *json_set(struct json *obj, const char *key, struct json *val);

enum json_type json_type(const struct json *v);
size_t json_len(const struct json *v);		/* array items, object keys */
struct json *json_at(const struct json *arr, size_t i);
const char *json_key_at(const struct json *obj, size_t i);
struct json *json_get(const struct json *obj, const char *key);
/* Typed reads with a fallback when V is NULL or of another type. */
int64_t json_as_int(const struct json *v, int64_t dflt);
double json_as_num(const struct json *v, double dflt);	/* ints too */
const char *json_as_str(const struct json *v, const char *dflt);
int json_as_bool(const struct json *v, int dflt);

/* INDENT < 0: one line (jsonl); else pretty with that many spaces. */
void json_write(FILE *out, const struct json *v, int indent);
/* A JSON string literal of S (quotes and escapes) to OUT. */
void json_write_str(FILE *out, const char *s);

/*
 * Parses one JSON document from TEXT (trailing whitespace allowed). On
 * error returns NULL and writes "line L col C: what" into ERR.
 */
struct json *json_parse(const char *text, char *err, size_t errlen);

#endif
