// SPDX-License-Identifier: MIT
/* svg.c — bar charts, line charts and heap pictures as plain SVG. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/svg.h"

#define FONT "font-family=\"system-ui,sans-serif\""

static const char *const palette[] = {
	"#3b6fb6", "#d8722b", "#3f9a4a", "#b8463f", "#7d5bb0", "#8c6d45",
	"#c45aa0", "#5f6b78", "#a3a63a", "#2ca3b5",
};
#define NCOLORS (sizeof(palette) / sizeof(palette[0]))

struct out {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *out_open(struct out *o)
{
	o->buf = NULL;
	o->len = 0;
	o->f = open_memstream(&o->buf, &o->len);
	if (!o->f) {
		fputs("heaplab report: out of memory\n", stderr);
		abort();
	}
	return o->f;
}

static char *out_close(struct out *o)
{
	fputs("</svg>", o->f);
	fclose(o->f);
	return o->buf;
}

static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

static void header(FILE *f, int w, int h, const char *title)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n"
		"<title>", w, h, w, h);
	xml_text(f, title);
	fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" "
		"fill=\"#ffffff\"/>\n<text x=\"12\" y=\"22\" " FONT
		" font-size=\"15\" font-weight=\"600\" fill=\"#1d232a\">", w, h);
	xml_text(f, title);
	fputs("</text>\n", f);
}

const char *svg_format(char *buf, size_t len, double v, enum svg_unit unit)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	switch (unit) {
	case SVG_BYTES:
		while (fabs(v) >= 1024 && u < 4) {
			v /= 1024;
			u++;
		}
		snprintf(buf, len, v == floor(v) ? "%.0f %s" : "%.1f %s", v,
			 units[u]);
		break;
	case SVG_SECONDS:
		if (v < 1e-3)
			snprintf(buf, len, "%.0f µs", v * 1e6);
		else if (v < 1)
			snprintf(buf, len, "%.1f ms", v * 1e3);
		else
			snprintf(buf, len, "%.2f s", v);
		break;
	case SVG_RATIO:
		snprintf(buf, len, "%.2fx", v);
		break;
	case SVG_PERCENT:
		snprintf(buf, len, "%.0f%%", v);
		break;
	case SVG_COUNT:
		if (fabs(v) >= 1e6)
			snprintf(buf, len, "%.1fM", v / 1e6);
		else if (fabs(v) >= 1e4)
			snprintf(buf, len, "%.0fk", v / 1e3);
		else
			snprintf(buf, len, v == floor(v) ? "%.0f" : "%.2f", v);
		break;
	}
	return buf;
}

/* A "nice" step for about N ticks over [0, max]. */
static double nice_step(double max, int n, enum svg_unit unit)
{
	double raw = max / n, mag, f;

	if (raw <= 0)
		return 1;
	if (unit == SVG_BYTES && raw >= 1) {
		/* Powers of two read best for bytes. */
		double p = 1;

		while (p < raw)
			p *= 2;
		return p;
	}
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

char *svg_bar_chart(const struct svg_bars *spec)
{
	const int left = 170, right = 90, top = 40, bar = 22, gap = 8;
	const int w = 760, plot = w - left - right;
	int h = top + (int)spec->n * (bar + gap) + 30;
	double max = 0;
	struct out o;
	FILE *f = out_open(&o);
	char buf[64];

	for (size_t i = 0; i < spec->n; i++)
		if (spec->values[i] > max)
			max = spec->values[i];
	if (max <= 0)
		max = 1;
	header(f, w, h, spec->title);
	for (size_t i = 0; i < spec->n; i++) {
		int y = top + (int)i * (bar + gap);
		double v = spec->values[i];
		int bw = v > 0 ? (int)(v / max * plot + 0.5) : 0;

		fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"13\" "
			"text-anchor=\"end\" fill=\"#1d232a\">", left - 8,
			y + bar - 6);
		xml_text(f, spec->labels[i]);
		fputs("</text>\n", f);
		if (v < 0) {
			fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size="
				"\"12\" fill=\"#8a96a3\">not measured</text>\n",
				left + 4, y + bar - 6);
			continue;
		}
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"rx=\"3\" fill=\"%s\"/>\n", left, y, bw < 1 ? 1 : bw, bar,
			(int)i == spec->best ? "#3f9a4a" : "#3b6fb6");
		fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\" "
			"fill=\"#1d232a\">%s%s</text>\n", left + bw + 6,
			y + bar - 6, svg_format(buf, sizeof(buf), v, spec->unit),
			(int)i == spec->best ? " (best)" : "");
	}
	return out_close(&o);
}

struct axis {
	double min, max;
	int log;
	int from, to;		/* pixels */
};

static double axis_px(const struct axis *a, double v)
{
	double t;

	if (a->log)
		t = (log10(v > 0 ? v : a->min) - log10(a->min)) /
		    (log10(a->max) - log10(a->min));
	else
		t = (v - a->min) / (a->max - a->min);
	return a->from + t * (a->to - a->from);
}

static void ranges(const struct svg_lines *s, double *x0, double *x1,
		   double *y0, double *y1)
{
	*x0 = INFINITY;
	*x1 = -INFINITY;
	*y0 = INFINITY;
	*y1 = 0;
	for (size_t i = 0; i < s->nseries; i++)
		for (size_t j = 0; j < s->series[i].n; j++) {
			double x = s->series[i].x[j], y = s->series[i].y[j];

			if (x < *x0 && (!s->log_x || x > 0))
				*x0 = x;
			if (x > *x1)
				*x1 = x;
			if (y > *y1)
				*y1 = y;
			if (y > 0 && y < *y0)
				*y0 = y;
		}
	if (!isfinite(*y0))
		*y0 = 1;
	if (!isfinite(*x0)) {
		*x0 = s->log_x ? 1 : 0;
		*x1 = *x0 + 1;
	}
	if (*x1 <= *x0)
		*x1 = *x0 + 1;
	if (*y1 <= 0)
		*y1 = 1;
}

static void y_tick(FILE *f, const struct svg_lines *s, const struct axis *ya,
		   double v, int left, int right_px)
{
	int y = (int)axis_px(ya, v);
	char buf[64];

	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" "
		"stroke=\"#e4e7eb\"/>\n", left, right_px, y, y);
	fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"11\" "
		"text-anchor=\"end\" fill=\"#4b5b6b\">%s</text>\n", left - 6,
		y + 4, svg_format(buf, sizeof(buf), v, s->y_unit));
}

static void y_ticks(FILE *f, const struct svg_lines *s, struct axis *ya,
		    int left, int right_px)
{
	double step = nice_step(ya->max, 5, s->y_unit);

	if (ya->log) {
		/* Powers of 4 for bytes (1K, 4K, 16K ...), of 10 otherwise. */
		double base = s->y_unit == SVG_BYTES ? 4 : 10;
		double v = pow(base, floor(log(ya->min) / log(base)));

		ya->min = v;
		ya->max = pow(base, ceil(log(ya->max) / log(base)));
		for (; v <= ya->max * 1.0001; v *= base)
			y_tick(f, s, ya, v, left, right_px);
		return;
	}

	ya->max = ceil(ya->max / step) * step;
	for (double v = 0; v <= ya->max + step / 2; v += step)
		y_tick(f, s, ya, v, left, right_px);
}

static void x_ticks(FILE *f, const struct svg_lines *s, const struct axis *xa,
		    int y)
{
	char buf[64];

	if (xa->log) {
		static const double mult[] = { 1, 2, 5 };

		for (double d = pow(10, floor(log10(xa->min))); d <= xa->max;
		     d *= 10)
			for (int m = 0; m < 3; m++) {
				double v = d * mult[m];

				if (v < xa->min || v > xa->max)
					continue;
				fprintf(f, "<text x=\"%.1f\" y=\"%d\" " FONT
					" font-size=\"11\" text-anchor=\"middle"
					"\" fill=\"#4b5b6b\">%s</text>\n",
					axis_px(xa, v), y + 16, svg_format(buf,
					sizeof(buf), v, s->x_unit));
			}
		return;
	}
	double step = nice_step(xa->max - xa->min, 6, s->x_unit);
	for (double v = ceil(xa->min / step) * step; v <= xa->max; v += step)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" " FONT " font-size=\"11\" "
			"text-anchor=\"middle\" fill=\"#4b5b6b\">%s</text>\n",
			axis_px(xa, v), y + 16,
			svg_format(buf, sizeof(buf), v, s->x_unit));
}

static void series_path(FILE *f, const struct svg_lines *s, size_t i,
			const struct axis *xa, const struct axis *ya)
{
	const struct svg_series *se = &s->series[i];
	double px = 0, py = 0;

	if (!se->n)
		return;
	fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
		palette[i % NCOLORS]);
	for (size_t j = 0; j < se->n; j++) {
		double x = axis_px(xa, se->x[j]), y = axis_px(ya, se->y[j]);

		if (j == 0)
			fprintf(f, "M%.1f %.1f", x, y);
		else if (s->steps)
			fprintf(f, " H%.1f V%.1f", x, y);
		else
			fprintf(f, " L%.1f %.1f", x, y);
		px = x;
		py = y;
	}
	(void)py;
	if (s->steps)
		fprintf(f, " H%.1f", px > xa->to ? px : (double)xa->to);
	fputs("\"/>\n", f);
	if (se->n == 1 || !s->steps)
		for (size_t j = 0; j < se->n && se->n <= 60; j++)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
				"fill=\"%s\"/>\n", axis_px(xa, se->x[j]),
				axis_px(ya, se->y[j]), palette[i % NCOLORS]);
}

char *svg_line_chart(const struct svg_lines *s)
{
	const int w = 760, h = 360, left = 84, right = 20, top = 44;
	const int bottom = 56 + 18 * (int)((s->nseries + 2) / 3);
	struct axis xa = { .log = s->log_x, .from = left, .to = w - right };
	struct axis ya = { .log = s->log_y, .from = h - bottom, .to = top };
	struct out o;
	FILE *f = out_open(&o);

	ranges(s, &xa.min, &xa.max, &ya.min, &ya.max);
	if (!ya.log)
		ya.min = 0;
	header(f, w, h, s->title);
	y_ticks(f, s, &ya, left, w - right);
	x_ticks(f, s, &xa, h - bottom);
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" "
		"stroke=\"#8a96a3\"/>\n", left, w - right, h - bottom,
		h - bottom);
	fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"12\" "
		"text-anchor=\"middle\" fill=\"#4b5b6b\">", (left + w - right) / 2,
		h - bottom + 34);
	xml_text(f, s->x_label);
	fprintf(f, "</text>\n<text x=\"14\" y=\"%d\" " FONT " font-size=\"12\" "
		"fill=\"#4b5b6b\" transform=\"rotate(-90 14 %d)\" "
		"text-anchor=\"middle\">", (top + h - bottom) / 2,
		(top + h - bottom) / 2);
	xml_text(f, s->y_label);
	fputs("</text>\n", f);
	if (s->marker_x >= xa.min && s->marker_x <= xa.max) {
		double x = axis_px(&xa, s->marker_x);

		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
			"stroke=\"#b8463f\" stroke-dasharray=\"5 4\"/>\n"
			"<text x=\"%.1f\" y=\"%d\" " FONT " font-size=\"12\" "
			"fill=\"#b8463f\">", x, x, top, h - bottom, x + 5,
			top + 14);
		xml_text(f, s->marker_label);
		fputs("</text>\n", f);
	}
	if (s->marker_y > 0 && s->marker_y >= ya.min && s->marker_y <= ya.max) {
		double y = axis_px(&ya, s->marker_y);

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"#b8463f\" stroke-dasharray=\"5 4\"/>\n"
			"<text x=\"%d\" y=\"%.1f\" " FONT " font-size=\"12\" "
			"text-anchor=\"end\" fill=\"#b8463f\">", left, w - right,
			y, y, w - right - 4, y - 6);
		xml_text(f, s->marker_label);
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < s->nseries; i++)
		series_path(f, s, i, &xa, &ya);
	for (size_t i = 0; i < s->nseries; i++) {
		int lx = left + (int)(i % 3) * 220;
		int ly = h - bottom + 50 + (int)(i / 3) * 18;

		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" "
			"fill=\"%s\"/>\n<text x=\"%d\" y=\"%d\" " FONT
			" font-size=\"12\" fill=\"#1d232a\">", lx, ly - 4,
			palette[i % NCOLORS], lx + 20, ly + 1);
		xml_text(f, s->series[i].name);
		fputs("</text>\n", f);
	}
	return out_close(&o);
}

char *svg_heap_bars(const char *title, size_t nrows,
		    const struct svg_heap_row *rows)
{
	const int w = 760, left = 140, right = 20, top = 44, row_h = 34;
	const int gap = 18, plot = w - left - right;
	int h = top + (int)nrows * (row_h + gap) + 30;
	double max = 0;
	struct out o;
	FILE *f = out_open(&o);

	for (size_t r = 0; r < nrows; r++) {
		double total = 0;

		for (size_t i = 0; i < rows[r].n; i++)
			total += rows[r].chunks[i].size;
		if (total > max)
			max = total;
	}
	if (max <= 0)
		max = 1;
	header(f, w, h, title);
	for (size_t r = 0; r < nrows; r++) {
		int y = top + (int)r * (row_h + gap);
		double x = left;

		fprintf(f, "<text x=\"%d\" y=\"%d\" " FONT " font-size=\"13\" "
			"text-anchor=\"end\" fill=\"#1d232a\">", left - 8,
			y + row_h / 2 + 4);
		xml_text(f, rows[r].name);
		fputs("</text>\n", f);
		for (size_t i = 0; i < rows[r].n; i++) {
			const struct svg_chunk *c = &rows[r].chunks[i];
			double cw = c->size / max * plot;

			fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
				"height=\"%d\" fill=\"%s\" stroke=\"#ffffff\" "
				"stroke-width=\"1.5\"/>\n", x, y, cw, row_h,
				c->free ? "#9fd89a" : "#3b6fb6");
			if (c->label && cw > 28) {
				fprintf(f, "<text x=\"%.1f\" y=\"%d\" " FONT
					" font-size=\"11\" text-anchor=\"middle\""
					" fill=\"%s\">", x + cw / 2,
					y + row_h / 2 + 4,
					c->free ? "#1d232a" : "#ffffff");
				xml_text(f, c->label);
				fputs("</text>\n", f);
			}
			x += cw;
		}
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
		"fill=\"#3b6fb6\"/><text x=\"%d\" y=\"%d\" " FONT " font-size="
		"\"12\">in use</text>\n<rect x=\"%d\" y=\"%d\" width=\"12\" "
		"height=\"12\" fill=\"#9fd89a\"/><text x=\"%d\" y=\"%d\" " FONT
		" font-size=\"12\">free</text>\n", left, h - 22, left + 18,
		h - 12, left + 90, h - 22, left + 108, h - 12);
	return out_close(&o);
}
