#!/bin/bash
# heaplab experiment split: the heap walk before and after a split.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='r = by(d["runs"])'

"$HEAPLAB" experiment split --json >"$TMP/s.json"; ok $? "split --json (phase3, phase4)"
is "$(field "$TMP/s.json" "(r['phase4']['chunks_before'] + 1, r['phase4']['chunks_after'], r['phase4']['splits'])")" \
	"(3, 3, 1)" "phase4: one new node after the split"
is "$(field "$TMP/s.json" "(r['phase4']['after'][0]['size'], r['phase4']['after'][1]['state'], r['phase4']['after'][1]['size'])")" \
	"(16, 'free', 464)" "phase4: 16 B used, then the rest free"
is "$(field "$TMP/s.json" "r['phase4']['new_chunk_offset'] - r['phase4']['handed_out']")" \
	"$(field "$TMP/s.json" "r['phase4']['header_size']")" "the new chunk's payload starts one header after the 16 B"
# The header size agrees with where magic finds the size word (p-32).
"$HEAPLAB" experiment magic -a phase4 --json >"$TMP/m.json"
is "$(python3 -c 'import json,sys; print(-json.load(open(sys.argv[1]))["allocators"][0]["header"]["size_offset"])' "$TMP/m.json")" \
	"$(field "$TMP/s.json" "r['phase4']['header_size']")" "header size = where magic found the size word"
is "$(field "$TMP/s.json" "(r['phase3']['chunks_after'], r['phase3']['after'][0]['size'], r['phase3']['wasted'])")" \
	"(2, 512, 496)" "phase3: no split, the whole 512 B handed out"
out=$("$HEAPLAB" experiment split -a phase4); ok $? "split (text)"
like "$out" "a new free chunk of 464 B at \+48" "the text shows the new node"
done_testing
