/* SPDX-License-Identifier: MIT */
/* report.h — parts of `heaplab report` beyond the experiments' sections. */
#ifndef HEAPLAB_REPORT_REPORT_H
#define HEAPLAB_REPORT_REPORT_H

#include "lab/json.h"
#include "report/doc.h"

/*
 * The traced runs of a real program under glibc and heaplab: Perfetto
 * traces written into DIR, a section in D, the numbers in RESULTS.
 * Returns how many runs failed (each shown as skipped).
 */
int report_traced_runs(struct doc *d, struct json *results, const char *dir,
		       int quick);

#endif
