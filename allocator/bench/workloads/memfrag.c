// SPDX-License-Identifier: MIT
/* memfrag — RSS kept after freeing all but every tenth block of a 256 MiB heap. */
#include "memreturn.h"

int main(int argc, char **argv)
{
	return mr_main(argc, argv, "memfrag", 1);
}
