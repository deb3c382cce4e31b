// SPDX-License-Identifier: MIT
/* memreturn — RSS kept after freeing the oldest 90% of a 256 MiB heap. */
#include "memreturn.h"

int main(int argc, char **argv)
{
	return mr_main(argc, argv, "memreturn", 0);
}
