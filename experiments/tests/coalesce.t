#!/bin/bash
# heaplab experiment coalesce: phase 5 has one free block where phase 4 has two.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='r = by(d["runs"])'

"$HEAPLAB" experiment coalesce --json >"$TMP/c.json"; ok $? "coalesce --json (phase4, phase5)"
is "$(field "$TMP/c.json" "(r['phase4']['free_chunks_after_free_A'], r['phase5']['free_chunks_after_free_A'])")" \
	"(2, 1)" "phase 5 has one free block where phase 4 has two"
is "$(field "$TMP/c.json" "(r['phase4']['free_chunks_after_free_B'], r['phase5']['free_chunks_after_free_B'])")" \
	"(1, 1)" "after free(B) alone both have one free block"
is "$(field "$TMP/c.json" "r['phase5']['largest_free_at_A']")" \
	"$(field "$TMP/c.json" "r['phase5']['B_offset'] + 64")" "the merged chunk spans A's payload to B's end"
is "$(field "$TMP/c.json" "(r['phase4']['merges'], r['phase5']['merges'])")" "(0, 1)" "the allocators' merge counters agree"
is "$(field "$TMP/c.json" "r['phase5']['chunks_after'] + 1")" "$(field "$TMP/c.json" "r['phase5']['chunks_before']")" \
	"phase5: one node fewer in the walk"
out=$("$HEAPLAB" experiment coalesce); ok $? "coalesce (text)"
like "$out" "1 free chunk where A and B were; 1 merge" "the text says so"
err=$("$HEAPLAB" experiment coalesce -a glibc 2>&1); is $? 1 "glibc: no heap walk, exit 1"
done_testing
