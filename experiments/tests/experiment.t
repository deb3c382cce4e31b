#!/bin/bash
# `heaplab experiment`: the list, dispatch, and errors.
. "$(dirname "$0")/../../lab/tests/tap.sh"

list=$("$HEAPLAB" experiment --list); ok $? "experiment --list exits 0"
"$HEAPLAB" experiment --help | grep -q '^Usage: heaplab experiment'; ok $? "experiment --help"
err=$("$HEAPLAB" experiment 2>&1); is $? 2 "experiment without a name: exit 2"
err=$("$HEAPLAB" experiment no-such 2>&1); is $? 2 "unknown experiment: exit 2"
like "$err" "unknown experiment 'no-such'" "unknown experiment named"
# Every listed experiment documents itself.
while read -r name _; do
	[ -n "$name" ] || continue
	"$HEAPLAB" experiment "$name" --help | grep -q "Usage:"; ok $? "experiment $name --help"
done <<<"$list"
done_testing
