/* SPDX-License-Identifier: MIT */
/*
 * jsonr.h — a small JSON reader for the bench runner's own results.json
 * (`runner --from`): the whole text into a tree of values, then lookups.
 */
#ifndef HEAPLAB_BENCH_JSONR_H
#define HEAPLAB_BENCH_JSONR_H

#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	double num;		/* J_NUM, and J_BOOL as 0/1 */
	char *str;		/* J_STR */
	int n;			/* J_ARR, J_OBJ: number of members */
	struct jval *kids;	/* J_ARR, J_OBJ: the members */
	char **keys;		/* J_OBJ: their names */
};

/* NULL on bad JSON, with where and why in ERR. Free with jfree(). */
struct jval *jparse(const char *text, char *err, size_t errlen);
void jfree(struct jval *v);

/* Member KEY of an object, NULL if V is not an object or has no such key. */
const struct jval *jget(const struct jval *v, const char *key);
/* The string, or DEF when V is missing or not a string. */
const char *jstr(const struct jval *v, const char *def);
/* The number, or DEF when V is missing or not a number. */
double jnum(const struct jval *v, double def);

#endif
