#!/bin/bash
# heaplab report --quick: runs every listed experiment and writes a report
# that passes check_report.py.
. "$(dirname "$0")/../../lab/tests/tap.sh"

"$HEAPLAB" report --quick -o "$TMP/r" 2>"$TMP/err"; ok $? "report --quick exits 0"
n=$("$HEAPLAB" experiment --list | wc -l)
is "$(grep -c '^heaplab report: \[[0-9]*/[0-9]*\]' "$TMP/err")" "$n" "one progress line per experiment"
for f in index.html report.md results.json; do
	test -s "$TMP/r/$f"; ok $? "$f written"
done
for e in $("$HEAPLAB" experiment --list | awk '{print $1}'); do
	grep -q "id=\"$e\"" "$TMP/r/index.html"; ok $? "index.html has a section for $e"
done
for a in glibc heaplab; do
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d["traceEvents"], list) and d["traceEvents"]' \
		"$TMP/r/$a.perfetto.json" 2>/dev/null
	ok $? "the traced run under $a is a Perfetto trace (object form)"
	grep -q "href=\"$a.perfetto.json\"" "$TMP/r/index.html"; ok $? "index.html links $a.perfetto.json"
done
is "$(python3 -c 'import json,sys; print([r["allocator"] for r in json.load(open(sys.argv[1]))["traced_runs"]["runs"]])' "$TMP/r/results.json")" \
	"['glibc', 'heaplab']" "results.json has both traced runs"

# The checks of the page itself, as TAP lines of their own (renumbered).
python3 "$SRC/report/tests/check_report.py" "$TMP/r" >"$TMP/check" 2>&1
rc=$?
while read -r line; do
	case "$line" in
	ok\ *) ok 0 "${line#ok * - }" ;;
	not\ ok\ *) ok 1 "${line#not ok * - }" ;;
	\#*) echo "$line" ;;
	esac
done <"$TMP/check"
ok $rc "check_report.py passes"

err=$("$HEAPLAB" report stray 2>&1); is $? 2 "stray argument: exit 2"
err=$("$HEAPLAB" report -o /proc/nonexistent/x 2>&1); is $? 1 "unwritable output folder: exit 1"
like "$err" "cannot create /proc/nonexistent/x" "unwritable folder named"
done_testing
