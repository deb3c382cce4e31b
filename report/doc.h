/* SPDX-License-Identifier: MIT */
/*
 * doc.h — the lab report as a document: sections of paragraphs, tables and
 * figures, written out twice from the same tree, as one self-contained HTML
 * page (figures inline) and as Markdown (figures as SVG files beside it).
 *
 * Text is plain: the writers escape it for their format. Figures are SVG
 * made by svg.h.
 */
#ifndef HEAPLAB_REPORT_DOC_H
#define HEAPLAB_REPORT_DOC_H

#include <stdio.h>

/* What a paragraph is, shown as its label in the report. */
enum doc_para {
	DOC_TEXT,		/* no label */
	DOC_QUESTION,		/* "Question" */
	DOC_METHOD,		/* "Method" */
	DOC_RESULT,		/* "Result" */
	DOC_CONCLUSION,		/* "Conclusion" */
	DOC_KERNEL,		/* "Kernel connection" */
	DOC_SKIPPED,		/* "Skipped", a step that could not run */
};

struct doc;
struct doc_table;

struct doc *doc_new(const char *title);
void doc_free(struct doc *d);

/* A new section; ID is its anchor (and the prefix of its figure files). */
void doc_section(struct doc *d, const char *id, const char *title);
void doc_para(struct doc *d, enum doc_para kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A link to a file in the report folder (a Perfetto trace). */
void doc_link(struct doc *d, const char *href, const char *text);

/* A table of NCOLS columns; the header is the first row. */
struct doc_table *doc_table(struct doc *d, int ncols, ...);
/* A row of NCOLS cells (strings, copied). */
void doc_row(struct doc_table *t, ...);
/* Marks the cell in ROW (0 = first data row) and COL as the best. */
void doc_mark_best(struct doc_table *t, int row, int col);
int doc_table_rows(const struct doc_table *t);

/* A figure: SVG text (taken over), a caption. NAME is its file name stem. */
void doc_figure(struct doc *d, const char *name, char *svg,
		const char *caption);

/* The writers; DIR is where Markdown's figure files go. 0 or -1 (errno). */
int doc_write_html(const struct doc *d, FILE *out);
int doc_write_md(const struct doc *d, FILE *out, const char *dir);

#endif
