#!/bin/bash
# heaplab trace -e ptrace works without root: run it as nobody.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
if [ "$(id -u)" -ne 0 ]; then
	AS=()		# already unprivileged
else
	AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
D=$TMP/nobody
mkdir -p "$D" && chmod 777 "$D" "$TMP" 2>/dev/null

"${AS[@]}" sh -c 'test "$(id -u)" -ne 0'; ok $? "the run below is not root"
"${AS[@]}" "$HEAPLAB" trace -e ptrace -f jsonl -o "$D/t.jsonl" -- "$T/cause" 2>"$D/err"
is $? 0 "non-root trace of the cause target: exit 0" || sed 's/^/# /' "$D/err"
$CHK "$D/t.jsonl" valid; ok $? "non-root: valid jsonl"
$CHK "$D/t.jsonl" complete true; ok $? "non-root: complete"
$CHK "$D/t.jsonl" mmap-by-malloc 200000; ok $? "non-root: mmap caused by malloc(200000)"
$CHK "$D/t.jsonl" loader 5; ok $? "non-root: loader causes"
"${AS[@]}" "$HEAPLAB" trace -e ptrace -f jsonl -o "$D/f.jsonl" -- "$T/forkexec" fork 2>"$D/err"
is $? 0 "non-root: fork+exec traced"
$CHK "$D/f.jsonl" procs 2; ok $? "non-root: both processes"

done_testing
