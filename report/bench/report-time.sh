#!/bin/sh
# report-time.sh — how long `heaplab report` takes here, full and --quick,
# beside its targets (under 2 min, under 30 s). Measured, never asserted.
set -u
hl=$HEAPLAB_BUILD/heaplab
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heaplab-report-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rc=0
for mode in full quick; do
	flag=
	[ $mode = quick ] && flag=--quick
	start=$(date +%s.%N)
	"$hl" report $flag -o "$tmp/$mode" >/dev/null 2>"$tmp/$mode.err" || rc=1
	end=$(date +%s.%N)
	awk -v m=$mode -v s="$start" -v e="$end" 'BEGIN {
		t = e - s; target = (m == "full") ? 120 : 30
		printf "heaplab report (%s): %.1f s (target: under %d s)\n", m, t, target
	}'
	[ $rc -eq 0 ] || tail -3 "$tmp/$mode.err"
done
exit $rc
