/* SPDX-License-Identifier: MIT */
/*
 * svg.h — the report's figures as SVG text (malloc'd, for doc_figure):
 * bar charts, line charts over time, and heaps drawn as bars of chunks.
 * Self-contained: no scripts, no fonts or images from outside.
 */
#ifndef HEAPLAB_REPORT_SVG_H
#define HEAPLAB_REPORT_SVG_H

#include <stddef.h>

/* How a value axis prints its numbers. */
enum svg_unit { SVG_COUNT, SVG_BYTES, SVG_SECONDS, SVG_RATIO, SVG_PERCENT };

/* Horizontal bars, one per label; a negative value means "not measured". */
struct svg_bars {
	const char *title;
	enum svg_unit unit;
	size_t n;
	const char *const *labels;
	const double *values;
	int best;		/* index of the bar to highlight, or -1 */
};
char *svg_bar_chart(const struct svg_bars *spec);

/* Lines (or steps) over a shared x axis. */
struct svg_series {
	const char *name;
	size_t n;
	const double *x, *y;
};
struct svg_lines {
	const char *title;
	const char *x_label, *y_label;
	enum svg_unit x_unit, y_unit;
	int steps;		/* draw as a step function (a counter) */
	int log_x, log_y;	/* logarithmic axes */
	size_t nseries;
	const struct svg_series *series;
	/* Optional markers (e.g. the threshold found); <0: none. */
	double marker_x, marker_y;
	const char *marker_label;
};
char *svg_line_chart(const struct svg_lines *spec);

/* A heap as a bar of chunks, one row per picture (before/after). */
struct svg_chunk {
	double size;
	int free;
	const char *label;	/* short, or NULL */
};
struct svg_heap_row {
	const char *name;
	size_t n;
	const struct svg_chunk *chunks;
};
char *svg_heap_bars(const char *title, size_t nrows,
		    const struct svg_heap_row *rows);

/* A value as the axis would print it ("128 KiB", "1.25x"), into buf. */
const char *svg_format(char *buf, size_t len, double v, enum svg_unit unit);

#endif
