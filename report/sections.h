/* SPDX-License-Identifier: MIT */
/*
 * sections.h — one renderer per experiment: the measured JSON in, the
 * report's section out (question, method, table, figure, conclusion and
 * the kernel connection), every number taken from the JSON.
 */
#ifndef HEAPLAB_REPORT_SECTIONS_H
#define HEAPLAB_REPORT_SECTIONS_H

#include "lab/json.h"
#include "report/doc.h"

struct section {
	const char *experiment;		/* heaplab experiment NAME */
	const char *title;
	/* Extra arguments for a full and for a --quick report. */
	const char *const *args, *const *quick_args;
	void (*render)(struct doc *d, const struct json *result);
};

/* The renderer of an experiment, or NULL (the report then prints its data). */
const struct section *section_for(const char *experiment);

/* The fallback: the result's top-level numbers and strings as a table. */
void render_generic(struct doc *d, const struct json *result);

/* The phase experiments' sections (sections_phases.c). */
void render_preload(struct doc *d, const struct json *result);
void render_magic(struct doc *d, const struct json *result);
void render_fragment(struct doc *d, const struct json *result);
void render_split(struct doc *d, const struct json *result);
void render_coalesce(struct doc *d, const struct json *result);
void render_progression(struct doc *d, const struct json *result);

#endif
