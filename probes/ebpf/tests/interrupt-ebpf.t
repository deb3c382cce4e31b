#!/bin/bash
# Ctrl-C under -e ebpf, as probes/tests/trace-interrupt.t checks it for
# ptrace: the trace is flushed and marked incomplete, the target keeps
# running under the tracer until it exits; a second Ctrl-C kills it.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
SRC=$(cd "$(dirname "$0")/../../.." && pwd)

T=$B/probes/targets
if [ "$(id -u)" != 0 ] || [ ! -x "$B/tests/ebpf/mtdump" ]; then
	skip "the ebpf engine needs root and a build with it (uid $(id -u))"
	done_testing
fi
CHK="python3 $SRC/probes/tests/trace_check.py"
J=$TMP/i.jsonl

# Starts a trace in the background; returns when it has written something.
start() {
	rm -f "$J"
	"$HEAPLAB" trace -e ebpf -b 4096 -f jsonl -o "$J" -- "$@" 2>"$TMP/err" &
	hl=$!
	for _ in $(seq 100); do
		[ "$(stat -c %s "$J" 2>/dev/null || echo 0)" -gt 10000 ] && break
		sleep 0.05
	done
}

# One Ctrl-C: the target (which ignores SIGINT) keeps running, traced,
# until it ends on its own (here: the test's SIGTERM to it alone).
start "$T/spin" loop 0 1
kill -INT $hl
for _ in $(seq 100); do grep -q interrupted "$TMP/err" && break; sleep 0.05; done
sleep 0.2
kill -0 $hl 2>/dev/null; ok $? "after one Ctrl-C heaplab still serves the target"
kill -TERM "$(pgrep -P $hl)"
wait $hl; is $? 143 "the target ran to its own end: its status"
$CHK "$J" valid; ok $? "the trace is valid jsonl, trace_end last"
$CHK "$J" complete false; ok $? "trace_end says complete:false"
grep -q '"reason":"interrupted"' "$J"; ok $? "trace_end says interrupted"
like "$(cat "$TMP/err")" "interrupted: trace ended, marked incomplete" "stderr says the trace is incomplete"

# Two Ctrl-C: the endless target is killed.
start "$T/spin" loop 0 2
kill -INT $hl
sleep 0.2
kill -INT $hl
wait $hl; is $? 137 "second Ctrl-C kills the target: 137"
$CHK "$J" valid; ok $? "killed after Ctrl-C: valid jsonl"
$CHK "$J" complete false; ok $? "killed after Ctrl-C: incomplete"
like "$(cat "$TMP/err")" "killing" "stderr says it kills the target"

# SIGTERM (e.g. from timeout): the trace ends and the target gets it too.
start "$T/spin" loop 0 1
kill -TERM $hl
wait $hl; is $? 143 "SIGTERM: passed on, the target's 128+15"
$CHK "$J" valid; ok $? "SIGTERM: valid jsonl"
$CHK "$J" complete false; ok $? "SIGTERM: incomplete"

# Text output gets the same end line.
rm -f "$J"
"$HEAPLAB" trace -e ebpf -b 4096 -o "$J" -- "$T/spin" loop 0 1 2>"$TMP/err" &
hl=$!
for _ in $(seq 100); do [ -n "$(pgrep -P $hl)" ] && break; sleep 0.05; done
sleep 0.2
kill -INT $hl
for _ in $(seq 100); do grep -q interrupted "$TMP/err" && break; sleep 0.05; done
kill -TERM "$(pgrep -P $hl)"
wait $hl; is $? 143 "text: the target's status after Ctrl-C"
like "$(tail -1 "$J")" "^# trace end: INCOMPLETE.*interrupted" "text: the last line says incomplete"

done_testing
