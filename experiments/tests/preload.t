#!/bin/bash
# heaplab experiment preload: ls under glibc and every phase, traced; phase
# 1's heap growing in a malloc/free loop while glibc's stays flat, checked
# against the break moves heaplab trace sees.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='r = by(d["ls"]); l = by(d["loop"]["runs"])'

"$HEAPLAB" experiment preload --quick --json >"$TMP/p.json"; ok $? "preload --quick --json"
is "$(field "$TMP/p.json" "sorted(r)")" \
	"['glibc', 'phase1', 'phase2', 'phase3', 'phase4', 'phase5', 'phase6']" "glibc and every phase ran"
is "$(field "$TMP/p.json" "all(x['ran'] and x['exit_status'] == 0 and x['output_same_as_glibc'] for x in r.values())")" \
	True "ls exits 0 with glibc's output under every phase"
# The program's own output, byte for byte, outside the experiment.
ls -l /etc >"$TMP/ref" 2>/dev/null
LD_PRELOAD="$B/phases/libphase1.so" ls -l /etc >"$TMP/p1" 2>/dev/null
cmp -s "$TMP/ref" "$TMP/p1"; ok $? "by hand: ls -l /etc under phase1 prints glibc's output"
is "$(field "$TMP/p.json" "r['phase1']['brk_calls'] >= r['phase1']['allocations'] > 100")" True \
	"phase1 moves the break at least once per allocation"
is "$(field "$TMP/p.json" "r['phase6']['brk_calls'] < r['phase3']['brk_calls'] < r['phase1']['brk_calls']")" True \
	"reuse cuts the break moves: phase6 < phase3 < phase1"

# The loop: phase 1 grows by every iteration, glibc not at all.
is "$(field "$TMP/p.json" "l['phase1']['growth'] >= (d['loop']['iterations'] - 1) * 1000")" True \
	"phase 1's heap grows in the loop by at least 1000 B an iteration"
is "$(field "$TMP/p.json" "l['glibc']['growth']")" 0 "glibc's stays flat"
# Independent: the break moves heaplab trace sees for the same loop.
for al in phase1 glibc; do
	"$HEAPLAB" trace -e ptrace --events syscalls -a $al -f jsonl -o "$TMP/$al.jsonl" -- \
		"$B/experiments/targets/phaseprobe" loop 500 1000 >/dev/null
	n=$(grep '"kind":"brk"' "$TMP/$al.jsonl" | grep -vc '"addr":0}')
	echo "# $al: $n break moves for 500 mallocs of 1000 B"
	eval "brk_$al=$n"
done
ok $(( brk_phase1 >= 500 ? 0 : 1 )) "traced: phase1 moves the break for every one of 500 mallocs"
ok $(( brk_glibc <= 2 ? 0 : 1 )) "traced: glibc moves it at most twice"

out=$("$HEAPLAB" experiment preload --quick -a glibc -a phase1); ok $? "preload (text)"
like "$out" "phase1 +footprint grew by [0-9]+ B after the first iteration \(1024 B per iteration\)" \
	"phase1 leaks 1024 B an iteration: 1000 rounded to 16 plus its size word"
done_testing
