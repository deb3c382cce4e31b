// SPDX-License-Identifier: MIT
/* sh8bench — sh6bench with a tenth of each run freed by the next thread. */
#include "shbench.h"

int main(int argc, char **argv)
{
	return sh_main(argc, argv, "sh8bench", 1);
}
