#!/bin/bash
# heaplab bins: glibc's bins found through address reuse, checked against
# glibc's own tunables (the probe must follow them), and other allocators.
. "$(dirname "$0")/../../lab/tests/tap.sh"


"$HEAPLAB" bins --json >"$TMP/glibc.json"; ok $? "bins --json under glibc"
is "$(field "$TMP/glibc.json" 'set(s["held_back"] for s in d["sizes"])')" "{7}" \
	"glibc holds back 7 blocks of every size (tcache_count)"
is "$(field "$TMP/glibc.json" 'd["fast_max_request"]')" 120 \
	"glibc fast bins serve requests up to 120 B"
is "$(field "$TMP/glibc.json" 'd["large_min_request"]')" 1001 \
	"glibc small bins end below 1001 B requests (chunks under 1024 B)"
is "$(field "$TMP/glibc.json" 'set(s["reuse"] for s in d["sizes"])')" "{'LIFO'}" \
	"glibc reuses freed blocks LIFO"
is "$(field "$TMP/glibc.json" '(d["unsorted_carved"], d["unsorted_remainder_reused"])')" \
	"(True, True)" "glibc carves from the unsorted chunk and reuses its remainder"

# Independent checks: glibc's tunables move exactly what the probe reports.
GLIBC_TUNABLES=glibc.malloc.tcache_count=3 "$HEAPLAB" bins --json >"$TMP/t3.json"
is "$(field "$TMP/t3.json" 'set(s["held_back"] for s in d["sizes"])')" "{3}" \
	"tcache_count=3 is seen as 3 held back"
GLIBC_TUNABLES=glibc.malloc.mxfast=64 "$HEAPLAB" bins --json >"$TMP/mx.json"
is "$(field "$TMP/mx.json" 'd["fast_max_request"]')" 56 \
	"mxfast=64 (fast chunks up to 64 B) is seen as requests up to 56 B"

out=$("$HEAPLAB" experiment bins); ok $? "experiment bins (text)"
like "$out" "fast bins: requests up to 120 B" "text names the fast-bin boundary"

"$HEAPLAB" bins -a jemalloc --json >"$TMP/je.json"; ok $? "bins -a jemalloc"
is "$(field "$TMP/je.json" 'd["fast_max_request"]')" None \
	"jemalloc never merges freed neighbours: no fast-bin boundary claimed"

# heaplab: the same probes, and its own heap dump must agree with them.
"$HEAPLAB" bins -a heaplab --json >"$TMP/hl.json"; ok $? "bins -a heaplab"
is "$(field "$TMP/hl.json" 'd["dump_agrees"]')" True "heaplab's heap dump confirms every probe"
is "$(field "$TMP/hl.json" '(d["fast_max_request"], d["large_min_request"])')" \
	"$(field "$TMP/glibc.json" '(d["fast_max_request"], d["large_min_request"])')" \
	"heaplab's fast and small bins end where glibc's do"
is "$(field "$TMP/hl.json" 'sorted(set(s["dump"]["x_bin"][:4] for s in d["sizes"]))')" \
	"['fast', 'unso']" "the dump names fast bins and the unsorted bin"
is "$(field "$TMP/glibc.json" 'd["dump_agrees"]')" None "glibc has no heap dump to consult"

err=$("$HEAPLAB" bins -a nope 2>&1); is $? 2 "unknown allocator: exit 2"
err=$("$HEAPLAB" bins extra 2>&1); is $? 2 "stray argument: exit 2"
done_testing
