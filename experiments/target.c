// SPDX-License-Identifier: MIT
/*
 * target.c — running an experiment's target program with an allocator
 * preloaded and collecting what it prints.
 */
#include <stdlib.h>
#include <string.h>

#include "experiments/experiment.h"

int hl_target_capture(const struct hl_alloc *alloc, char *const argv[],
		      char **out)
{
	const char *libs[] = { alloc ? alloc->path : NULL };

	return hl_capture(argv, libs, 1, out, NULL);
}

long long hl_out_value(const char *out, const char *key, long long dflt)
{
	size_t klen = strlen(key);

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (!strncmp(l, key, klen) && l[klen] == ' ')
			return strtoll(l + klen + 1, NULL, 0);
	return dflt;
}
