// SPDX-License-Identifier: MIT
/*
 * paths.c — where heaplab's files are, which allocator a name means, and
 * how a child gets it preloaded.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/heaplab.h"

const char *const hl_alloc_names[] = {
	"glibc", "heaplab", "phase1", "phase2", "phase3", "phase4", "phase5",
	"phase6", "jemalloc", "mimalloc", "tcmalloc", NULL,
};

/* Allocators heaplab does not build: the Debian package and its soname. */
static const struct {
	const char *name, *soname, *package;
} system_allocs[] = {
	{ "jemalloc", "libjemalloc.so.2", "libjemalloc2" },
	{ "mimalloc", "libmimalloc.so.2", "libmimalloc2.0" },
	{ "tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4" },
};

static const char *const system_libdirs[] = {
	"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
	"/usr/lib64", "/usr/lib", "/usr/local/lib",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *hl_libdir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX], up[PATH_MAX + 16];
	const char *bindir;
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		hl_die(NULL, "cannot read /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	bindir = dirname(exe);
	/* Installed: PREFIX/bin/heaplab next to PREFIX/lib/heaplab. */
	snprintf(up, sizeof(up), "%s/../lib/heaplab", bindir);
	if (is_dir(up) && realpath(up, dir))
		return dir;
	/* Build tree: everything sits beside build/heaplab. */
	snprintf(dir, sizeof(dir), "%s", bindir);
	return dir;
}

char *hl_libpath(char *buf, size_t len, const char *rel)
{
	if ((size_t)snprintf(buf, len, "%s/%s", hl_libdir(), rel) >= len)
		hl_die(NULL, "path too long: %s/%s", hl_libdir(), rel);
	return buf;
}

static int resolve_system(const char *cmd, const char *name, size_t i,
			  struct hl_alloc *out)
{
	for (size_t d = 0; d < ARRAY_LEN(system_libdirs); d++) {
		snprintf(out->path, sizeof(out->path), "%s/%s",
			 system_libdirs[d], system_allocs[i].soname);
		if (is_file(out->path))
			return 0;
	}
	if (cmd)
		hl_warn(cmd, "allocator '%s' is not installed (no %s in the "
			"system library directories); install the Debian "
			"package %s, e.g. with 'make deps'", name,
			system_allocs[i].soname, system_allocs[i].package);
	return -1;
}

static int resolve_built(const char *cmd, const char *name, const char *rel,
			 struct hl_alloc *out)
{
	hl_libpath(out->path, sizeof(out->path), rel);
	if (is_file(out->path))
		return 0;
	if (cmd)
		hl_warn(cmd, "allocator '%s' is not built (%s is missing); "
			"run 'make'", name, out->path);
	return -1;
}

static int resolve_path(const char *cmd, const char *name, struct hl_alloc *out)
{
	if (!realpath(name, out->path)) {
		if (cmd)
			hl_warn(cmd, "allocator '%s': %s", name, strerror(errno));
		return -1;
	}
	if (!is_file(out->path)) {
		if (cmd)
			hl_warn(cmd, "allocator '%s' is not a file", name);
		return -1;
	}
	return 0;
}

int hl_alloc_resolve(const char *cmd, const char *name, struct hl_alloc *out)
{
	char rel[64];

	out->name = name;
	out->path[0] = '\0';
	if (!strcmp(name, "glibc"))
		return 0;
	if (!strcmp(name, "heaplab"))
		return resolve_built(cmd, name, "libheaplab.so", out);
	if (!strncmp(name, "phase", 5) && name[5] >= '1' && name[5] <= '6' &&
	    !name[6]) {
		snprintf(rel, sizeof(rel), "phases/lib%s.so", name);
		return resolve_built(cmd, name, rel, out);
	}
	for (size_t i = 0; i < ARRAY_LEN(system_allocs); i++)
		if (!strcmp(name, system_allocs[i].name))
			return resolve_system(cmd, name, i, out);
	if (strchr(name, '/') || strstr(name, ".so"))
		return resolve_path(cmd, name, out);
	if (cmd)
		hl_warn(cmd, "unknown allocator '%s' (known: glibc, heaplab, "
			"phase1..phase6, jemalloc, mimalloc, tcmalloc, or a "
			"path to a .so)", name);
	return -1;
}

int hl_alloc_available(const char *name)
{
	struct hl_alloc a;

	return hl_alloc_resolve(NULL, name, &a) == 0;
}

int hl_set_preload(const char *const libs[], size_t n)
{
	const char *old = getenv("LD_PRELOAD");
	size_t len = (old ? strlen(old) : 0) + 1;
	char *val;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (libs[i])
			len += strlen(libs[i]) + 1;
	val = malloc(len);
	if (!val)
		return -1;
	val[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!libs[i] || !libs[i][0])
			continue;
		if (val[0])
			strcat(val, ":");
		strcat(val, libs[i]);
	}
	if (old && old[0]) {
		if (val[0])
			strcat(val, ":");
		strcat(val, old);
	}
	rc = val[0] ? setenv("LD_PRELOAD", val, 1) : 0;
	free(val);
	return rc;
}
