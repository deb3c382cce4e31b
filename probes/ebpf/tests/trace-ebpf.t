#!/bin/bash
# heaplab trace -e ebpf: the same strace-equality, causality, threading,
# fork/exec and kill checks as the ptrace engine, plus -e auto's choice,
# libheaplab's USDT events and --uprobes.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
. "$(dirname "$0")/need-ebpf.sh"
SRC=$(cd "$(dirname "$0")/../../.." && pwd)	# tap.sh assumes AREA/tests/

T=$B/probes/targets
ET=$B/tests/ebpf
CHK="python3 $SRC/probes/tests/trace_check.py"
TAPSO=$(readlink -f "$B/libheaplab-tap.so")
J=$TMP/t.jsonl

need_ebpf

# -e auto picks ebpf here, and says so.
"$HEAPLAB" trace -f jsonl -o "$J" -- "$T/cause" 2>"$TMP/err"
is $? 0 "auto: the cause target exits 0"
like "$(cat "$TMP/err")" "engine auto: using ebpf" "auto says it uses ebpf"
$CHK "$J" valid; ok $? "auto: valid jsonl"
grep -q '"engine":"ebpf"' "$J"; ok $? "trace_end names the ebpf engine"

# Causality, as for ptrace (probes/tests/trace-cause.t).
"$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$T/cause" 2>"$TMP/err"
is $? 0 "ebpf: trace of the cause target exits with its status"
$CHK "$J" valid; ok $? "jsonl: one object per line, seq 1..N, trace_end last"
$CHK "$J" complete true; ok $? "trace_end says complete"
$CHK "$J" dropped eq 0; ok $? "nothing dropped or lost"
$CHK "$J" mmap-by-malloc 200000; ok $? "malloc(200000) -> an mmap caused by it"
$CHK "$J" brk-by-malloc; ok $? "a small malloc that grows the break -> a brk caused by it"
$CHK "$J" munmap-by-free; ok $? "free of the big block -> a munmap caused by it"
$CHK "$J" loader 5; ok $? "the loader's start-up mmaps have cause \"loader\" (IP in ld.so, in the kernel)"
$CHK "$J" tap; ok $? "the tap's ring mapping has cause \"tap\""
$CHK "$J" containment; ok $? "every call cause contains its syscall"
$CHK "$J" count malloc eq 65; ok $? "all 65 mallocs recorded"
$CHK "$J" count free eq 65; ok $? "all 65 frees recorded"
$CHK "$J" count exec eq 1; ok $? "one exec event"
$CHK "$J" exit 0; ok $? "an exit event with status 0"

# Both engines give the same events: kinds, arguments, results, causes.
"$HEAPLAB" trace -e ptrace -f text -o "$TMP/p.txt" -- "$T/cause" 2>/dev/null
"$HEAPLAB" trace -e ebpf -f text -o "$TMP/e.txt" -- "$T/cause" 2>/dev/null
noaddr() { grep -v '^# trace end' "$1" | sed -E 's/0x[0-9a-f]+/ADDR/g'; }
diff <(noaddr "$TMP/p.txt") <(noaddr "$TMP/e.txt") >"$TMP/pe.diff"
ok $? "ptrace and ebpf engines: the same text trace (addresses aside)" ||
	sed 's/^/# /' "$TMP/pe.diff" | head -10

# strace equality, thread by thread (probes/tests/strace_compare.sh).
. "$SRC/probes/tests/strace_compare.sh"
compare() { strace_compare ebpf "$@"; }
# Each of the six made directly, succeeding and failing (-errno), from 4
# threads at once: every kind with its arguments and return value.
compare memsys "$ET/mt_target" memsys 3
grep -c -E '^(\[pid [0-9/]+\] )?#[0-9]+ (mremap|madvise|mprotect)\(' "$TMP/memsys.hl" >"$TMP/n"
test "$(cat "$TMP/n")" -ge 24; ok $? "memsys: its mremap/madvise/mprotect calls are in the trace ($(cat "$TMP/n"))"
compare cause "$T/cause"
compare threads "$T/threads" 4
compare fork-exec "$T/forkexec" fork
compare vfork-exec "$T/forkexec" vfork
compare sh-ls sh -c 'ls / >/dev/null; exit 3'

# Threads: every thread's calls and syscalls, causes by containment.
"$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$T/threads" 4 2>/dev/null
is $? 0 "threads: exits 0"
$CHK "$J" threads-calls 4; ok $? "threads: malloc calls from all 5 threads"
$CHK "$J" containment; ok $? "threads: causes contain their syscalls"
n=$(python3 -c '
import json, sys
tids = set()
for l in open(sys.argv[1]):
    e = json.loads(l)
    c = e.get("cause")
    if e["kind"] == "mmap" and isinstance(c, dict) and c["kind"] == "malloc" and e["tid"] != e["pid"]:
        tids.add(e["tid"])
print(len(tids))' "$J")
is "$n" 4 "threads: each new thread's first malloc caused its arena's mmap"

# fork + exec: the child is followed across exec.
"$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$T/forkexec" fork 2>/dev/null
is $? 0 "fork-exec: exits 0"
$CHK "$J" procs 2; ok $? "fork-exec: events from 2 processes"
$CHK "$J" count exec eq 2; ok $? "fork-exec: both execs"
$CHK "$J" containment; ok $? "fork-exec: causes hold in the child too"

# A killed target: the trace ends, complete, with the signal's status.
"$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$T/spin" segv 2>/dev/null
is $? 139 "a segfaulting target: 139"
$CHK "$J" valid; ok $? "segv: valid jsonl"
$CHK "$J" exit 139; ok $? "segv: its exit event says 139"
( "$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$ET/mt_target" hang >"$TMP/out" 2>/dev/null; echo $? >"$TMP/rc" ) &
for i in $(seq 50); do grep -q ready "$TMP/out" 2>/dev/null && break; sleep 0.1; done
pkill -KILL -f "$ET/mt_target hang" -P "$(pgrep -f "trace -e ebpf -f jsonl -o $J" | head -1)" 2>/dev/null ||
	kill -KILL "$(pgrep -f "^$ET/mt_target hang")"
wait
is "$(cat "$TMP/rc")" 137 "a target killed mid-trace: 137, no hang"
$CHK "$J" valid; ok $? "killed: valid jsonl to the last line"
grep -q '"kind":"mmap","args":{"addr":0,"length":4096' "$J"; ok $? "killed: its last mmap was recorded"

# --events syscalls: no tap at all; --events calls: no syscalls.
"$HEAPLAB" trace -e ebpf --events syscalls -f jsonl -o "$J" -- "$T/cause"
is $? 0 "--events syscalls exits 0"
$CHK "$J" count malloc eq 0; ok $? "--events syscalls: no calls"
$CHK "$J" count mmap ge 8; ok $? "--events syscalls: the mmaps"
"$HEAPLAB" trace -e ebpf --events calls -f jsonl -o "$J" -- "$T/cause"
is $? 0 "--events calls exits 0"
$CHK "$J" count malloc eq 65; ok $? "--events calls: the mallocs"
$CHK "$J" count mmap eq 0; ok $? "--events calls: no syscalls"

# A ring too small for the traffic (HEAPLAB_EBPF_RING, one page: ~36
# records) loses records, but never silently: every memory syscall is
# either in the trace or counted in trace_end's "dropped", the trace says
# it is incomplete, and heaplab says so on stderr.
"$HEAPLAB" trace -e ebpf --events syscalls -f jsonl -o "$J" -- "$ET/mt_target" churn 100000 2>/dev/null
is $? 0 "churn, default ring: exits 0"
$CHK "$J" dropped eq 0; ok $? "churn, default ring: nothing lost"
all=$(tail -1 "$J" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
HEAPLAB_EBPF_RING=4096 "$HEAPLAB" trace -e ebpf --events syscalls -f jsonl -o "$J" -- "$ET/mt_target" churn 100000 2>"$TMP/err"
is $? 0 "churn, a one-page ring: exits 0"
read -r got lost complete < <(tail -1 "$J" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["events"], e["dropped"], e["complete"])')
test "${lost:-0}" -gt 0; ok $? "a one-page ring: records lost ($lost of $all)"
is "$((got + lost))" "$all" "a one-page ring: recorded + lost = every event of the full run"
is "$complete" False "a one-page ring: trace_end says incomplete"
like "$(cat "$TMP/err")" "records lost: the BPF ring \(4 KiB\) was full" "a one-page ring: heaplab says so"

# libheaplab's USDT probes: heap grown, trimmed, threshold moved.
if [ -f "$B/libheaplab.so" ] && readelf -n "$B/libheaplab.so" | grep -q 'Provider: heaplab'; then
	"$HEAPLAB" trace -e ebpf -a heaplab -f jsonl -o "$J" -- "$T/cause" 2>/dev/null
	is $? 0 "-a heaplab: exits 0"
	$CHK "$J" valid; ok $? "-a heaplab: valid jsonl"
	grep -q '"kind":"heap_grow"' "$J"; ok $? "-a heaplab: heap_grow events from its USDT probe"
	grep -q '"kind":"trim"' "$J"; ok $? "-a heaplab: trim events from its USDT probe"
	# A thread's first malloc under libheaplab gives it an arena of its own.
	"$HEAPLAB" trace -e ebpf -a heaplab -f jsonl -o "$J" -- "$ET/mt_target" threads 4 2>/dev/null
	is $? 0 "-a heaplab, 4 threads: exits 0"
	python3 - "$J" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
workers = {e["args"]["child"] for e in evs
           if e["kind"] == "fork" and e["args"]["thread"]}
news = [e for e in evs if e["kind"] == "arena_new"]
calls = [e for e in evs if e["kind"] in ("malloc", "calloc", "realloc")]
bad = []
if not news:
    bad.append("no arena_new event")
for e in news:
    a = e["args"]
    inside = [c for c in calls if c["tid"] == e["tid"] and
              c["ts_ns"] <= e["ts_ns"] <= c["end_ns"] and c["seq"] < e["seq"]]
    if e["tid"] not in workers or a["arena"] < 1 or a["addr"] <= 0 or not inside:
        bad.append(json.dumps(e))
if len({e["args"]["arena"] for e in news}) != len(news):
    bad.append("an arena created twice")
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF
	ok $? "-a heaplab: arena_new from its USDT probe, on worker threads, inside the malloc that made it"
	"$HEAPLAB" trace -e ebpf -f jsonl -o "$J" -- "$T/cause" 2>/dev/null
	! grep -q '"kind":"heap_grow"' "$J"; ok $? "glibc: no heaplab USDT events"
else
	skip "libheaplab.so has no heaplab USDT probes (allocator/os.c) in this build"
fi

# --uprobes: the calls from uprobes/uretprobes on libc, no tap preloaded.
"$HEAPLAB" trace -e ebpf --uprobes -f jsonl -o "$J" -- "$T/cause" 2>"$TMP/err"
is $? 0 "--uprobes: exits 0"
$CHK "$J" valid; ok $? "--uprobes: valid jsonl"
$CHK "$J" count malloc ge 65; ok $? "--uprobes: the 65 mallocs (and libc's own)"
$CHK "$J" mmap-by-malloc 200000; ok $? "--uprobes: malloc(200000) -> its mmap"
$CHK "$J" containment; ok $? "--uprobes: causes contain their syscalls"
! grep -q '"cause":"tap"' "$J"; ok $? "--uprobes: no tap"
err=$("$HEAPLAB" trace -e ptrace --uprobes -- true 2>&1); is $? 2 "--uprobes with -e ptrace: usage error"
# A statically linked program has its own malloc: uprobes go on it.
if [ -x "$ET/mt_static" ]; then
	"$HEAPLAB" trace -e ebpf --uprobes -f jsonl -o "$J" -- "$ET/mt_static" basic 2>"$TMP/err"
	is $? 0 "--uprobes, static program: exits 0"
	$CHK "$J" count malloc ge 65; ok $? "--uprobes, static: its own mallocs recorded"
	$CHK "$J" mmap-by-malloc 200000; ok $? "--uprobes, static: malloc(200000) -> its mmap"
	# Exec'd later by a dynamic program: held at its exec until attached.
	"$HEAPLAB" trace -e ebpf --uprobes -f jsonl -o "$J" -- sh -c "exec '$ET/mt_static' basic" 2>"$TMP/err"
	is $? 0 "--uprobes, static program exec'd by sh: exits 0"
	python3 - "$J" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
last = max(e["seq"] for e in evs if e["kind"] == "exec")
n = sum(1 for e in evs if e["kind"] == "malloc" and e["seq"] > last)
print("# %d mallocs after the last exec" % n)
sys.exit(0 if n >= 65 else 1)
EOF
	ok $? "--uprobes, static program exec'd later: all its mallocs, from the first"
	$CHK "$J" mmap-by-malloc 200000; ok $? "--uprobes, static program exec'd later: malloc(200000) -> its mmap"
	strip -o "$TMP/stripped" "$ET/mt_static"
	err=$("$HEAPLAB" trace -e ebpf --uprobes -o /dev/null -- "$TMP/stripped" basic 2>&1)
	is $? 1 "--uprobes, static and stripped: exit 1"
	like "$err" "statically linked and has no malloc symbol .*stripped" "--uprobes: says it is stripped"
else
	skip "no static libc (libc.a) to build a static test program"
fi

# Without root: -e ebpf fails and says why; -e auto falls back to ptrace.
AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
D=$TMP/nobody
mkdir -p "$D" && chmod 777 "$D" "$TMP"
err=$("${AS[@]}" "$HEAPLAB" trace -e ebpf -o "$D/t" -- true 2>&1); is $? 1 "non-root -e ebpf: exit 1"
like "$err" "the ebpf engine cannot run here: .*(root|CAP_BPF)" "non-root -e ebpf: says it needs root"
"${AS[@]}" "$HEAPLAB" trace -f jsonl -o "$D/a.jsonl" -- "$T/cause" 2>"$D/err"
is $? 0 "non-root -e auto: traces anyway"
like "$(cat "$D/err")" "engine auto: using ptrace \(ebpf: .*(root|CAP_BPF).*\)" "non-root -e auto: says ptrace, and why"
grep -q '"engine":"ptrace"' "$D/a.jsonl"; ok $? "non-root -e auto: trace_end names ptrace"

done_testing
