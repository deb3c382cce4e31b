#!/bin/bash
# heaplab trace follows threads, fork, vfork and exec, and survives targets
# that crash or are killed; a full tap ring drops and says so.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
J=$TMP/t.jsonl
trace() { timeout 60 "$HEAPLAB" trace -e ptrace -f jsonl -o "$J" -- "$@"; }
# checks CHECK...: the CHECKs (one string each: "count malloc eq 5") on one
# read of $J, as for a big trace the reading is most of a check's time;
# their statuses in st[], in order (all 1 when the checker said no more).
checks() {
	local out
	out=$($CHK "$J" -m "$@")
	printf '%s\n' "$out" | grep '^#'
	read -ra st <<<"$(printf '%s\n' "$out" | tail -n 1)"
	if [ ${#st[@]} -ne $# ]; then
		diag "trace_check.py -m: no line of $# statuses"
		st=()
		for _ in "$@"; do st+=(1); done
	fi
}

# Threads: calls from every thread, each thread's syscalls caused by its calls.
trace "$T/threads" 4; is $? 0 "threads: exit 0"
$CHK "$J" valid; ok $? "threads: valid jsonl"
$CHK "$J" threads-calls 4; ok $? "threads: malloc(300000) from all 4 threads and main"
$CHK "$J" containment; ok $? "threads: causes are on the caller's thread, around the syscall"
$CHK "$J" count fork eq 4; ok $? "threads: 4 thread creations"
$CHK "$J" order; ok $? "threads: each thread's events in start-time order"
$CHK "$J" count exit eq 5; ok $? "threads: 5 thread exits"
n=$(python3 -c '
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1])]
print(len({e["tid"] for e in ev if e["kind"] in ("mmap","brk","mprotect") and isinstance(e["cause"],dict) and e["cause"]["kind"]=="malloc"}))' "$J")
is "$n" 5 "threads: syscalls caused by mallocs on each of the 5 threads"

# More threads alive at once than the ring has lanes (64): the calls of
# threads without a lane are counted as dropped, nothing breaks.
trace "$T/threads" 80; is $? 0 "80 threads: exit 0"
$CHK "$J" valid; ok $? "80 threads: valid jsonl"
$CHK "$J" dropped gt 0; ok $? "80 threads: calls without a lane counted as dropped"
$CHK "$J" complete false; ok $? "80 threads: trace says incomplete"
$CHK "$J" count exit eq 81; ok $? "80 threads: every thread's exit"

# fork + exec: both processes, the child's exec, its mmap and exit 5.
trace "$T/forkexec" fork; is $? 0 "fork+exec: exit 0"
$CHK "$J" valid; ok $? "fork+exec: valid jsonl"
$CHK "$J" procs 2; ok $? "fork+exec: events from 2 processes"
$CHK "$J" exec-paths forkexec forkexec; ok $? "fork+exec: both execs, with their paths"
$CHK "$J" mmap-by-malloc 200000; ok $? "fork+exec: the exec'd child's malloc(200000) -> mmap"
$CHK "$J" exit 5; ok $? "fork+exec: the child's exit 5"
grep -q '"kind":"fork","args":{"child":[0-9]*,"vfork":0,"thread":0}' "$J"
ok $? "fork+exec: a fork event naming the child"
$CHK "$J" containment; ok $? "fork+exec: causes contained"
$CHK "$J" order; ok $? "fork+exec: each thread's events in start-time order"

trace "$T/forkexec" vfork; is $? 0 "vfork+exec: exit 0, no hang"
$CHK "$J" valid; ok $? "vfork+exec: valid jsonl"
grep -q '"kind":"fork","args":{"child":[0-9]*,"vfork":1,"thread":0}' "$J"
ok $? "vfork+exec: the fork event says vfork"
$CHK "$J" exit 5; ok $? "vfork+exec: the child's exit 5"

# A thread other than the leader execs: it takes over the process.
trace "$T/forkexec" thread; is $? 5 "exec from a second thread: the leaf's status"
$CHK "$J" valid; ok $? "exec from a thread: valid jsonl"
$CHK "$J" exec-paths forkexec forkexec; ok $? "exec from a thread: both images"
python3 - "$J" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ex = [e for e in ev if e["kind"] == "exec"][1]
m = [e for e in ev if e["kind"] == "malloc" and e["args"]["size"] == 300]
sys.exit(0 if m and ex["args"]["old_tid"] == m[0]["tid"] != ex["tid"] == ex["pid"] else 1)
PY
ok $? "exec from a thread: the thread's malloc(300), then exec naming it as old_tid"

# The same under ebpf, the new image making 200000 calls at once: every
# one recorded (the lanes of the leader, gone when the other thread exec'd,
# were freed by its tid at the next cycle, often after the new image had
# claimed a lane under that tid: its calls were lost, the trace complete).
if [ "$(id -u)" = 0 ] && [ -x "$B/tests/ebpf/mtdump" ]; then
	for i in 1 2 3; do
		timeout 60 "$HEAPLAB" trace -e ebpf --events calls -f jsonl -o "$J" -- \
			"$T/forkexec" threadcalls
		is $? 5 "ebpf, exec from a thread, run $i: the leaf's status"
		is "$(grep -c '"kind":"malloc","args":{"size":100}' "$J")" 200000 \
			"ebpf, exec from a thread, run $i: all 200000 calls of the new image"
		$CHK "$J" complete true; ok $? "ebpf, exec from a thread, run $i: complete"
	done
else
	skip "exec from a thread under ebpf: not root or no ebpf engine built"
fi

# A target that execs another program.
trace sh -c "exec $T/cause"; is $? 0 "exec of another program: exit 0"
$CHK "$J" exec-paths /dash /cause; ok $? "exec of another program: sh, then cause"
$CHK "$J" mmap-by-malloc 200000; ok $? "exec of another program: the new image is traced, calls too"
$CHK "$J" count malloc ge 65; ok $? "exec of another program: the tap re-attached in the new image"

# Faults: a segfault, a SIGKILL mid-trace (from the outside, threads busy).
trace "$T/spin" segv; is $? 139 "segfaulting target: 139"
$CHK "$J" valid; ok $? "segfault: valid jsonl"
grep -q '"kind":"exit","args":{"code":0,"signal":11},"ret":139' "$J"; ok $? "segfault: exit event, signal 11"

"$HEAPLAB" trace -e ptrace -b 4096 -f jsonl -o "$J" -- "$T/spin" loop 0 2 &
hl=$!
for i in $(seq 50); do
	victim=$(pgrep -P $hl)
	[ -n "$victim" ] && [ "$(stat -c %s "$J" 2>/dev/null || echo 0)" -gt 100000 ] && break
	sleep 0.1
done
kill -KILL $victim || kill -KILL $hl
wait $hl; is $? 137 "target killed mid-trace: 137"
checks valid "count malloc ge 1000"
ok ${st[0]} "killed: valid jsonl to the last line"
grep -q '"signal":9},"ret":137' "$J"; ok $? "killed: exit events say SIGKILL"
ok ${st[1]} "killed: the calls up to the kill are there"

# Drops: a tiny ring loses calls, counts them, and marks the trace incomplete.
timeout 60 "$HEAPLAB" trace -e ptrace -b 16 -f jsonl -o "$J" -- "$T/spin" calls 200000
is $? 0 "-b 16: the target runs normally"
$CHK "$J" valid; ok $? "-b 16: valid jsonl"
$CHK "$J" dropped gt 0; ok $? "-b 16: drops counted"
$CHK "$J" complete false; ok $? "-b 16: trace marked incomplete"
$CHK "$J" accounted 400000; ok $? "-b 16: every call recorded or counted as dropped"
# A small ring wraps around many times: what it keeps is intact.
timeout 60 "$HEAPLAB" trace -e ptrace -b 1024 -f jsonl -o "$J" -- "$T/spin" calls 20000
is $? 0 "-b 1024: exit 0"
$CHK "$J" valid; ok $? "-b 1024: valid jsonl"
$CHK "$J" accounted 40000; ok $? "-b 1024: every call recorded or counted as dropped"
python3 - "$J" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
m = [e for e in ev if e["kind"] == "malloc"]
bad = [e for e in m if e["args"]["size"] % 16 or not 16 <= e["args"]["size"] <= 1024 or not e["ret"]]
sys.exit(1 if bad or not m else 0)
PY
ok $? "-b 1024: every kept malloc record is intact (sizes 16..1024, a pointer)"
# Drained at every 100th pair, a lane rewinds to its first records (ring.h)
# many times over: no call lost, reordered or torn across the rewinds.
timeout 60 "$HEAPLAB" trace -e ptrace -b 8192 -f jsonl -o "$J" -- "$T/spin" churn 30000
is $? 0 "churn -b 8192: exit 0"
$CHK "$J" dropped eq 0; ok $? "churn -b 8192: nothing dropped"
python3 - "$J" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
calls = [e for e in ev if e["kind"] in ("malloc", "free")]
ok = len(calls) == 60000
for i in range(0, len(calls) - 1, 2):
    m, f = calls[i], calls[i + 1]
    ok = ok and m["kind"] == "malloc" and f["kind"] == "free"
    ok = ok and m["args"]["size"] == 16 + (i // 2 % 64) * 16
    ok = ok and m["ret"] and f["args"]["ptr"] == m["ret"]
    ok = ok and m["ts_ns"] <= m["end_ns"] <= f["ts_ns"] <= f["end_ns"]
sys.exit(0 if ok else 1)
PY
ok $? "churn -b 8192: 30000 malloc/free pairs in order, sizes and pointers intact"
# The default ring loses nothing on a burst of 400000 calls.
trace "$T/spin" calls 200000; is $? 0 "200000 malloc/free pairs: exit 0"
checks "dropped eq 0" "count malloc eq 200000" "count free eq 200000" "accounted 400000"
ok ${st[0]} "default ring: nothing dropped"
ok ${st[1]} "default ring: every malloc"
ok ${st[2]} "default ring: every free"
ok ${st[3]} "default ring: calls accounted"

# The tracer shares the tracee's CPU (engine.c, "one CPU"): it keeps to one
# CPU and runs SCHED_IDLE, the tracee's own CPUs and policy untouched.
Q='chrt -p $$ | sed "s/^pid [0-9]*//"; grep Cpus_allowed_list /proc/self/status; nproc'
want=$(sh -c "$Q")
got=$("$HEAPLAB" trace -e ptrace --events syscalls -o /dev/null -- sh -c "$Q")
is "$got" "$want" "the target's policy, CPUs and nproc are its own under the tracer"
got=$("$HEAPLAB" trace -e ptrace -o /dev/null -- sh -c "$Q")
is "$got" "$want" "the same with the call tap"
# A thread burning every CPU: an idle-policy tracer would get no CPU; the
# watchdog puts it back to normal and the trace goes to its end.
timeout 60 "$HEAPLAB" trace -e ptrace --events syscalls -f jsonl -o "$J" -- \
	"$T/spin" hog 3000
is $? 0 "a hog on every CPU: the trace ends, exit 0"
$CHK "$J" complete true; ok $? "a hog on every CPU: complete"
n=$(grep -c '"kind":"munmap","args":{"addr":[0-9]*,"length":8192}' "$J")
is "$n" 3000 "a hog on every CPU: all 3000 munmaps of the main thread"
HEAPLAB_PTRACE_ONECPU=0 timeout 60 "$HEAPLAB" trace -e ptrace --events syscalls \
	-f jsonl -o "$J" -- "$T/spin" hog 3000
n=$(grep -c '"kind":"munmap","args":{"addr":[0-9]*,"length":8192}' "$J")
is "$n" 3000 "HEAPLAB_PTRACE_ONECPU=0: the same trace"

done_testing
