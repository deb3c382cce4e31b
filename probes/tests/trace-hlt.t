#!/bin/bash
# heaplab trace -f hlt (the compact binary trace) and -i (reading it back):
# a real trace recorded as hlt reads back as the same kind of trace the
# jsonl sink writes, with causes, processes and the end record intact; a
# file cut short is reported incomplete; bad combinations are refused.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
tr() { timeout 60 "$HEAPLAB" trace "$@"; }

# A deterministic target with calls that cause brk, mmap, munmap, mremap,
# and a fork+exec family, under the ptrace engine (no root needed).
tr -e ptrace -f hlt -o "$TMP/c.hlt" -- "$T/cause"; ok $? "cause traced as hlt"
tr -i "$TMP/c.hlt" -f jsonl -o "$TMP/c.jsonl"; ok $? "-i: read back as jsonl"
$CHK "$TMP/c.jsonl" valid; ok $? "the jsonl is a valid trace"
$CHK "$TMP/c.jsonl" complete true; ok $? "complete"
$CHK "$TMP/c.jsonl" mmap-by-malloc 200000; ok $? "mmap caused by malloc(200000)"
$CHK "$TMP/c.jsonl" munmap-by-free; ok $? "munmap caused by free"
$CHK "$TMP/c.jsonl" mremap-by-realloc; ok $? "mremap caused by realloc"
$CHK "$TMP/c.jsonl" containment; ok $? "every caused syscall lies in its call"
$CHK "$TMP/c.jsonl" order; ok $? "each thread in start-time order"

# The same run as text and jsonl directly: the event kinds and counts
# (ts and addresses differ from run to run).
tr -e ptrace -f jsonl -o "$TMP/d.jsonl" -- "$T/cause"
kinds() { python3 -c 'import json,sys,collections
c = collections.Counter(json.loads(l)["kind"] for l in open(sys.argv[1]))
print(sorted(c.items()))' "$1"; }
is "$(kinds "$TMP/c.jsonl")" "$(kinds "$TMP/d.jsonl")" \
	"hlt read back has the events a jsonl run has, kind for kind"
is "$(grep -c . "$TMP/c.jsonl")" "$(grep -c . "$TMP/d.jsonl")" "as many lines"

tr -e ptrace -f hlt -o "$TMP/f.hlt" -- "$T/forkexec" fork; ok $? "forkexec traced as hlt"
tr -i "$TMP/f.hlt" -f jsonl -o "$TMP/f.jsonl"; ok $? "read back"
$CHK "$TMP/f.jsonl" procs 2; ok $? "two processes"
$CHK "$TMP/f.jsonl" exec-paths forkexec forkexec; ok $? "the exec paths come back"

# Threads, under whichever engine loads (ebpf as root).
tr -f hlt -o "$TMP/t.hlt" -- "$T/threads" 4 2>/dev/null; ok $? "threads traced as hlt"
tr -i "$TMP/t.hlt" -f jsonl -o "$TMP/t.jsonl"; ok $? "read back"
$CHK "$TMP/t.jsonl" threads-calls 4; ok $? "malloc(300000) from all 4 threads and main"
$CHK "$TMP/t.jsonl" containment; ok $? "causes on the caller's thread, around the syscall"

out=$(tr -i "$TMP/c.hlt" 2>&1 >/dev/null | tail -1)
like "$out" "^# trace end: complete" "-i: text by default, to stderr"
out=$(tr -i "$TMP/c.hlt" -o - | grep -c "<- #[0-9]* malloc(200000)$")
is "$out" 3 "-o -: text on stdout, causes named (brk, brk, mmap of malloc(200000))"
out=$(tr -i "$TMP/c.hlt" -c -o -); like "$out" "mmap" "-i with -c: the summary"
tr -i "$TMP/c.hlt" -f perfetto -o "$TMP/c.pf.json"; ok $? "-i -f perfetto"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["traceEvents"]' \
	"$TMP/c.pf.json"; ok $? "the perfetto file parses"

# Smaller than jsonl by an order of magnitude.
hb=$(stat -c %s "$TMP/c.hlt"); jb=$(stat -c %s "$TMP/c.jsonl")
test $((hb * 8)) -lt "$jb"; ok $? "hlt ($hb B) is under 1/8 of jsonl ($jb B)"

# Cut short: what was read, then an end marked incomplete; exit 1.
size=$(stat -c %s "$TMP/c.hlt")
head -c $((size / 2)) "$TMP/c.hlt" >"$TMP/cut.hlt"
err=$(tr -i "$TMP/cut.hlt" -f jsonl -o "$TMP/cut.jsonl" 2>&1); is $? 1 "a cut file: exit 1"
like "$err" "cut.hlt: the file ends early" "a cut file: said"
$CHK "$TMP/cut.jsonl" complete false; ok $? "a cut file reads as incomplete"

# Bad input.
err=$(tr -i "$TMP/c.jsonl" -o /dev/null 2>&1); is $? 1 "a jsonl file given to -i: exit 1"
like "$err" "not a heaplab trace" "a jsonl file given to -i: said"
err=$(tr -i "$TMP/none.hlt" 2>&1); is $? 1 "a missing file: exit 1"
like "$err" "cannot read '.*none.hlt': No such file" "a missing file: said"
err=$(tr -f hlt -- true 2>&1); is $? 2 "-f hlt without -o: exit 2"
like "$err" "-f hlt is binary: give -o FILE" "-f hlt without -o: said"
err=$(tr -i "$TMP/c.hlt" -e ptrace 2>&1); is $? 2 "-i with -e: exit 2"
like "$err" "-e is for running a command, not with -i" "-i with -e: said"
err=$(tr -i "$TMP/c.hlt" -- true 2>&1); is $? 2 "-i with a command: exit 2"
err=$(tr -i "$TMP/c.hlt" -f hlt -o "$TMP/x.hlt" 2>&1); is $? 2 "-i to hlt: exit 2"
cp "$TMP/c.hlt" "$TMP/same.hlt"
err=$(tr -i "$TMP/same.hlt" -f jsonl -o "$TMP/same.hlt" 2>&1); is $? 2 "-o naming the -i file: exit 2"
cmp -s "$TMP/c.hlt" "$TMP/same.hlt"; ok $? "... and the file is left alone"
done_testing
