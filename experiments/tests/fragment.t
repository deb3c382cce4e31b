#!/bin/bash
# heaplab experiment fragment: first fit against best fit on a list of
# holes; the heap growth checked against a traced run of the same probe.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='r = by(d["runs"], "fit")'

"$HEAPLAB" experiment fragment --json >"$TMP/f.json"; ok $? "fragment --json (phase3)"
is "$(field "$TMP/f.json" "(r['first']['free_chunks'], r['best']['free_chunks'], r['first']['free_bytes'])")" \
	"(50, 50, 1600)" "50 holes of 32 B after freeing the even blocks"
is "$(field "$TMP/f.json" "[c['state'] for c in r['best']['holes']][:4]")" \
	"['free', 'used', 'free', 'used']" "the walk shows holes and blocks alternating"
is "$(field "$TMP/f.json" "r['best']['again']['nodes_traversed'] == r['best']['again']['list_nodes']")" True \
	"best fit traverses the whole list for malloc(32)"
is "$(field "$TMP/f.json" "r['first']['again']['nodes_traversed'] == r['first']['nodes_before'] + 1")" True \
	"first fit stops at the first hole"
is "$(field "$TMP/f.json" "r['first']['again']['offset']")" 0 "first fit reuses the first hole"
is "$(field "$TMP/f.json" "(r['first']['request']['nodes_traversed'] == r['first']['list_nodes'], r['first']['request']['heap_grew'])")" \
	"(True, True)" "malloc(64): no hole fits, the whole list walked, the heap grew"

# Independent: heaplab trace sees malloc(64) move the break, and malloc(32) not.
"$HEAPLAB" trace -e ptrace -a phase3 -f jsonl -o "$TMP/t.jsonl" -- \
	"$B/experiments/targets/phaseprobe" fragment 100 32 64 >/dev/null
ok $? "the probe runs traced"
got=$(python3 - "$TMP/t.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
calls = {e["seq"]: e for e in ev if e["kind"] == "malloc"}
def brks(size):
    last = [e for e in calls.values() if e["args"]["size"] == size][-1]
    return sum(1 for e in ev if e["kind"] == "brk" and isinstance(e["cause"], dict)
               and e["cause"].get("seq") == last["seq"])
print(brks(64) > 0, brks(32))
PY
)
is "$got" "True 0" "traced: malloc(64) moved the break, the last malloc(32) did not"

"$HEAPLAB" experiment fragment -a phase5 --json >"$TMP/f5.json"; ok $? "fragment -a phase5"
is "$(field "$TMP/f5.json" "r['best']['again']['nodes_traversed'] == r['best']['again']['list_nodes']")" True \
	"phase5 best fit also walks the whole list"
out=$("$HEAPLAB" experiment fragment); ok $? "fragment (text)"
like "$out" "1600 B free in 50 holes, yet malloc\(64\) had to grow the heap" "the text draws the conclusion"
err=$("$HEAPLAB" experiment fragment -a glibc 2>&1); is $? 1 "glibc: no heap walk, exit 1"
like "$err" "glibc exports no heap walk" "the reason is named"
err=$("$HEAPLAB" experiment fragment -a phase2 2>&1); is $? 1 "phase2: no free list, exit 1"
done_testing
