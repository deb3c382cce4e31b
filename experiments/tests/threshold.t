#!/bin/bash
# heaplab threshold: glibc's mmap threshold and its cap, found to the byte,
# checked against strace in the test itself; the knobs that move it; the
# configured thresholds of heaplab and phase6.
. "$(dirname "$0")/../../lab/tests/tap.sh"

probe=$B/experiments/targets/threshprobe

# Anonymous mmaps of at least SIZE that strace sees for: threshprobe MODE SIZE 6
anon_maps() {
	strace -f -e trace=mmap -o "$TMP/st" "$probe" "$1" "$2" 6 >/dev/null 2>&1
	awk -v min="$2" -F'[(,]' '/MAP_ANONYMOUS/ && $3 + 0 >= min' "$TMP/st" | wc -l
}

"$HEAPLAB" threshold --json >"$TMP/g.json"; ok $? "threshold --json under glibc"
t=$(field "$TMP/g.json" 'd["allocators"][0]["threshold"]')
cap=$(field "$TMP/g.json" 'd["allocators"][0]["cap"]')
diag "glibc: threshold $t B, cap $cap B"
like "$t" '^[0-9]+$' "a threshold was found and is a JSON number"
ok $(( $(anon_maps first "$t") >= 2 ? 0 : 1 )) "strace: malloc($t) x 6 makes its own mmaps"
is "$(anon_maps first $((t - 1)))" 0 "strace: malloc($((t - 1))) x 6 makes none"
is "$(field "$TMP/g.json" 'd["allocators"][0]["chunk"]')" 131072 \
	"glibc maps chunks from 128 KiB (its default M_MMAP_THRESHOLD)"
is "$(field "$TMP/g.json" 'd["allocators"][0]["dynamic"]')" True "glibc's threshold is dynamic"
is "$(anon_maps free "$cap")" 7 "strace: at the cap, every malloc after a free is mapped"
is "$(anon_maps free $((cap - 1)))" 1 "strace: one byte below, only the freed block was"
is "$(field "$TMP/g.json" 'd["allocators"][0]["knobs"]["tunable_threshold"]')" 65513 \
	"GLIBC_TUNABLES mmap_threshold=65536 moves it to 65513 B (chunk 65536)"
is "$(field "$TMP/g.json" 'd["allocators"][0]["knobs"]["mallopt_threshold"]')" 65513 \
	"mallopt(M_MMAP_THRESHOLD, 65536) moves it the same way"
is "$(field "$TMP/g.json" '(d["allocators"][0]["knobs"]["tunable_dynamic"], d["allocators"][0]["knobs"]["mallopt_dynamic"])')" \
	"(False, False)" "either knob switches the dynamic rule off"
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144 "$HEAPLAB" threshold --json >"$TMP/u.json"
is "$(field "$TMP/u.json" 'd["allocators"][0]["chunk"]')" 262144 \
	"the user's GLIBC_TUNABLES reaches the targets"

HEAPLAB_OPTIONS=mmap_threshold=65536 "$HEAPLAB" threshold -a heaplab --json >"$TMP/h.json"
ok $? "threshold -a heaplab"
is "$(field "$TMP/h.json" 'd["allocators"][0]["chunk"]')" 65536 \
	"heaplab maps the chunks its mmap_threshold option names"
HEAPLAB_OPTIONS=mmap_threshold=65536 "$HEAPLAB" threshold -a phase6 --json >"$TMP/p.json"
is "$(field "$TMP/p.json" 'd["allocators"][0]["threshold"]')" 65536 \
	"phase6 maps requests from its mmap_threshold option"
is "$(field "$TMP/p.json" 'd["allocators"][0]["dynamic"]')" False "phase6 has no dynamic rule"

"$HEAPLAB" threshold -a all --json >"$TMP/all.json"; ok $? "threshold -a all"
is "$(field "$TMP/all.json" '[a["allocator"] for a in d["allocators"]]')" \
	"['glibc', 'heaplab', 'phase6', 'jemalloc', 'mimalloc', 'tcmalloc']" \
	"-a all covers glibc, heaplab, phase6 and the installed allocators"
is "$(field "$TMP/all.json" 'all(a["threshold"] is None and a["search"]["why"] or isinstance(a["threshold"], int) for a in d["allocators"])')" \
	True "an allocator without per-allocation mmaps says why, not a number"
out=$("$HEAPLAB" experiment threshold); ok $? "experiment threshold (text)"
like "$out" "rounded up to 16 = 131072 B" "text explains the chunk arithmetic"
err=$("$HEAPLAB" threshold -a nope 2>&1); is $? 2 "unknown allocator: exit 2"
done_testing
