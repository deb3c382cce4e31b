// SPDX-License-Identifier: MIT
/*
 * workload — one realistic allocation pattern for the progression
 * experiment, the same under every allocator (a fixed pseudo-random seed):
 *
 *	workload OPS SLOTS
 *
 * OPS steps over SLOTS slots: an empty slot gets a block, a full one is
 * freed (one time in eight it is realloc'd to a new size instead). Sizes
 * as programs ask for them: mostly small (16-128 B), some medium (up to
 * 4 KiB), a few big (up to 64 KiB) and rarely huge (128-512 KiB, where
 * mmap thresholds sit). Every block is written to, as a program would.
 *
 * Prints "ops", "peak_live" (the most requested bytes live at once),
 * "peak_footprint" (break growth plus rw anonymous mappings, sampled at
 * every new live peak and 256 times in between; footprint.h), "ns" (the
 * workload's own time, sampling excluded) and, under a teaching allocator,
 * its own counters ("phase_peak_footprint", "sbrk_calls", ...).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experiments/targets/footprint.h"
#include "lab/xorshift.h"

#define MAX_SLOTS 65536

static char *slot[MAX_SLOTS];
static size_t slot_size[MAX_SLOTS];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static size_t pick_size(void)
{
	unsigned r = hl_xorshift(&rng) % 1000;

	if (r < 700)
		return 16 + hl_xorshift(&rng) % 113;
	if (r < 950)
		return 128 + hl_xorshift(&rng) % 3969;
	if (r < 995)
		return 4096 + hl_xorshift(&rng) % 61441;
	return 131072 + hl_xorshift(&rng) % 393217;
}

static long long ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 0;
	long slots = argc > 2 ? atol(argv[2]) : 0;
	long long live = 0, peak = 0, sampled = 0, spent = 0, t0;
	long every = ops / 256 > 0 ? ops / 256 : 1;
	struct footprint f;

	if (ops < 1 || slots < 1 || slots > MAX_SLOTS)
		return 2;
	phase_lookup();
	footprint_start(&f);
	t0 = ns_now();
	for (long i = 0; i < ops; i++) {
		long s = hl_xorshift(&rng) % slots;
		size_t n;

		if (!slot[s]) {
			n = pick_size();
			slot[s] = malloc(n);
			if (!slot[s])
				return 4;
			memset(slot[s], (int)i, n);
			slot_size[s] = n;
			live += n;
		} else if (hl_xorshift(&rng) % 8 == 0) {
			char *p;

			n = pick_size();
			p = realloc(slot[s], n);
			if (!p)
				return 4;
			if (n > slot_size[s])
				memset(p + slot_size[s], (int)i,
				       n - slot_size[s]);
			live += (long long)n - (long long)slot_size[s];
			slot[s] = p;
			slot_size[s] = n;
		} else {
			free(slot[s]);
			slot[s] = NULL;
			live -= slot_size[s];
		}
		if (live > peak)
			peak = live;
		/* Sample at new live peaks (1% apart) and now and then. */
		if (peak > sampled + sampled / 100 || i % every == 0) {
			long long ts = ns_now();

			footprint_sample(&f);
			if (peak > sampled)
				sampled = peak;
			spent += ns_now() - ts;
		}
	}
	spent = ns_now() - t0 - spent;
	footprint_sample(&f);
	report("ops", ops);
	report("peak_live", peak);
	report("peak_footprint", f.peak);
	report("samples", f.samples);
	report("ns", spent);
	if (phase_stats) {
		struct heaplab_phase_stats st;

		phase_stats(&st);
		report("phase_peak_footprint", st.peak_footprint);
		report("phase_sbrk_calls", st.sbrk_calls);
		report("phase_mmap_calls", st.mmap_calls);
		report("phase_nodes_traversed", st.nodes_traversed);
	}
	return 0;
}
