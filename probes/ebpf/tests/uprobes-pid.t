#!/bin/bash
# heaplab trace --uprobes attaches its uprobes by pid: only the traced tree
# takes their traps. A process outside the tree calling malloc/free in the
# very object probed (here libheaplab.so, preloaded in both) gets no
# breakpoint: no [uprobes] page in its maps, no event of its pid. And every
# call of the tree is recorded: forked children that do not exec (held at
# their return from fork until attached), a thread, a vfork child before
# and after its exec, a fork child's exec'd program.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
. "$(dirname "$0")/need-ebpf.sh"

ET=$B/tests/ebpf
LIB=$B/libheaplab.so
J=$TMP/t.jsonl

need_ebpf

sp=
cleanup() {
	[ -n "$sp" ] && kill "$sp" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# count SIZE [PID]: malloc(SIZE) events in the trace (of PID).
count() {
	grep -o "\"pid\":[0-9]*,\"tid\":[0-9]*,\"kind\":\"malloc\",\"args\":{\"size\":$1}" "$J" |
		grep -c "^\"pid\":${2:-[0-9]*},"
}

# An untraced process spinning on malloc(1005)/free in libheaplab.so, for
# the whole trace; it stops when $TMP/stop appears.
LD_PRELOAD=$LIB "$ET/mt_target" spin "$TMP/stop" 1005 >"$TMP/spin" &
sp=$!
# Its first thousand pairs are made before the trace starts.
for i in $(seq 100); do
	grep -q libheaplab "/proc/$sp/maps" 2>/dev/null && break
	sleep 0.02
done

N=20
"$HEAPLAB" trace -e ebpf --uprobes -a heaplab -f jsonl -o "$J" -- \
	"$ET/mt_target" forks $N 2>"$TMP/err"
is $? 0 "--uprobes -a heaplab: mt_target forks $N exits 0"
touch "$TMP/stop"
wait "$sp"
is $? 0 "the untraced spinner exits 0"
sp=
like "$(cat "$TMP/err")" "uprobes page 1" \
	"the traced process has a [uprobes] page (its uretprobes hit)"
read -r _ pairs _ page <"$TMP/spin"
test "${pairs:-0}" -gt 1000; ok $? "the untraced spinner called malloc/free during the trace ($pairs pairs)"
is "$page" 0 "... and has no [uprobes] page: no uprobe hit in it"
is "$(count 1005)" 0 "no malloc(1005) of the spinner recorded"
grep -q "\"pid\":$sp," "$J"; is $? 1 "no event of the spinner's pid"
grep -q '"complete":true' "$J"; ok $? "the trace is complete"
grep -q '"dropped":0,' "$J"; ok $? "nothing dropped"

# The tree's calls, all of them (mallocs from the kernel's uprobes).
is "$(count 1000)" $N "the root's $N mallocs"
is "$(count 1004)" $N "its thread's $N mallocs"
is "$(count 1001)" $((N * N)) "$N forked children without exec: $N mallocs each"
kids=$(grep -o "\"pid\":[0-9]*,\"tid\":[0-9]*,\"kind\":\"malloc\",\"args\":{\"size\":1001}" "$J" |
	cut -d, -f1 | sort -u | wc -l)
is "$kids" $N "... from $N pids"
is "$(count 1002)" $((2 * N)) "the vfork child's $N before its exec and $N after"
is "$(count 1003)" $N "the fork child's exec'd program's $N"
frees=$(grep -c '"kind":"free"' "$J")
test "$frees" -ge $((N * N + 5 * N)); ok $? "the frees too ($frees)"

# heaplab raises its own open-file limit for the links, not the target's.
nofile=$(ulimit -Sn 512 && "$HEAPLAB" trace -e ebpf --uprobes -a heaplab \
	-o "$TMP/n.jsonl" -- sh -c 'ulimit -Sn' 2>/dev/null)
is "$nofile" 512 "the target runs with the open-file limit heaplab was given"

done_testing
