// SPDX-License-Identifier: MIT
/* maps.c — classify a syscall's instruction pointer; see maps.h. */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probes/ptrace/maps.h"

void hl_maps_reset(struct hl_maps *m, pid_t pid)
{
	memset(m, 0, sizeof(*m));
	m->pid = pid;
}

/* AT_BASE from /proc/PID/auxv: where the kernel put the interpreter. */
static uint64_t interp_base(pid_t pid)
{
	char path[64];
	Elf64_auxv_t av[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, av, sizeof(av));
	close(fd);
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(av[0]); i++) {
		if (av[i].a_type == AT_NULL)
			break;
		if (av[i].a_type == AT_BASE)
			return av[i].a_un.a_val;
	}
	return 0;
}

/*
 * Finds the mapping containing IP (or, with IP 0, the one starting at BASE)
 * in /proc/PID/maps: its range and path. Returns 0 when found.
 */
static int find_mapping(pid_t pid, uint64_t ip, uint64_t base, uint64_t *start,
			uint64_t *end, char *file, size_t flen)
{
	char path[64], line[4096 + 256];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		int off = 0;
		char *p;

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &s, &e, &off) < 2)
			continue;
		if (base ? s != base : !(ip >= s && ip < e))
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = '\0';
		snprintf(file, flen, "%s", off ? p : "");
		*start = s;
		*end = e;
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static void learn_loader(struct hl_maps *m)
{
	uint64_t base = interp_base(m->pid), s, e;

	m->loader_known = 1;
	m->loader[0] = '\0';
	if (base)
		find_mapping(m->pid, 0, base, &s, &e, m->loader,
			     sizeof(m->loader));
}

enum hl_code hl_maps_classify(struct hl_maps *m, uint64_t ip,
			      const char *tap_path)
{
	char file[4096];
	uint64_t s, e;
	unsigned i;
	uint8_t code = HL_CODE_OTHER;

	for (i = 0; i < m->n; i++)
		if (ip >= m->r[i].start && ip < m->r[i].end)
			return m->r[i].code;
	if (!m->loader_known)
		learn_loader(m);
	if (find_mapping(m->pid, ip, 0, &s, &e, file, sizeof(file)) < 0)
		return HL_CODE_OTHER;
	if (file[0] == '/' && m->loader[0] && !strcmp(file, m->loader))
		code = HL_CODE_LOADER;
	else if (file[0] == '/' && tap_path && !strcmp(file, tap_path))
		code = HL_CODE_TAP;
	i = m->n < HL_MAPS_CACHE ? m->n++ : m->next++ % HL_MAPS_CACHE;
	m->r[i].start = s;
	m->r[i].end = e;
	m->r[i].code = code;
	return code;
}

void hl_maps_forget(struct hl_maps *m, uint64_t addr, uint64_t len)
{
	unsigned j = 0;

	for (unsigned i = 0; i < m->n; i++) {
		if (addr < m->r[i].end && addr + len > m->r[i].start)
			continue;
		m->r[j++] = m->r[i];
	}
	m->n = j;
	m->next = 0;
}
