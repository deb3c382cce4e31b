#!/bin/bash
# heaplab recon: the census matches strace, the heap sits where the map
# says, the break moves as sbrk(0) reports.
. "$(dirname "$0")/../../lab/tests/tap.sh"


"$HEAPLAB" recon --json >"$TMP/ls.json"; ok $? "recon --json (default: ls)"
is "$(field "$TMP/ls.json" 'd["command"]')" "['ls']" "the default command is ls"
is "$(field "$TMP/ls.json" 'd["census"]["heaplab"]')" "$(field "$TMP/ls.json" 'd["census"]["strace"]')" \
	"ls: heaplab's brk/mmap/munmap counts equal strace's"
is "$(field "$TMP/ls.json" 'all(sum(c[k] for w, c in d["census"]["by_maker"].items() if w != "tap") == d["census"]["heaplab"][k] for k in ("brk", "mmap", "munmap"))')" \
	True "the classes add up to the total"
is "$(field "$TMP/ls.json" 'd["census"]["by_maker"]["loader_file"]["mmap"] > 0')" True \
	"the loader maps libraries from files"
is "$(field "$TMP/ls.json" 'd["heap_map"]["heap_start"] <= d["heap_map"]["block"] < d["heap_map"]["heap_end"]')" \
	True "malloc(100) lands inside [heap]"
is "$(field "$TMP/ls.json" 'd["heap_map"]["break"] == d["heap_map"]["heap_end"]')" True \
	"the break is the end of [heap]"
is "$(field "$TMP/ls.json" 'd["break_moving"]["move1"] > 1000 and d["break_moving"]["move1"] % 4096 == 0')" \
	True "glibc moves the break by far more than 1000 B, in whole pages"
is "$(field "$TMP/ls.json" 'd["break_moving"]["move2"]')" 0 "the second malloc(1000) does not move it"
is "$(field "$TMP/ls.json" 'd["break_moving"]["block2_after_block1"]')" 1008 \
	"the second block follows the first by its 1008 B chunk"

# A command of our own, several processes: the counts still match strace.
"$HEAPLAB" recon --json -- sh -c 'ls / >/dev/null; sort /etc/passwd >/dev/null' >"$TMP/sh.json"
ok $? "recon -- sh -c '...' (several processes)"
is "$(field "$TMP/sh.json" 'd["census"]["heaplab"]')" "$(field "$TMP/sh.json" 'd["census"]["strace"]')" \
	"sh + children: heaplab's counts equal strace's"

"$HEAPLAB" recon -a mimalloc --json >"$TMP/mi.json"; ok $? "recon -a mimalloc"
is "$(field "$TMP/mi.json" 'd["break_moving"]["move1"]')" 0 "mimalloc never moves the break"
out=$("$HEAPLAB" recon -a mimalloc); like "$out" "The break did not move" "and the text says so"
out=$("$HEAPLAB" experiment recon); like "$out" "carved from the top" "text explains the second malloc"

err=$("$HEAPLAB" recon -- /nonexistent/cmd 2>&1); ok $(( $? != 0 ? 0 : 1 )) "a missing command fails"
like "$err" "/nonexistent/cmd" "and is named"
done_testing
