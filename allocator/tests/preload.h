/* SPDX-License-Identifier: MIT */
/*
 * preload.h — for allocator tests that must run with libheaplab.so
 * preloaded: preload_self() re-executes the test with LD_PRELOAD set (the
 * library from $HEAPLAB_BUILD, else beside the test's build tree) unless
 * heaplab is already the allocator. Also helpers to read the heap dump.
 */
#ifndef HEAPLAB_TEST_PRELOAD_H
#define HEAPLAB_TEST_PRELOAD_H

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "allocator/include/heaplab.h"

static int (*hl_stats)(struct heaplab_stats *);
static void (*hl_dump)(int);

static void preload_self(char **argv)
{
	char lib[PATH_MAX], exe[PATH_MAX];
	const char *build = getenv("HEAPLAB_BUILD");
	ssize_t n;

	hl_stats = (int (*)(struct heaplab_stats *))dlsym(RTLD_DEFAULT, "heaplab_stats");
	hl_dump = (void (*)(int))dlsym(RTLD_DEFAULT, "heaplab_dump");
	if (hl_stats && hl_dump)
		return;
	if (getenv("HEAPLAB_TEST_REEXEC")) {
		printf("not ok 1 - libheaplab.so is the allocator after re-exec\n1..1\n");
		exit(1);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		perror("/proc/self/exe");
		exit(1);
	}
	exe[n] = '\0';
	if (build)
		snprintf(lib, sizeof(lib), "%s/libheaplab.so", build);
	else	/* BUILD/tests/allocator/NAME */
		snprintf(lib, sizeof(lib), "%s/../../libheaplab.so", dirname(exe));
	setenv("LD_PRELOAD", lib, 1);
	setenv("HEAPLAB_TEST_REEXEC", "1", 1);
	execv("/proc/self/exe", argv);
	perror("re-exec with LD_PRELOAD");
	exit(1);
}

/* The whole heap dump as text (static buffer). */
static const char *dump_text(void)
{
	static char buf[1 << 22];
	int fd = memfd_create("heaplab-dump", 0);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return "";
	hl_dump(fd);
	lseek(fd, 0, SEEK_SET);
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(fd);
	return buf;
}

/*
 * The dump line of the chunk whose user pointer is mem: "free fast[5]",
 * "in-use", "top"... in out (empty if the chunk is not in the dump);
 * its size in *size.
 */
static __attribute__((unused)) const char *chunk_state(const void *mem, size_t *size)
{
	static char out[128];
	char key[64];
	const char *text = dump_text(), *line, *end;
	size_t sz = 0;

	snprintf(key, sizeof(key), "0x%016lx  0x%016lx", (unsigned long)mem - 16,
		 (unsigned long)mem);
	out[0] = '\0';
	line = strstr(text, key);
	if (!line)
		return out;
	line += strlen(key);
	end = strchr(line, '\n');
	if (sscanf(line, "%zu", &sz) != 1)
		return out;
	while (*line == ' ')
		line++;
	while (*line && *line != ' ')
		line++;
	while (*line == ' ')
		line++;
	snprintf(out, sizeof(out), "%.*s", (int)(end ? end - line : (long)strlen(line)), line);
	/* Collapse the column padding: "free    fast[5]" -> "free fast[5]" */
	for (char *s = out, *d = out; ; s++) {
		if (*s == ' ' && d > out && d[-1] == ' ')
			continue;
		if (!(*d++ = *s))
			break;
	}
	if (size)
		*size = sz;
	return out;
}

static __attribute__((unused)) struct heaplab_stats stats(void)
{
	struct heaplab_stats st;

	hl_stats(&st);
	return st;
}

#endif
