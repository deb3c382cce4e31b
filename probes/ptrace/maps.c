// SPDX-License-Identifier: MIT
/* maps.c — classify a syscall's instruction pointer; see maps.h. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "probes/ptrace/maps.h"

#define PAGE_DOWN(a) ((a) & ~(uint64_t)4095)
#define PAGE_UP(a) (((a) + 4095) & ~(uint64_t)4095)

void hl_maps_reset(struct hl_maps *m, pid_t pid)
{
	memset(m, 0, sizeof(*m));
	m->pid = pid;
}

/* Reads what fits of a /proc file into BUF; returns the bytes read, or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	size_t got = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

/* AT_BASE from /proc/PID/auxv: where the kernel put the interpreter. */
static uint64_t interp_base(pid_t pid)
{
	Elf64_auxv_t av[64];
	ssize_t n = read_proc(pid, "auxv", (char *)av, sizeof(av));

	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(av[0]); i++) {
		if (av[i].a_type == AT_NULL)
			break;
		if (av[i].a_type == AT_BASE)
			return av[i].a_un.a_val;
	}
	return 0;
}

/* A range and what it holds lost from the cache. */
static void uncached(struct hl_maps *m, uint8_t code)
{
	if (code == HL_CODE_LOADER)
		m->loader_cached = 0;
	else if (code == HL_CODE_TAP)
		m->tap_cached = 0;
}

/* Caches a range; when full, an "other" range makes room first. */
static void cache_range(struct hl_maps *m, uint64_t s, uint64_t e,
			uint8_t code)
{
	unsigned i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].start == s && m->r[i].end == e) {
			m->r[i].code = code;
			return;
		}
	if (m->n < HL_MAPS_CACHE) {
		i = m->n++;
	} else {
		unsigned k;

		for (k = 0; k < HL_MAPS_CACHE; k++)
			if (m->r[(m->next + k) % HL_MAPS_CACHE].code ==
			    HL_CODE_OTHER)
				break;
		i = (m->next + k) % HL_MAPS_CACHE;
		m->next = i + 1;
		uncached(m, m->r[i].code);
	}
	m->r[i].start = s;
	m->r[i].end = e;
	m->r[i].code = code;
}

/*
 * The loader's code from its own ELF program headers, read where the
 * kernel mapped its first page (which holds them) in the process: the
 * executable PT_LOAD segments, rounded out to pages as mmap maps them.
 * Returns 0 when they are cached.
 */
static int seed_loader(struct hl_maps *m)
{
	union {
		Elf64_Ehdr eh;
		char raw[1024];
	} u;
	const Elf64_Phdr *ph;
	struct iovec local = { u.raw, sizeof(u.raw) };
	struct iovec remote = { (void *)(uintptr_t)m->base, sizeof(u.raw) };
	int found = 0;

	if (process_vm_readv(m->pid, &local, 1, &remote, 1, 0) !=
	    (ssize_t)sizeof(u.raw))
		return -1;
	if (memcmp(u.eh.e_ident, ELFMAG, SELFMAG) ||
	    u.eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    u.eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    u.eh.e_phoff > sizeof(u.raw) ||
	    u.eh.e_phnum > (sizeof(u.raw) - u.eh.e_phoff) / sizeof(Elf64_Phdr))
		return -1;
	ph = (const Elf64_Phdr *)(u.raw + u.eh.e_phoff);
	for (unsigned i = 0; i < u.eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		if (m->n >= HL_MAPS_CACHE / 2)
			return -1;	/* not a loader we know the shape of */
		cache_range(m, m->base + PAGE_DOWN(ph[i].p_vaddr),
			    m->base + PAGE_UP(ph[i].p_vaddr + ph[i].p_memsz),
			    HL_CODE_LOADER);
		found = 1;
	}
	return found ? 0 : -1;
}

/* First look at a new image: where its loader is, and its code. */
static void seed(struct hl_maps *m, const char *tap_path)
{
	m->seeded = 1;
	m->tap_cached = !tap_path;
	m->base = interp_base(m->pid);
	if (!m->base) {
		/* A static image: no loader to find. */
		m->loader_known = 1;
		m->loader_cached = 1;
		return;
	}
	if (seed_loader(m) < 0) {
		m->n = 0;	/* /proc/PID/maps decides every miss */
		return;
	}
	m->loader_cached = 1;
}

/* One line of /proc/PID/maps: its range and path ("" when anonymous). */
static int parse_line(char *line, uint64_t *s, uint64_t *e, char **path)
{
	char *p = line;
	int field;

	*s = strtoull(p, &p, 16);
	if (*p++ != '-')
		return -1;
	*e = strtoull(p, &p, 16);
	/* perms, offset, dev, inode, then spaces up to the path */
	for (field = 0; field < 4; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		p++;
	*path = p;
	return 0;
}

/*
 * A miss: one pass over /proc/PID/maps finds the mapping holding IP, the
 * loader's path (the mapping at AT_BASE) and every mapping of the tap,
 * and caches them. Returns the class of IP.
 */
static enum hl_code read_maps(struct hl_maps *m, uint64_t ip,
			      const char *tap_path)
{
	char path[64], line[4096 + 256], ip_file[4096 + 256] = "";
	uint64_t ip_s = 0, ip_e = 0;
	int tap_seen = 0;
	enum hl_code code = HL_CODE_OTHER;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)m->pid);
	f = fopen(path, "re");
	if (!f)
		return HL_CODE_OTHER;
	while (fgets(line, sizeof(line), f)) {
		uint64_t s, e;
		char *file;

		line[strcspn(line, "\n")] = '\0';
		if (parse_line(line, &s, &e, &file) < 0)
			continue;
		if (!m->loader_known && m->base && s == m->base)
			snprintf(m->loader, sizeof(m->loader), "%s", file);
		if (ip >= s && ip < e) {
			ip_s = s;
			ip_e = e;
			snprintf(ip_file, sizeof(ip_file), "%s", file);
			continue;
		}
		if (tap_path && file[0] == '/' && !strcmp(file, tap_path)) {
			tap_seen = 1;
			cache_range(m, s, e, HL_CODE_TAP);
		}
	}
	fclose(f);
	m->loader_known = 1;
	if (!ip_e)
		return HL_CODE_OTHER;
	if (ip_file[0] == '/' && m->loader[0] && !strcmp(ip_file, m->loader))
		code = HL_CODE_LOADER;
	else if (ip_file[0] == '/' && tap_path && !strcmp(ip_file, tap_path))
		code = HL_CODE_TAP;
	cache_range(m, ip_s, ip_e, code);
	/* The tap is mapped before any code but the loader's runs: seen
	 * once, all of it is cached now. */
	if (tap_seen || code == HL_CODE_TAP)
		m->tap_cached = 1;
	return code;
}

enum hl_code hl_maps_classify(struct hl_maps *m, uint64_t ip,
			      const char *tap_path)
{
	for (unsigned i = 0; i < m->n; i++)
		if (ip >= m->r[i].start && ip < m->r[i].end)
			return m->r[i].code;
	if (!m->seeded) {
		seed(m, tap_path);
		for (unsigned i = 0; i < m->n; i++)
			if (ip >= m->r[i].start && ip < m->r[i].end)
				return m->r[i].code;
	}
	if (m->loader_cached && m->tap_cached)
		return HL_CODE_OTHER;
	return read_maps(m, ip, tap_path);
}

void hl_maps_forget(struct hl_maps *m, uint64_t addr, uint64_t len)
{
	unsigned j = 0;

	for (unsigned i = 0; i < m->n; i++) {
		if (addr < m->r[i].end && addr + len > m->r[i].start) {
			uncached(m, m->r[i].code);
			continue;
		}
		m->r[j++] = m->r[i];
	}
	m->n = j;
	m->next = 0;
}
