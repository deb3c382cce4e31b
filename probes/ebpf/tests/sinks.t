#!/bin/bash
# heaplab trace -f perfetto and -c: the Perfetto file parsed back (nesting,
# causes, flows, counters, names) and the summary checked against the jsonl
# of the same deterministic run. With both engines where they can run.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
SRC=$(cd "$(dirname "$0")/../../.." && pwd)	# tap.sh assumes AREA/tests/

T=$B/probes/targets
PCHK="python3 $SRC/probes/ebpf/tests/perfetto_check.py"
engines=ptrace
if [ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ]; then
	engines="ptrace ebpf"
else
	skip "perfetto/-c under -e ebpf: not root or no ebpf engine built (ptrace covers the sinks)"
fi

for e in $engines; do
	P=$TMP/$e.json
	"$HEAPLAB" trace -e $e -f perfetto -o "$P" -- "$T/threads" 4 2>/dev/null
	is $? 0 "$e perfetto threads: exits 0"
	$PCHK "$P" threads >"$TMP/chk"; ok $? "$e perfetto threads: all checks hold" ||
		true
	grep '^bad' "$TMP/chk" | sed 's/^/# /'
	for c in object-form nesting inside-cause flow-arrows break-counter mapped-counter "process-name threads" thread-names; do
		grep -q "^ok $c\$" "$TMP/chk"; ok $? "$e perfetto: $c"
	done
	"$HEAPLAB" trace -e $e -f perfetto -o "$P" -- "$T/forkexec" fork 2>/dev/null
	is $? 0 "$e perfetto fork-exec: exits 0"
	$PCHK "$P" forkexec >"$TMP/chk"; ok $? "$e perfetto fork-exec: all checks hold"
	n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len({e["pid"] for e in d["traceEvents"] if e["ph"]=="M" and e["name"]=="process_name"}))' "$P")
	is "$n" 2 "$e perfetto fork-exec: both processes named"
done

# The checker can fail: a syscall moved out of its call breaks the nesting.
python3 - "$TMP/ptrace.json" "$TMP/moved.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
calls = {e["args"]["seq"]: e for e in d["traceEvents"] if e["ph"] == "X" and e.get("cat") == "malloc"}
for e in d["traceEvents"]:
    if e["ph"] == "X" and e.get("cat") == "syscall" and "cause_seq" in e["args"]:
        e["ts"] = calls[e["args"]["cause_seq"]]["ts"] - 1000.0  # well before its call
        break
json.dump(d, open(sys.argv[2], "w"))
PY
$PCHK "$TMP/moved.json" >"$TMP/chk"; is $? 1 "a syscall moved out of its call is caught"
grep -q '^bad inside-cause' "$TMP/chk"; ok $? "... as not inside its cause"

# -c: the numbers agree with the jsonl of the same run.
for e in $engines; do
	"$HEAPLAB" trace -e $e -f jsonl -o "$TMP/c.jsonl" -- "$T/cause" 2>/dev/null
	"$HEAPLAB" trace -e $e -c -o "$TMP/c.sum" -- "$T/cause" 2>/dev/null
	is $? 0 "$e -c: exits with the target's status"
	S=$(cat "$TMP/c.sum")
	like "$S" "^allocator call +calls" "$e -c: the allocator call table"
	like "$S" "^malloc +65 " "$e -c: 65 mallocs"
	like "$S" "^free +65 " "$e -c: 65 frees"
	want=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
n = lambda k: sum(1 for e in ev if e["kind"] == k)
c = lambda k, w: sum(1 for e in ev if e["kind"] == k and (e["cause"] == w or isinstance(e["cause"], dict) and e["cause"]["kind"] == w))
print("mmap %d loader %d malloc %d events %d" % (n("mmap"), c("mmap", "loader"), c("mmap", "malloc"), len(ev) - 1))' "$TMP/c.jsonl")
	set -- $want
	like "$S" "^mmap +$2 +0 " "$e -c: mmap calls ($2) as in the jsonl"
	row=$(grep '^mmap ' <<<"$S" | tail -1)
	hdr=$(grep '^syscall \\ cause' <<<"$S")
	col() { awk -v h="$hdr" -v r="$row" -v name="$1" 'BEGIN { n = split(h, H, / +/); split(r, R, / +/);
		for (i = 1; i <= n; i++) if (H[i] == name) print R[i - 2] }'; }
	is "$(col loader)" "$4" "$e -c: mmaps caused by the loader ($4)"
	is "$(col malloc)" "$6" "$e -c: mmaps caused by malloc ($6)"
	like "$S" "events +$8 recorded, 0 dropped" "$e -c: $8 events, 0 dropped"
	like "$S" "break moved +\+[1-9][0-9]* \(grew [1-9]" "$e -c: the break moved up"
	like "$S" "trace +complete, engine $e, status 0" "$e -c: complete, engine named"
done

err=$("$HEAPLAB" trace -f svg -- true 2>&1); is $? 2 "-f svg: usage error"
like "$err" "unknown format 'svg' \(text, jsonl, perfetto, hlt\)" "-f lists perfetto and hlt"

done_testing
