#!/bin/bash
# heaplab trace --uprobes holds each image the tree execs stopped until the
# tracer has looked at it (probes/ebpf/run.c says how and why). A tracer
# that dies meanwhile must not leave a program stopped for good: the root
# command dies with its tracer, a program its descendants exec'd runs on
# untraced. Here heaplab is stopped (SIGSTOP) so that the next exec stays
# held, then SIGKILLed, and /proc/PID/stat tells what became of the held one.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
. "$(dirname "$0")/need-ebpf.sh"

need_ebpf

state() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo gone; return; }
	awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || echo gone
}

# waitfor SECONDS CMD...: until CMD succeeds, or SECONDS have passed.
waitfor() {
	local n=$(($1 * 50))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.02
	done
}
is_T() { [ "$(state "$1")" = T ]; }
not_T() { [ "$(state "$1")" != T ]; }
dead() { [ "$(state "$1")" = gone ] || [ "$(state "$1")" = Z ]; }

# The processes this test started hold $TMP in their command lines; the
# held one is among them, and so is heaplab ($hp), stopped by the test.
held_one() {
	local p
	for p in $(pgrep -f -- "$TMP"); do
		[ "$p" != "$hp" ] && is_T "$p" && held=$p && return 0
	done
	return 1
}

hp= held=
# Only what this test started: heaplab, and what it held (their output
# goes to files, so that a process left stopped cannot hold prove's pipe).
cleanup() {
	local p
	[ -n "$hp" ] && kill -CONT "$hp" 2>/dev/null && kill -KILL "$hp" 2>/dev/null
	for p in $(pgrep -f -- "$TMP"); do
		is_T "$p" && kill -KILL "$p"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
ran() { ls "$TMP" | grep -c '^ran\.'; }

# A descendant's exec, held: the root loops on sh -c 'touch ran.PID'.
"$HEAPLAB" trace --uprobes -e ebpf -o "$TMP/d.txt" -- sh -c 'echo $$ >"$0/root"
	while :; do sh -c "touch \"\$0/ran.\$\$\"" "$0"; done' "$TMP" >/dev/null 2>"$TMP/d.err" &
hp=$!
waitfor 20 test -s "$TMP/root"; ok $? "the traced loop runs"
root=$(cat "$TMP/root")
kill -STOP "$hp"
# The loop's next program, stopped at its exec with nobody to continue it.
waitfor 10 held_one
ok $? "with the tracer stopped, a program the loop starts is held at its exec ($held: $(tr '\0' ' ' <"/proc/$held/cmdline" 2>/dev/null))"
n0=$(ran)
kill -KILL "$hp"
{ wait "$hp"; } 2>/dev/null
is $? 137 "heaplab SIGKILLed"
hp=
waitfor 10 not_T "$held"; ok $? "the held program is no longer stopped ($(state "$held"))"
waitfor 10 eval '[ "$(ran)" -gt "$n0" ]'; ok $? "... it ran on: one more ran.PID file ($n0 -> $(ran))"
like "$(cat "$TMP/d.err")" "the tracer is gone: pid $held, held stopped for it, continued untraced" \
	"it was continued, and that is said"
waitfor 10 dead "$root"; ok $? "the root command died with its tracer"

# The root's own exec, held (its second: sh execs sleep once told to).
mkfifo "$TMP/go"
"$HEAPLAB" trace --uprobes -e ebpf -o "$TMP/r.txt" -- sh -c 'echo $$ >"$0/root2"
	read x <"$0/go"; exec sleep 30' "$TMP" >/dev/null 2>"$TMP/r.err" &
hp=$!
waitfor 20 test -s "$TMP/root2"; ok $? "the traced sh runs"
held=$(cat "$TMP/root2")
kill -STOP "$hp"
echo go >"$TMP/go"
waitfor 10 is_T "$held"; ok $? "with the tracer stopped, the root is held at its exec of sleep"
kill -KILL "$hp"
{ wait "$hp"; } 2>/dev/null
is $? 137 "heaplab SIGKILLed"
hp=
waitfor 10 dead "$held"
ok $? "the held root died with its tracer ($(state "$held"))"

# A run that ends normally leaves no guard behind and says nothing.
"$HEAPLAB" trace --uprobes -e ebpf -o "$TMP/n.txt" -- sh -c 'exit 5' 2>"$TMP/n.err"
is $? 5 "a normal --uprobes run exits with its command's status"
is "$(cat "$TMP/n.err")" "" "... and warns of nothing"
is "$(pgrep -c -f -- "-o $TMP/n.txt")" 0 "... and leaves no process of its own (the guard) behind"

done_testing
