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

# The ebpf engine records its inputs (HLTRACE3) and -i joins them: the
# same checks, and the same events, kind by kind and cause by cause, as a
# jsonl run of the same program.
if [ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ]; then
	tr -e ebpf -f hlt -o "$TMP/e.hlt" -- "$T/cause"; ok $? "ebpf: cause traced as hlt"
	is "$(head -c 8 "$TMP/e.hlt")" "HLTRACE3" "ebpf: the file holds the engine's inputs (HLTRACE3)"
	tr -i "$TMP/e.hlt" -f jsonl -o "$TMP/e.jsonl"; ok $? "ebpf: -i joins and reads it back"
	for c in valid "complete true" "mmap-by-malloc 200000" munmap-by-free \
		mremap-by-realloc containment order; do
		$CHK "$TMP/e.jsonl" $c; ok $? "ebpf hlt: $c"
	done
	tr -e ebpf -f jsonl -o "$TMP/e2.jsonl" -- "$T/cause"
	causes() { python3 -c 'import json,sys,collections
c = collections.Counter()
for l in open(sys.argv[1]):
    e = json.loads(l); k = e.get("cause")
    c[(e["kind"], k["kind"] if isinstance(k, dict) else k)] += 1
print(sorted(c.items(), key=str))' "$1"; }
	is "$(causes "$TMP/e.jsonl")" "$(causes "$TMP/e2.jsonl")" \
		"ebpf: joined when read, the events and causes of a jsonl run"
	# Without the tap (syscalls only) and with --uprobes (the calls come
	# through the kernel's ring): the same as their jsonl runs.
	for o in "--events syscalls" --uprobes; do
		tr -e ebpf $o -f hlt -o "$TMP/eo.hlt" -- "$T/cause" 2>/dev/null
		tr -i "$TMP/eo.hlt" -f jsonl -o "$TMP/eo.jsonl"; ok $? "ebpf $o: read back"
		tr -e ebpf $o -f jsonl -o "$TMP/eo2.jsonl" -- "$T/cause" 2>/dev/null
		is "$(causes "$TMP/eo.jsonl")" "$(causes "$TMP/eo2.jsonl")" \
			"ebpf $o: joined when read, the events and causes of a jsonl run"
	done
	tr -e ebpf -f hlt -o "$TMP/ef.hlt" -- "$T/forkexec" fork; ok $? "ebpf: forkexec as hlt"
	tr -i "$TMP/ef.hlt" -f jsonl -o "$TMP/ef.jsonl"; ok $? "ebpf: read back"
	$CHK "$TMP/ef.jsonl" procs 2; ok $? "ebpf: two processes"
	tr -e ebpf -f jsonl -o "$TMP/ef2.jsonl" -- "$T/forkexec" fork
	paths() { grep -o '"path":"[^"]*"' "$1"; }
	is "$(paths "$TMP/ef.jsonl")" "$(paths "$TMP/ef2.jsonl")" "ebpf: the exec paths come back, as in jsonl"
	# glibc's reallocarray calls realloc through the PLT: the tap sees a
	# nested call, whose record comes first; out, the outer one is first.
	tr -e ebpf -a glibc -f hlt -o "$TMP/efam.hlt" -- "$T/family"
	tr -i "$TMP/efam.hlt" -f jsonl -o "$TMP/efam.jsonl"
	tr -e ebpf -a glibc -f jsonl -o "$TMP/efam2.jsonl" -- "$T/family"
	for f in efam efam2; do
		$CHK "$TMP/$f.jsonl" order; ok $? "ebpf family ($f): each thread in start-time order"
	done
	# Drops are counted as in jsonl: a tiny ring drops, and says so.
	tr -e ebpf -b 16 -f hlt -o "$TMP/ed.hlt" -- "$T/spin" calls 20000 2>/dev/null
	tr -i "$TMP/ed.hlt" -f jsonl -o "$TMP/ed.jsonl"
	like "$(tail -1 "$TMP/ed.jsonl")" '"complete":false,"dropped":[1-9]' "ebpf: drops counted in the end record"
	# Cut short: the events out by the last whole cycle, then an incomplete end.
	size=$(stat -c %s "$TMP/e.hlt")
	head -c $((size - 3)) "$TMP/e.hlt" >"$TMP/ecut.hlt"
	err=$(tr -i "$TMP/ecut.hlt" -f jsonl -o "$TMP/ecut.jsonl" 2>&1); is $? 1 "ebpf: a cut file: exit 1"
	like "$err" "the file ends early" "ebpf: a cut file: said"
	$CHK "$TMP/ecut.jsonl" complete false; ok $? "ebpf: a cut file reads as incomplete"
	n=$(($(grep -c . "$TMP/ecut.jsonl") - 1))
	cmp -s <(head -n $n "$TMP/ecut.jsonl") <(head -n $n "$TMP/e.jsonl"); ok $? "ebpf: ... after a prefix of the whole file's events ($n)"
	# Ctrl-C: ended early, recorded so (a tiny ring keeps the trace short).
	# heaplab itself in the background, not tr: $! would be a subshell in
	# which SIGINT is ignored, and only the SIGTERM below (passed on by
	# timeout) would end the trace, after 5 s and some 20 MB.  Once the
	# child is the target (exec'd), heaplab catches SIGINT.
	"$HEAPLAB" trace -e ebpf -b 16 -f hlt -o "$TMP/ei.hlt" -- "$T/spin" loop 0 1 2>"$TMP/err" &
	hl=$!
	for _ in $(seq 100); do pgrep -x -P $hl spin >/dev/null && break; sleep 0.05; done
	kill -INT $hl
	for _ in $(seq 100); do grep -q interrupted "$TMP/err" && break; sleep 0.05; done
	kill -TERM "$(pgrep -P $hl)"
	wait $hl
	tr -i "$TMP/ei.hlt" -f jsonl -o "$TMP/ei.jsonl"; ok $? "ebpf: an interrupted trace reads back"
	$CHK "$TMP/ei.jsonl" valid; ok $? "ebpf: interrupted: valid"
	grep -q '"complete":false.*"reason":"interrupted"' "$TMP/ei.jsonl"; ok $? "ebpf: interrupted: said in the end record"
else
	skip "-f hlt under -e ebpf: not root or no ebpf engine built"
fi

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
