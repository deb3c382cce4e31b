#!/bin/bash
# heaplab experiment progression: one workload under phase 1 to 6, heaplab
# and glibc; the traced syscall counts checked against the phases' own
# counters, the outside footprint against their own.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='r = by(d["runs"])'

"$HEAPLAB" experiment progression --quick --json >"$TMP/p.json"; ok $? "progression --quick --json"
is "$(field "$TMP/p.json" "list(r)")" \
	"['phase1', 'phase2', 'phase3', 'phase4', 'phase5', 'phase6', 'heaplab', 'glibc']" "phase 1 to 6, heaplab and glibc"
is "$(field "$TMP/p.json" "len(set(x['peak_live'] for x in r.values()))")" 1 "the same workload: one peak of live bytes"
is "$(field "$TMP/p.json" "all(abs(x['utilization'] - x['peak_live'] / x['peak_heap']) < 0.001 for x in r.values())")" True \
	"utilization = peak live / peak heap in every row"
is "$(field "$TMP/p.json" "r['phase1']['peak_heap'] == r['phase2']['peak_heap'] > r['phase3']['peak_heap']")" True \
	"phases 1 and 2 never reuse; the free list (phase 3) shrinks the heap"
is "$(field "$TMP/p.json" "r['phase5']['peak_heap'] < r['phase4']['peak_heap']")" True "coalescing (phase 5) shrinks it again"
is "$(field "$TMP/p.json" "min(r, key=lambda a: r[a]['utilization'])")" phase1 "phase 1 has the lowest utilization"
is "$(field "$TMP/p.json" "(sum(r['phase%d' % i]['mmap_calls'] for i in range(1, 6)), r['phase6']['munmap_calls'] > 0)")" \
	"(0, True)" "only phase 6 maps (and unmaps) blocks of its own"
is "$(field "$TMP/p.json" "all(0.9 * x['peak_heap'] <= x['outside_footprint'] <= x['peak_heap'] for n, x in r.items() if n.startswith('phase'))")" \
	True "for the phases, the outside footprint is within 10% under their own count"

# The traced brk calls against the allocator's own sbrk counter.
ops=$(field "$TMP/p.json" "d['ops']"); slots=$(field "$TMP/p.json" "d['slots']")
for p in phase1 phase3 phase5; do
	own=$(LD_PRELOAD="$B/phases/lib$p.so" "$B/experiments/targets/workload" "$ops" "$slots" | awk '$1 == "phase_sbrk_calls" {print $2}')
	is "$(field "$TMP/p.json" "r['$p']['brk_calls']")" "$own" "$p: traced brk calls = its own sbrk counter ($own)"
done
out=$("$HEAPLAB" experiment progression --quick -a phase1 -a phase5); ok $? "progression (text)"
like "$out" "phase5 +[0-9]+ +[0-9]+ +0\.[0-9]{3}" "the text has a utilization column"
done_testing
