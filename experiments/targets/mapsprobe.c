// SPDX-License-Identifier: MIT
/*
 * mapsprobe — the lab guide's experiment 0.2: malloc(100), then show the
 * memory map. Prints "block ADDR", "break ADDR" (sbrk(0) after the malloc)
 * and every line of /proc/self/maps as "map LINE".
 *
 * The map is read with read(2) into a static buffer so that nothing else
 * is allocated before it is taken.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char maps[1 << 20];
static void *volatile block;

int main(void)
{
	ssize_t n, len = 0;
	void *brk_now;
	int fd;

	block = malloc(100);
	brk_now = sbrk(0);
	fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return 3;
	while ((n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += n;
	close(fd);
	maps[len] = '\0';
	printf("block %p\nbreak %p\n", block, brk_now);
	for (char *l = strtok(maps, "\n"); l; l = strtok(NULL, "\n"))
		printf("map %s\n", l);
	return 0;
}
