// SPDX-License-Identifier: MIT
/*
 * tracerun.c — experiments observe through `heaplab trace`: the target runs
 * traced as its own process, the jsonl timeline is read back as JSON
 * values. Going through the command (not its internals) keeps every
 * experiment on the same contract users script against.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/experiment.h"

static void push(struct hl_trace *t, struct json *ev)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
		if (!t->ev)
			hl_die(NULL, "out of memory");
	}
	t->ev[t->n++] = ev;
}

static void parse_lines(struct hl_trace *t, char *text, const char *path)
{
	char err[160];
	int lineno = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		struct json *ev = json_parse(line, err, sizeof(err));

		lineno++;
		if (!ev)
			hl_die(NULL, "%s line %d: %s", path, lineno, err);
		if (!strcmp(json_as_str(json_get(ev, "kind"), ""),
			    "trace_end")) {
			t->complete = json_as_bool(json_get(ev, "complete"), 0);
			t->dropped = json_as_int(json_get(ev, "dropped"), 0);
			json_free(ev);
			continue;
		}
		push(t, ev);
	}
}

int hl_trace_run(const struct hl_alloc *alloc, char *const argv[],
		 struct hl_trace *t, char **out)
{
	return hl_trace_run_events(alloc, argv, "all", t, out);
}

int hl_trace_run_events(const struct hl_alloc *alloc, char *const argv[],
			const char *events, struct hl_trace *t, char **out)
{
	char self[PATH_MAX], path[] = "/tmp/heaplab-trace.XXXXXX";
	char *targv[64], *text, *ignored;
	int argc = 0, fd;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		hl_die(NULL, "cannot read /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	fd = mkstemp(path);
	if (fd < 0)
		hl_die(NULL, "cannot create a temporary file: %s",
		       strerror(errno));
	close(fd);
	targv[argc++] = self;
	targv[argc++] = "trace";
	targv[argc++] = "-e";
	targv[argc++] = "ptrace";
	targv[argc++] = "-a";
	targv[argc++] = alloc->path[0] ? (char *)alloc->path : "glibc";
	targv[argc++] = "--events";
	targv[argc++] = (char *)events;
	targv[argc++] = "-f";
	targv[argc++] = "jsonl";
	targv[argc++] = "-o";
	targv[argc++] = path;
	targv[argc++] = "--";
	for (int i = 0; argv[i] && argc < 63; i++)
		targv[argc++] = argv[i];
	targv[argc] = NULL;
	memset(t, 0, sizeof(*t));
	t->status = hl_capture(targv, NULL, 0, out ? out : &ignored, NULL);
	if (!out)
		free(ignored);
	text = hl_read_file(path);
	if (!text)
		hl_die(NULL, "cannot read %s: %s", path, strerror(errno));
	unlink(path);
	parse_lines(t, text, path);
	free(text);
	return t->status;
}

void hl_trace_free(struct hl_trace *t)
{
	for (size_t i = 0; i < t->n; i++)
		json_free(t->ev[i]);
	free(t->ev);
	memset(t, 0, sizeof(*t));
}

const char *hl_ev_kind(const struct json *ev)
{
	return json_as_str(json_get(ev, "kind"), "");
}

int64_t hl_ev_arg(const struct json *ev, const char *name, int64_t dflt)
{
	return json_as_int(json_get(json_get(ev, "args"), name), dflt);
}

int64_t hl_ev_cause_seq(const struct json *ev)
{
	return json_as_int(json_get(json_get(ev, "cause"), "seq"), -1);
}

const char *hl_ev_cause_kind(const struct json *ev)
{
	return json_as_str(json_get(json_get(ev, "cause"), "kind"), "");
}
