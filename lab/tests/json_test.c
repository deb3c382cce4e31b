// SPDX-License-Identifier: MIT
/* json_test.c — the JSON tree: build, write, parse back, reject bad input. */
#include <stdlib.h>
#include <string.h>

#include "lab/json.h"
#include "lab/tests/tap.h"

static char *to_text(const struct json *v, int indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	json_write(f, v, indent);
	fclose(f);
	return buf;
}

static void roundtrip(void)
{
	struct json *o = json_obj(), *a, *back, *reparsed;
	char err[128], *text, *again, *pretty;

	json_set(o, "size", json_int(135000));
	json_set(o, "addr", json_int(0x7ffff7dd0000LL));
	json_set(o, "neg", json_int(-1));
	json_set(o, "big", json_int(INT64_MAX));
	json_set(o, "ratio", json_num(1.25));
	json_set(o, "name", json_str("a \"quoted\"\n\ttab\\"));
	json_set(o, "ok", json_bool(1));
	json_set(o, "none", json_null());
	a = json_set(o, "list", json_arr());
	for (int i = 0; i < 100; i++)
		json_push(a, json_int(i * i));
	json_set(o, "size", json_int(135168));	/* replaces, keeps order */

	text = to_text(o, -1);
	ok(strchr(text, '\n') == strrchr(text, '\n') &&
	   text[strlen(text) - 1] != '\n', "compact output is one line");
	ok(strncmp(text, "{\"size\":135168,\"addr\":", 22) == 0,
	   "keys keep insertion order, set replaces in place: %.30s", text);
	back = json_parse(text, err, sizeof(err));
	ok(back != NULL, "compact output parses back (%s)", back ? "ok" : err);
	ok(json_as_int(json_get(back, "addr"), 0) == 0x7ffff7dd0000LL,
	   "addresses survive exactly");
	ok(json_as_int(json_get(back, "big"), 0) == INT64_MAX,
	   "INT64_MAX survives exactly");
	ok(json_as_int(json_get(back, "neg"), 0) == -1, "negative ints");
	ok(json_as_num(json_get(back, "ratio"), 0) == 1.25, "doubles");
	ok(strcmp(json_as_str(json_get(back, "name"), ""),
		  "a \"quoted\"\n\ttab\\") == 0, "escapes round-trip");
	ok(json_type(json_get(back, "none")) == JSON_NULL, "null");
	ok(json_as_bool(json_get(back, "ok"), 0) == 1, "bool");
	ok(json_len(json_get(back, "list")) == 100 &&
	   json_as_int(json_at(json_get(back, "list"), 99), 0) == 9801,
	   "arrays");
	ok(json_get(back, "missing") == NULL &&
	   json_as_int(json_get(back, "missing"), 42) == 42,
	   "missing keys read as the fallback");

	pretty = to_text(o, 2);
	reparsed = json_parse(pretty, err, sizeof(err));
	again = to_text(reparsed, -1);
	ok(strcmp(again, text) == 0, "pretty output parses to the same tree");
	free(again);
	free(pretty);
	json_free(reparsed);
	free(text);
	json_free(back);
	json_free(o);
}

static void unicode(void)
{
	char err[128];
	struct json *v = json_parse("\"\\u00e9\\ud83d\\ude00\\u0041\"", err,
				    sizeof(err));

	ok(v && strcmp(json_as_str(v, ""), "\xc3\xa9\xf0\x9f\x98\x80" "A") == 0,
	   "\\u escapes, surrogate pairs, become UTF-8");
	json_free(v);
}

static void rejects(void)
{
	static const char *bad[] = {
		"", "{", "[1,2", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "tru",
		"\"open", "01x", "{\"a\":1} x", "[\"\\q\"]", "-", "{1:2}",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json *v = json_parse(bad[i], err, sizeof(err));

		ok(v == NULL && strncmp(err, "line 1 col ", 11) == 0,
		   "rejects '%s' (%s)", bad[i], v ? "accepted!" : err);
		json_free(v);
	}
	ok(json_parse("{\n\"a\":\n  x}", err, sizeof(err)) == NULL &&
	   strncmp(err, "line 3 col 3", 12) == 0,
	   "error position counts lines: %s", err);
}

static void depth(void)
{
	char text[2000], err[128];

	memset(text, '[', 1000);
	text[1000] = '\0';
	ok(json_parse(text, err, sizeof(err)) == NULL, "deep nesting refused: %s",
	   err);
}

int main(void)
{
	roundtrip();
	unicode();
	rejects();
	depth();
	return tap_done();
}
