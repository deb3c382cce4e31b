// SPDX-License-Identifier: MIT
/*
 * phaselib.c — options, the phaseprobe target and its heap walks, shared
 * by the phase experiments.
 */
#include <getopt.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/phaselib.h"

int pl_parse(struct pl_opts *o, const char *cmd, int argc, char **argv,
	     void (*help)(FILE *), const char *const *defaults)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (o->nalloc == PL_MAX_ALLOCS)
				return hl_usage(cmd, "at most %d allocators",
						PL_MAX_ALLOCS);
			if (hl_alloc_resolve(cmd, optarg,
					     &o->alloc[o->nalloc]) < 0)
				return HL_EXIT_USAGE;
			o->nalloc++;
			break;
		case 'j': o->json = 1; break;
		case 'q': o->quick = 1; break;
		case 'h': help(stdout); return 0;
		default: return hl_getopt_error(cmd, c, argv);
		}
	}
	if (optind < argc)
		return hl_usage(cmd, "unexpected argument '%s'", argv[optind]);
	for (int given = o->nalloc > 0; !given && defaults && *defaults;
	     defaults++) {
		if (!hl_alloc_available(*defaults))
			continue;
		hl_alloc_resolve(cmd, *defaults, &o->alloc[o->nalloc++]);
		if (o->nalloc == PL_MAX_ALLOCS)
			break;
	}
	if (!o->nalloc)
		hl_die(cmd, "none of its allocators is built; run 'make'");
	return -1;
}

int pl_is_phase(const struct hl_alloc *a)
{
	return !strncmp(a->name, "phase", 5) && a->name[5] >= '1' &&
	       a->name[5] <= '6' && !a->name[6];
}

char *pl_probe(const char *cmd, const struct hl_alloc *alloc,
	       const char *options, const char *const *args)
{
	static char path[4096];
	const char *old = getenv("HEAPLAB_OPTIONS");
	char *saved = old ? strdup(old) : NULL, *argv[16], *out;
	int argc = 0, st;

	if (!path[0])
		hl_target_path(path, sizeof(path), "phaseprobe");
	argv[argc++] = path;
	for (; *args && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	if (options)
		setenv("HEAPLAB_OPTIONS", options, 1);
	st = hl_target_capture(alloc, argv, &out);
	if (options) {
		if (saved)
			setenv("HEAPLAB_OPTIONS", saved, 1);
		else
			unsetenv("HEAPLAB_OPTIONS");
	}
	free(saved);
	if (st != 0)
		hl_die(cmd, "phaseprobe %s failed under %s (exit status %d)",
		       args[0] ? argv[1] : "", alloc->name, st);
	return out;
}

struct json *pl_chunks(const char *out, const char *label, long long base,
		       int *nfree)
{
	struct json *arr = json_arr();
	size_t llen = strlen(label);

	*nfree = 0;
	for (const char *l = out; l && *l; l = strchr(l, '\n'),
	     l = l ? l + 1 : l) {
		unsigned long long addr, size;
		char state[16];
		int magic;
		struct json *c;

		if (strncmp(l, "chunk ", 6) || strncmp(l + 6, label, llen) ||
		    l[6 + llen] != ' ')
			continue;
		if (sscanf(l + 7 + llen, "%llu %llu %15s %d", &addr, &size,
			   state, &magic) != 4)
			continue;
		c = json_push(arr, json_obj());
		json_set(c, "offset", json_int((long long)addr - base));
		json_set(c, "size", json_int(size));
		json_set(c, "state", json_str(state));
		json_set(c, "magic", magic < 0 ? json_null() :
			 json_bool(magic));
		*nfree += !strcmp(state, "free");
	}
	return arr;
}

long long pl_list_len(const char *out, const char *label, long long *before)
{
	char key[64], *l;
	long long n = -1, b = 0;

	snprintf(key, sizeof(key), "list %s ", label);
	l = strstr(out, key);
	if (l && sscanf(l + strlen(key), "%lld %lld", &n, &b) != 2)
		n = -1;
	if (before)
		*before = b;
	return n;
}

long long pl_value(const char *cmd, const char *out, const char *key)
{
	long long v = hl_out_value(out, key, LLONG_MIN);

	if (v == LLONG_MIN)
		hl_die(cmd, "phaseprobe printed no '%s'", key);
	return v;
}

void pl_output(const struct pl_opts *o, struct json *doc,
	       void (*print)(const struct json *), const struct json *part)
{
	if (o->json)
		json_write(stdout, doc, 2);
	else
		print(part);
	json_free(doc);
}

double pl_round(double v, int digits)
{
	double m = pow(10, digits);

	return round(v * m) / m;
}
