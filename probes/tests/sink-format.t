#!/bin/bash
# The sinks' bytes: text, jsonl, perfetto and -c of a fixed set of synthetic
# events against golden files (written by the stdio formatter that the
# hand-rolled one replaced; since then only text's exec paths changed, to
# C escapes for control bytes and backslashes), a recorded trace
# parsed back and written again (jsonl -> events -> jsonl, byte for byte),
# the live text and perfetto output of a deterministic target against its
# jsonl formatted again, and a full disk.
. "$(dirname "$0")/../../lab/tests/tap.sh"

F=$B/tests/probes/sinkfmt
G=$SRC/probes/tests/golden
T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"

"$F" numbers
ok $? "decimal and hex formatting print what printf prints (1M in a row, powers of 10 and 2, 1M spread)"

# Golden bytes (regenerate only on purpose: sinkfmt -f FMT synth 400).
for f in text jsonl perfetto summary; do
	"$F" -f $f -o "$TMP/s.$f" synth 400
	is $? 0 "synthetic events as $f: written"
	cmp "$G/sinks.$f" "$TMP/s.$f" >/dev/null
	ok $? "synthetic events as $f: the golden bytes" ||
		diff "$G/sinks.$f" "$TMP/s.$f" | head -5 | sed 's/^/# /'
done
$CHK "$TMP/s.jsonl" valid; ok $? "synthetic jsonl: the contract's fields, seq 1..N, trace_end last"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/s.perfetto"
ok $? "synthetic perfetto: one JSON document"
# The golden files can fail: one digit changed is caught.
sed '7s/"seq":7,/"seq":70,/' "$G/sinks.jsonl" >"$TMP/bad.jsonl"
"$F" -f jsonl -o "$TMP/bad.out" "$TMP/bad.jsonl"
cmp "$G/sinks.jsonl" "$TMP/bad.out" >/dev/null; is $? 1 "a changed seq does not compare equal"

# Round trip: each recorded trace parsed back and written again, all formats
# of the parsed events agree with what the sinks make of the original.
engines=ptrace
[ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ] && engines="ptrace ebpf"
for e in $engines; do
	for t in "cause" "threads 4" "forkexec fork" "mt heavy 20000"; do
		set -- $t
		prog=$T/$1
		[ "$1" = mt ] && prog=$B/tests/ebpf/mt_target
		shift
		"$HEAPLAB" trace -e $e -f jsonl -o "$TMP/r.jsonl" -- "$prog" "$@" 2>/dev/null
		"$F" -f jsonl -o "$TMP/rt.jsonl" "$TMP/r.jsonl"
		is $? 0 "$e $t: jsonl parsed back"
		cmp "$TMP/r.jsonl" "$TMP/rt.jsonl" >/dev/null
		ok $? "$e $t: jsonl -> events -> jsonl gives the same bytes ($(wc -l <"$TMP/r.jsonl") lines)"
	done
done

# Live output against the jsonl of the same deterministic run (ASLR off so
# that addresses repeat; perfetto with times and ids masked).
if setarch -R true 2>/dev/null; then
	for t in cause family; do
		for f in jsonl text perfetto; do
			setarch -R "$HEAPLAB" trace -e ptrace -f $f -o "$TMP/l.$f" -- "$T/$t" 2>/dev/null
		done
		"$F" -f text -o "$TMP/lt.text" "$TMP/l.jsonl"
		cmp "$TMP/l.text" "$TMP/lt.text" >/dev/null
		ok $? "$t: -f text is its -f jsonl formatted as text" ||
			diff "$TMP/l.text" "$TMP/lt.text" | head -5 | sed 's/^/# /'
		"$F" -f perfetto -o "$TMP/lt.perfetto" "$TMP/l.jsonl"
		mask() { sed -E 's/"(ts|dur)":[0-9.]+/"\1":T/g; s/"(pid|tid)":[0-9]+/"\1":P/g' "$1"; }
		cmp <(mask "$TMP/l.perfetto") <(mask "$TMP/lt.perfetto") >/dev/null
		ok $? "$t: -f perfetto is its -f jsonl formatted as perfetto (times, ids masked)"
	done
else
	skip "live formats against jsonl: setarch -R (no ASLR) does not work here"
fi

# A full disk: the trace is cut back to whole lines and ends with an
# incomplete trace_end that says why; heaplab says so on stderr.
err=$("$HEAPLAB" trace -e ptrace -o /dev/full -- true 2>&1)
is $? 0 "-o /dev/full: CMD's status still"
like "$err" "writing the trace failed: No space left on device \(it is incomplete\)" "-o /dev/full: said"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	mkdir -p "$TMP/mnt"
	unshare -m sh -c '
		mount -t tmpfs -o size=64k none "$1" || exit 9
		"$2" trace -e ptrace -f jsonl -o "$1/t.jsonl" -- "$3" heavy 20000 2>"$4/err.jsonl"
		echo $? >"$4/rc"
		cp "$1/t.jsonl" "$4/full.jsonl"
		rm "$1/t.jsonl"
		"$2" trace -e ptrace -o "$1/t.text" -- "$3" heavy 20000 2>"$4/err.text"
		cp "$1/t.text" "$4/full.text"
		rm "$1/t.text"
		"$2" trace -e ptrace -f perfetto -o "$1/t.json" -- "$3" heavy 20000 2>"$4/err.perfetto"
		cp "$1/t.json" "$4/full.perfetto"' sh "$TMP/mnt" "$HEAPLAB" "$B/tests/ebpf/mt_target" "$TMP"
	is "$(cat "$TMP/rc")" 0 "full disk: CMD's status still"
	like "$(cat "$TMP/err.jsonl")" "writing the trace failed: No space left on device \(it is incomplete\)" "full disk: said on stderr"
	$CHK "$TMP/full.jsonl" valid; ok $? "full disk: the jsonl is whole lines, seq 1..N, trace_end last"
	$CHK "$TMP/full.jsonl" complete false; ok $? "full disk: trace_end says incomplete"
	like "$(tail -1 "$TMP/full.jsonl")" '"reason":"writing the trace failed \(No space left on device\) after [0-9]+ of [0-9]+ events"' \
		"full disk: trace_end says why, and how much is there"
	like "$(tail -1 "$TMP/full.text")" '^# trace end: INCOMPLETE, [0-9]+ events, .*\(writing the trace failed \(No space left on device\)' \
		"full disk: text ends with an incomplete trace end too"
	like "$(cat "$TMP/err.perfetto")" "writing the trace failed: No space left on device \(it is incomplete\)" "full disk, perfetto: said on stderr"
	python3 - "$TMP/full.perfetto" <<-'EOF'
	import json, re, sys
	d = json.load(open(sys.argv[1]))
	last, other = d["traceEvents"][-1], d["otherData"]
	why = r"writing the trace failed \(No space left on device\) after (\d+) trace events"
	m = re.fullmatch(why, other["reason"])
	assert other["complete"] is False and m, other
	assert last["name"] == "trace incomplete" and last["args"]["reason"] == other["reason"], last
	assert int(m.group(1)) == len(d["traceEvents"]) - 1 > 100, len(d["traceEvents"])
	EOF
	ok $? "full disk, perfetto: still one JSON document, its end says incomplete and why"
else
	skip "full disk: needs root to mount a small tmpfs"
fi

done_testing
