// SPDX-License-Identifier: MIT
/* doc.c — the report's document tree and its HTML and Markdown writers. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/doc.h"

enum block_type { B_SECTION, B_PARA, B_LINK, B_TABLE, B_FIGURE };

struct doc_table {
	int ncols, nrows;		/* rows include the header */
	char **cells;			/* nrows * ncols */
	unsigned char *best;		/* nrows * ncols */
};

struct block {
	enum block_type type;
	enum doc_para para;
	char *id, *text, *href;		/* by type */
	char *svg;
	struct doc_table table;
};

struct doc {
	char *title;
	struct block *blocks;
	size_t n, cap;
};

static _Noreturn void out_of_memory(void)
{
	fputs("heaplab report: out of memory\n", stderr);
	abort();
}

static void *xalloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		out_of_memory();
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xalloc(NULL, n), s, n);
}

static struct block *add(struct doc *d, enum block_type type)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 32;
		d->blocks = xalloc(d->blocks, d->cap * sizeof(*d->blocks));
	}
	memset(&d->blocks[d->n], 0, sizeof(d->blocks[0]));
	d->blocks[d->n].type = type;
	return &d->blocks[d->n++];
}

struct doc *doc_new(const char *title)
{
	struct doc *d = xalloc(NULL, sizeof(*d));

	memset(d, 0, sizeof(*d));
	d->title = xstrdup(title);
	return d;
}

void doc_free(struct doc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		struct block *b = &d->blocks[i];

		free(b->id);
		free(b->text);
		free(b->href);
		free(b->svg);
		for (int c = 0; c < b->table.nrows * b->table.ncols; c++)
			free(b->table.cells[c]);
		free(b->table.cells);
		free(b->table.best);
	}
	free(d->blocks);
	free(d->title);
	free(d);
}

void doc_section(struct doc *d, const char *id, const char *title)
{
	struct block *b = add(d, B_SECTION);

	b->id = xstrdup(id);
	b->text = xstrdup(title);
}

void doc_para(struct doc *d, enum doc_para kind, const char *fmt, ...)
{
	struct block *b = add(d, B_PARA);
	va_list ap;

	b->para = kind;
	va_start(ap, fmt);
	if (vasprintf(&b->text, fmt, ap) < 0)
		out_of_memory();
	va_end(ap);
}

void doc_link(struct doc *d, const char *href, const char *text)
{
	struct block *b = add(d, B_LINK);

	b->href = xstrdup(href);
	b->text = xstrdup(text);
}

/*
 * Tables live inside the block array, which may move as it grows: a
 * doc_table pointer is only good until the next block is added, so
 * callers fill a table before adding anything else.
 */
struct doc_table *doc_table(struct doc *d, int ncols, ...)
{
	struct block *b = add(d, B_TABLE);
	va_list ap;

	b->table.ncols = ncols;
	doc_row(&b->table);
	va_start(ap, ncols);
	for (int c = 0; c < ncols; c++)
		b->table.cells[c] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
	return &b->table;
}

static void table_grow(struct doc_table *t)
{
	size_t n = (size_t)(t->nrows + 1) * t->ncols;

	t->cells = xalloc(t->cells, n * sizeof(*t->cells));
	t->best = xalloc(t->best, n);
	memset(t->best + n - t->ncols, 0, t->ncols);
	for (int c = 0; c < t->ncols; c++)
		t->cells[n - t->ncols + c] = NULL;
	t->nrows++;
}

void doc_row(struct doc_table *t, ...)
{
	va_list ap;
	int header = t->nrows == 0;
	char **row;

	table_grow(t);
	if (header)
		return;		/* doc_table fills the header itself */
	row = &t->cells[(t->nrows - 1) * t->ncols];
	va_start(ap, t);
	for (int c = 0; c < t->ncols; c++)
		row[c] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
}

void doc_mark_best(struct doc_table *t, int row, int col)
{
	if (row >= 0 && row + 1 < t->nrows && col >= 0 && col < t->ncols)
		t->best[(row + 1) * t->ncols + col] = 1;
}

int doc_table_rows(const struct doc_table *t)
{
	return t->nrows - 1;
}

void doc_figure(struct doc *d, const char *name, char *svg,
		const char *caption)
{
	struct block *b = add(d, B_FIGURE);

	b->id = xstrdup(name);
	b->svg = svg;
	b->text = xstrdup(caption);
}

static const char *const para_label[] = {
	[DOC_TEXT] = NULL,
	[DOC_QUESTION] = "Question",
	[DOC_METHOD] = "Method",
	[DOC_RESULT] = "Result",
	[DOC_CONCLUSION] = "Conclusion",
	[DOC_KERNEL] = "Kernel connection",
	[DOC_SKIPPED] = "Skipped",
};

/* ---- HTML ---- */

static void html_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

static const char html_style[] =
	"body{font:16px/1.55 system-ui,sans-serif;max-width:62rem;"
	"margin:2rem auto;padding:0 1rem;color:#1d232a;background:#fdfdfc}"
	"h1{font-size:2rem;margin-bottom:.2rem}"
	"h2{margin-top:2.6rem;border-bottom:2px solid #e4e7eb;"
	"padding-bottom:.3rem}"
	"nav ol{columns:2;font-size:.95rem}"
	"p.label{margin:.5rem 0;display:grid;"
	"grid-template-columns:10rem 1fr;gap:.5rem}"
	"p.label b{color:#4b5b6b}"
	"p.skipped{background:#fff4e5;border-left:4px solid #f0a030;"
	"padding:.4rem .8rem}"
	"table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;"
	"font-variant-numeric:tabular-nums}"
	"th,td{border:1px solid #d5dae0;padding:.3rem .6rem;text-align:left}"
	"th{background:#f0f3f6}"
	"td.best{background:#e3f5e1;font-weight:600}"
	"figure{margin:1.2rem 0}"
	"figcaption{font-size:.9rem;color:#4b5b6b}"
	"svg{max-width:100%;height:auto}";

static void html_table(FILE *out, const struct doc_table *t)
{
	fputs("<table>\n", out);
	for (int r = 0; r < t->nrows; r++) {
		fputs("<tr>", out);
		for (int c = 0; c < t->ncols; c++) {
			int i = r * t->ncols + c;

			fputs(r == 0 ? "<th>" : t->best[i] ?
			      "<td class=\"best\">" : "<td>", out);
			html_text(out, t->cells[i] ? t->cells[i] : "");
			fputs(r == 0 ? "</th>" : "</td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

int doc_write_html(const struct doc *d, FILE *out)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n<title>", out);
	html_text(out, d->title);
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>",
		html_style);
	html_text(out, d->title);
	fputs("</h1>\n<nav><ol>\n", out);
	for (size_t i = 0; i < d->n; i++) {
		const struct block *b = &d->blocks[i];

		if (b->type != B_SECTION)
			continue;
		fprintf(out, "<li><a href=\"#%s\">", b->id);
		html_text(out, b->text);
		fputs("</a></li>\n", out);
	}
	fputs("</ol></nav>\n", out);
	for (size_t i = 0; i < d->n; i++) {
		const struct block *b = &d->blocks[i];

		switch (b->type) {
		case B_SECTION:
			fprintf(out, "<h2 id=\"%s\">", b->id);
			html_text(out, b->text);
			fputs("</h2>\n", out);
			break;
		case B_PARA:
			if (para_label[b->para])
				fprintf(out, "<p class=\"label%s\"><b>%s</b> ",
					b->para == DOC_SKIPPED ? " skipped" : "",
					para_label[b->para]);
			else
				fputs("<p>", out);
			html_text(out, b->text);
			fputs("</p>\n", out);
			break;
		case B_LINK:
			fputs("<p><a href=\"", out);
			html_text(out, b->href);
			fputs("\">", out);
			html_text(out, b->text);
			fputs("</a></p>\n", out);
			break;
		case B_TABLE:
			html_table(out, &b->table);
			break;
		case B_FIGURE:
			fprintf(out, "<figure>\n%s\n<figcaption>", b->svg);
			html_text(out, b->text);
			fputs("</figcaption>\n</figure>\n", out);
			break;
		}
	}
	fputs("</body>\n</html>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- Markdown ---- */

static void md_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static void md_table(FILE *out, const struct doc_table *t)
{
	for (int r = 0; r < t->nrows; r++) {
		fputc('|', out);
		for (int c = 0; c < t->ncols; c++) {
			int i = r * t->ncols + c;

			fputc(' ', out);
			if (t->best[i])
				fputs("**", out);
			md_cell(out, t->cells[i] ? t->cells[i] : "");
			if (t->best[i])
				fputs("**", out);
			fputs(" |", out);
		}
		fputc('\n', out);
		if (r == 0) {
			fputc('|', out);
			for (int c = 0; c < t->ncols; c++)
				fputs(" --- |", out);
			fputc('\n', out);
		}
	}
	fputc('\n', out);
}

static int write_svg_file(const char *dir, const char *name, const char *svg)
{
	char path[4096];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.svg", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(svg, f);
	rc = ferror(f) ? -1 : 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

int doc_write_md(const struct doc *d, FILE *out, const char *dir)
{
	fprintf(out, "# %s\n\n", d->title);
	for (size_t i = 0; i < d->n; i++) {
		const struct block *b = &d->blocks[i];

		switch (b->type) {
		case B_SECTION:
			fprintf(out, "## %s\n\n", b->text);
			break;
		case B_PARA:
			if (para_label[b->para])
				fprintf(out, "**%s.** ", para_label[b->para]);
			fprintf(out, "%s\n\n", b->text);
			break;
		case B_LINK:
			fprintf(out, "[%s](%s)\n\n", b->text, b->href);
			break;
		case B_TABLE:
			md_table(out, &b->table);
			break;
		case B_FIGURE:
			if (write_svg_file(dir, b->id, b->svg) < 0)
				return -1;
			fprintf(out, "![%s](%s.svg)\n\n*%s*\n\n", b->text,
				b->id, b->text);
			break;
		}
	}
	return ferror(out) ? -1 : 0;
}
