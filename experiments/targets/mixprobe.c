// SPDX-License-Identifier: MIT
/*
 * mixprobe — allocation workloads for the fingerprint:
 *
 *	mixprobe churn N	N mixed malloc/free operations over a window
 *				of 4096 live blocks: mostly 16..1024 B, one
 *				in 64 of 4..64 KiB, one in 512 of 256 KiB..
 *				1 MiB (the trace counts the syscalls)
 *	mixprobe rss MIB	MIB MiB of 64..1024 B blocks, then all freed:
 *				"rss_start", "rss_peak", "rss_after" in KiB
 *
 * Sizes come from a fixed linear congruential sequence, so every
 * allocator sees the same requests.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW 4096

static unsigned long long lcg = 88172645463325252ULL;

static unsigned rnd(void)
{
	lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(lcg >> 33);
}

static size_t mixed_size(void)
{
	unsigned r = rnd();

	if (r % 512 == 0)
		return (256 << 10) + rnd() % (768 << 10);
	if (r % 64 == 0)
		return (4 << 10) + rnd() % (60 << 10);
	return 16 + rnd() % 1009;
}

static void churn(long n)
{
	static void *slot[WINDOW];

	for (long i = 0; i < n; i++) {
		unsigned k = rnd() % WINDOW;

		if (slot[k]) {
			free(slot[k]);
			slot[k] = NULL;
		} else {
			slot[k] = malloc(mixed_size());
			if (slot[k])
				memset(slot[k], 1, 16);
		}
	}
	for (int k = 0; k < WINDOW; k++)
		free(slot[k]);
}

/* A "VmXXX:  N kB" field of /proc/self/status, read without stdio. */
static long status_kb(const char *field)
{
	char buf[4096], *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, field);
	return p ? strtol(p + strlen(field) + 1, NULL, 10) : -1;
}

static void rss(long mib)
{
	size_t total = 0, n = 0, cap = (size_t)mib << 14;
	void **blocks = malloc(cap * sizeof(*blocks));
	long start = status_kb("VmRSS"), peak, after;
	char out[128];

	if (!blocks)
		exit(3);
	while (total < (size_t)mib << 20 && n < cap) {
		size_t sz = 64 + rnd() % 961;

		blocks[n] = malloc(sz);
		if (!blocks[n])
			exit(3);
		memset(blocks[n], 7, sz);
		total += sz;
		n++;
	}
	peak = status_kb("VmRSS");
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
	free(blocks);
	after = status_kb("VmRSS");
	snprintf(out, sizeof(out), "rss_start %ld\nrss_peak %ld\nrss_after %ld\n",
		 start, peak, after);
	if (write(STDOUT_FILENO, out, strlen(out)) < 0)
		exit(3);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 0;

	if (argc != 3 || n <= 0)
		return 2;
	if (!strcmp(argv[1], "churn"))
		churn(n);
	else if (!strcmp(argv[1], "rss"))
		rss(n);
	else
		return 2;
	return 0;
}
