#!/bin/bash
# Ctrl-C, under each engine: the trace is flushed and marked incomplete,
# the target keeps running under the tracer until it exits; a second
# Ctrl-C kills it.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
J=$TMP/i.jsonl

engine_checks() {
	E=$1
	# Starts a trace in the background; returns when it has written something.
	# The target calls malloc as fast as it can and the tracer records as
	# fast as it can until the signal is handled: a tiny ring (-b 16) keeps
	# the trace to a few MB that the checks read in well under a second,
	# where -b 4096 let it grow to 10-100 MB (more on a busy machine).
	start() {
		rm -f "$J"
		"$HEAPLAB" trace -e "$E" -b 16 -f jsonl -o "$J" -- "$@" 2>"$TMP/err" &
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
	kill -0 $hl 2>/dev/null; ok $? "$E: after one Ctrl-C heaplab still serves the target"
	kill -TERM "$(pgrep -P $hl)"
	wait $hl; is $? 143 "$E: the target ran to its own end: its status"
	$CHK "$J" valid; ok $? "$E: the trace is valid jsonl, trace_end last"
	$CHK "$J" complete false; ok $? "$E: trace_end says complete:false"
	grep -q '"reason":"interrupted"' "$J"; ok $? "$E: trace_end says interrupted"
	like "$(cat "$TMP/err")" "interrupted: trace ended, marked incomplete" "$E: stderr says the trace is incomplete"

	# Two Ctrl-C: the endless target is killed.  The second comes once the
	# first has been handled (said on stderr), not after a fixed sleep.
	start "$T/spin" loop 0 2
	kill -INT $hl
	for _ in $(seq 100); do grep -q interrupted "$TMP/err" && break; sleep 0.05; done
	kill -INT $hl
	wait $hl; is $? 137 "$E: second Ctrl-C kills the target: 137"
	$CHK "$J" valid; ok $? "$E: killed after Ctrl-C: valid jsonl"
	$CHK "$J" complete false; ok $? "$E: killed after Ctrl-C: incomplete"
	like "$(cat "$TMP/err")" "killing" "$E: stderr says it kills the target"

	# SIGTERM (e.g. from timeout): the trace ends and the target gets it too.
	start "$T/spin" loop 0 1
	kill -TERM $hl
	wait $hl; is $? 143 "$E: SIGTERM: passed on, the target's 128+15"
	$CHK "$J" valid; ok $? "$E: SIGTERM: valid jsonl"
	$CHK "$J" complete false; ok $? "$E: SIGTERM: incomplete"

	# Text output gets the same end line.
	rm -f "$J"
	"$HEAPLAB" trace -e "$E" -b 4096 -o "$J" -- "$T/spin" loop 0 1 2>"$TMP/err" &
	hl=$!
	# Once the child is the target (exec'd), heaplab catches SIGINT: the
	# ptrace engine from before the fork, the ebpf one before it lets the
	# child exec.
	for _ in $(seq 100); do pgrep -x -P $hl spin >/dev/null && break; sleep 0.05; done
	kill -INT $hl
	for _ in $(seq 100); do grep -q interrupted "$TMP/err" && break; sleep 0.05; done
	kill -TERM "$(pgrep -P $hl)"
	wait $hl; is $? 143 "$E: text: the target's status after Ctrl-C"
	like "$(tail -1 "$J")" "^# trace end: INCOMPLETE.*interrupted" "$E: text: the last line says incomplete"
}

engine_checks ptrace
# The ebpf engine needs root and a build with it; both are there in CI.
if [ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ]; then
	engine_checks ebpf
else
	skip "ebpf: needs root and a build with the eBPF engine (uid $(id -u))"
fi

done_testing
