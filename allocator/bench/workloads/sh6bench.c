// SPDX-License-Identifier: MIT
/* sh6bench — runs of 1..1000-byte blocks freed in mixed orders on 4 threads. */
#include "shbench.h"

int main(int argc, char **argv)
{
	return sh_main(argc, argv, "sh6bench", 0);
}
