#!/bin/bash
# The tap's clock: calls stamped by rdtsc (where the TSC is safe) come out
# in CLOCK_MONOTONIC ns, the clock the target and the kernel read; the
# fallback (HEAPLAB_TAP_CLOCK=monotonic: clock_gettime in the tap) gives the
# same trace.  Both engines.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
CLK="python3 $SRC/probes/tests/clock_check.py"

# What the reader should pick here (reader.c, hl_tap_tsc_unusable).
want=monotonic
if [ "$(uname -m)" = x86_64 ] &&
	grep -qx tsc /sys/devices/system/clocksource/clocksource0/current_clocksource &&
	grep -m1 '^flags' /proc/cpuinfo | grep -qw constant_tsc &&
	grep -m1 '^flags' /proc/cpuinfo | grep -qw nonstop_tsc &&
	grep -m1 '^flags' /proc/cpuinfo | grep -qw rdtscp; then
	want=tsc
fi
diag "the TSC is usable here: the tap should stamp with $want"

engines=ptrace
if [ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ]; then
	engines="ptrace ebpf"
else
	skip "ebpf engine: needs root and a build with the engine (uid $(id -u))"
fi

# Events as kind and cause, timestamps and addresses left out.
shape() {
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["kind"] == "trace_end":
        continue
    c = e["cause"]
    c = c["kind"] if isinstance(c, dict) else c
    a = e.get("args", {})
    print(e["kind"], a.get("size", ""), c)' "$1"
}

for e in $engines; do
	for clock in default monotonic; do
		J=$TMP/$e-$clock.jsonl
		O=$TMP/$e-$clock.clocks
		if [ $clock = monotonic ]; then
			HEAPLAB_TAP_CLOCK=monotonic timeout 60 "$HEAPLAB" trace \
				-e "$e" -f jsonl -o "$J" -- "$T/clockcheck" "$O" 5000
			is $? 0 "$e, fallback: clockcheck exits 0"
			is "$(head -1 "$O")" "clock monotonic" \
				"$e, fallback: the ring tells the tap to use clock_gettime"
			# The same clock on both sides: no slack at all.
			$CLK "$J" "$O" 0
			ok $? "$e, fallback: every malloc/free stamp within the target's clock readings around it"
		else
			timeout 60 "$HEAPLAB" trace -e "$e" -f jsonl -o "$J" -- \
				"$T/clockcheck" "$O" 5000
			is $? 0 "$e: clockcheck exits 0"
			is "$(head -1 "$O")" "clock $want" "$e: the ring tells the tap to use $want"
			# The TSC here ticks in steps of ~10 ns, so the tap's
			# rdtsc often reads the very tick the target's
			# clock_gettime read before it; converted, that tick
			# may land a ns or two either side.  30 ns covers
			# that; an offset, a slope off by a ppm over one
			# 20 ms drain, or raw ticks do not pass.
			$CLK "$J" "$O" 30
			ok $? "$e: every malloc/free stamp within the target's CLOCK_MONOTONIC readings around it (30 ns)"
		fi
		$CHK "$J" valid; ok $? "$e, $clock: valid jsonl"
		$CHK "$J" dropped eq 0; ok $? "$e, $clock: nothing dropped"
		$CHK "$J" containment; ok $? "$e, $clock: every call cause contains its syscall"
		$CHK "$J" order; ok $? "$e, $clock: each thread's events in start-time order"
	done
	# The cause target under both clocks: the same events, the same causes.
	for clock in default monotonic; do
		if [ $clock = monotonic ]; then
			HEAPLAB_TAP_CLOCK=monotonic "$HEAPLAB" trace -e "$e" -f jsonl \
				-o "$TMP/c-$clock.jsonl" -- "$T/cause"
		else
			"$HEAPLAB" trace -e "$e" -f jsonl -o "$TMP/c-$clock.jsonl" -- "$T/cause"
		fi
		shape "$TMP/c-$clock.jsonl" >"$TMP/c-$clock.shape"
	done
	diff "$TMP/c-default.shape" "$TMP/c-monotonic.shape" >"$TMP/c.diff"
	ok $? "$e: the cause target gives the same events and causes under both clocks"
	[ -s "$TMP/c.diff" ] && sed 's/^/# /' "$TMP/c.diff" | head -10
	n=$(grep -c "malloc 200000 None" "$TMP/c-default.shape")
	is "$n" 1 "$e: ... (among them malloc(200000))"
done

done_testing
