#!/bin/bash
# heaplab replay: a recorded trace replayed on each allocator; the replay,
# itself traced, goes through the recording's live-byte curve call by call;
# bad recordings are refused with the line named.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/experiments/targets
FIELD_PRELUDE='r = by(d["allocators"])'

# The live requested bytes after each allocator call, in the order the calls
# took effect (an allocation when it returned, a free when it was entered);
# a call inside another on its thread (reallocarray -> realloc) is part of
# it. REPLAY: only the replayer's worker threads (its main thread sets up).
cat >"$TMP/curve.py" <<'PY'
import json, sys
replay = sys.argv[2] == "replay"
ev = [json.loads(l) for l in open(sys.argv[1])]
calls, open_end = [], {}
for e in sorted((e for e in ev if "tid" in e), key=lambda e: (e["ts_ns"], e["seq"])):
    k = e["kind"]
    if k not in ("malloc", "calloc", "realloc", "reallocarray", "free",
                 "memalign", "posix_memalign", "aligned_alloc", "valloc",
                 "pvalloc"):
        continue
    if replay and e["tid"] == e["pid"]:
        continue
    if e["ts_ns"] < open_end.get(e["tid"], 0) and e["end_ns"] <= open_end[e["tid"]]:
        continue
    open_end[e["tid"]] = e["end_ns"]
    t = e["ts_ns"] if k == "free" else e["end_ns"]
    calls.append((t, e["seq"], e))
calls.sort(key=lambda c: c[:2])
live, sizes, curve, unknown = 0, {}, [], 0
for _, _, e in calls:
    k, a, r = e["kind"], e["args"], e["ret"]
    if k == "posix_memalign":
        r = a["result"] if r == 0 else 0
    if k == "free" or (k in ("realloc", "reallocarray") and a["ptr"]):
        if a["ptr"] == 0:
            continue
        if a["ptr"] not in sizes:
            unknown += 1
            continue
        live -= sizes.pop(a["ptr"])
    if k != "free" and r:
        n = a["size"] * a.get("nmemb", 1)
        sizes[r] = n
        live += n
    curve.append(live)
print(json.dumps({"curve": curve, "unknown_frees": unknown, "peak": max(curve)}))
PY
same_curve() {
	python3 "$TMP/curve.py" "$1" rec >"$TMP/a.json"
	python3 "$TMP/curve.py" "$2" replay >"$TMP/b.json"
	python3 - "$TMP/a.json" "$TMP/b.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
print(len(a["curve"]), a["curve"] == b["curve"], b["unknown_frees"], a["peak"])
PY
}

# A single-threaded workload.
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$TMP/w.jsonl" -- "$T/workload" 5000 300 >/dev/null
ok $? "recorded the workload"
"$HEAPLAB" replay "$TMP/w.jsonl" -a glibc -a phase5 -a heaplab --json --record "$TMP/w-rep.jsonl" >"$TMP/w.json"
ok $? "replay --json --record"
read -r n same unknown peak <<<"$(same_curve "$TMP/w.jsonl" "$TMP/w-rep.jsonl")"
ok $(( n > 5000 ? 0 : 1 )) "the recording has over 5000 calls ($n)"
is "$same" True "the traced replay goes through the recording's live-byte curve, call by call"
is "$unknown" 0 "the replay freed nothing it had not made"
is "$(field "$TMP/w.json" "d['peak_live']")" "$peak" "replay's peak live bytes = the recording's"
is "$(field "$TMP/w.json" "all(0 < x['utilization'] <= 1 and x['calls_per_second'] > 0 for x in r.values())")" True \
	"every allocator scored: utilization in (0, 1], calls per second"
is "$(field "$TMP/w.json" "abs(r['phase5']['utilization'] - d['peak_live'] / r['phase5']['peak_footprint']) < 0.001")" True \
	"utilization = peak live / peak footprint"
is "$(field "$TMP/w.json" "r['phase5']['footprint_source'].startswith('the allocator') and r['glibc']['footprint_source'].startswith('measured outside')")" \
	True "the footprint's source is named: phase5 counts its own, glibc is measured from outside"

# Threads, with blocks freed by the other thread.
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$TMP/x.jsonl" -- "$T/xthread" 600 >/dev/null
ok $? "recorded xthread"
"$HEAPLAB" replay "$TMP/x.jsonl" -a phase3 --json --record "$TMP/x-rep.jsonl" >"$TMP/x.json"
ok $? "replayed on phase3"
is "$(field "$TMP/x.json" "(d['threads'], d['cross_thread_frees'])")" "(2, 600)" \
	"one replay thread per traced thread; 600 frees on the other thread"
read -r n same unknown peak <<<"$(same_curve "$TMP/x.jsonl" "$TMP/x-rep.jsonl")"
is "$same" True "the threaded replay goes through the recording's live-byte curve ($n calls)"
python3 - "$TMP/x-rep.jsonl" <<'PY' >"$TMP/xt"
import json, sys
made = {}
cross = 0
ev = [json.loads(l) for l in open(sys.argv[1])]
ev = [e for e in ev if "tid" in e and e["tid"] != e["pid"]]
# The file is not in time order across threads: order by when calls took effect.
ev.sort(key=lambda e: (e["ts_ns"] if e["kind"] == "free" else e["end_ns"], e["seq"]))
for e in ev:
    if e["kind"] == "malloc":
        made[e["ret"]] = e["tid"]
    elif e["kind"] == "free" and e["args"]["ptr"] in made:
        cross += made.pop(e["args"]["ptr"]) != e["tid"]
print(cross)
PY
is "$(cat "$TMP/xt")" 600 "traced: the replay's threads free each other's blocks"

# Processes: a shell that forks and execs.
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$TMP/sh.jsonl" -- sh -c 'ls / >/dev/null; ls /usr >/dev/null' >/dev/null
"$HEAPLAB" replay "$TMP/sh.jsonl" -a glibc --json >"$TMP/sh.json"
ok $? "a recording of several processes replays"
is "$(field "$TMP/sh.json" "d['images'] >= 3")" True "each process image has addresses of its own"

# Forked children (bash's command substitutions) free blocks their parent made.
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$TMP/fork.jsonl" -- \
	bash -c 'x=$(echo a; echo b); for i in 1 2 3; do y=$(echo $i$x); done' >/dev/null
"$HEAPLAB" replay "$TMP/fork.jsonl" -a phase5 --json >"$TMP/fork.json"
ok $? "a recording with forked children replays"
forks=$(grep -c '"kind":"fork".*"thread":0' "$TMP/fork.jsonl")
is "$(field "$TMP/fork.json" "d['images']")" $((forks + 1)) "one process image per fork, plus the first ($forks forks)"
is "$(field "$TMP/fork.json" "d['inherited_frees'] > 0")" True "the children's frees of inherited blocks are skipped and counted"

# --pid: one process of the recording; together they are the whole.
sum=0
for pid in $(python3 -c 'import json, sys
print(*sorted({json.loads(l).get("pid", 0) for l in open(sys.argv[1])} - {0}))' "$TMP/fork.jsonl"); do
	"$HEAPLAB" replay "$TMP/fork.jsonl" -a glibc --pid "$pid" --json >"$TMP/pid.json" || break
	sum=$((sum + $(field "$TMP/pid.json" "d['recorded_calls']")))
	[ "$(field "$TMP/pid.json" "d['pid'] == $pid and d['images'] == 1")" = True ] || break
done
is "$sum" "$(field "$TMP/fork.json" "d['recorded_calls']")" "--pid: each process alone, one image each; their calls add up to the whole recording's"
root=$(python3 -c 'import json, sys
print(json.loads(open(sys.argv[1]).readline())["pid"])' "$TMP/fork.jsonl")
"$HEAPLAB" replay "$TMP/fork.jsonl" -a glibc --pid "$root" --json >"$TMP/pid.json"
is "$(field "$TMP/pid.json" "d['inherited_frees']")" 0 "--pid of the first process: it inherited nothing"
err=$("$HEAPLAB" replay "$TMP/fork.jsonl" -a glibc --pid 1 2>&1); is $? 1 "--pid of a process not in the recording: exit 1"
like "$err" "holds no allocator calls of process 1" "... and says so"
err=$("$HEAPLAB" replay "$TMP/fork.jsonl" --pid 12x 2>&1); is $? 2 "--pid 12x: a usage error"

# Bad recordings, refused with the line named.
head -5 "$TMP/w.jsonl" >"$TMP/bad1.jsonl"; echo 'this is not json' >>"$TMP/bad1.jsonl"; tail -3 "$TMP/w.jsonl" >>"$TMP/bad1.jsonl"
err=$("$HEAPLAB" replay "$TMP/bad1.jsonl" -a glibc 2>&1); is $? 1 "a garbage line: exit 1"
like "$err" "bad1.jsonl line 6: not JSON" "the garbage line is named"
printf '%s\n' '{"seq":1,"ts_ns":10,"end_ns":11,"pid":5,"tid":5,"kind":"malloc","args":{"size":10},"ret":4096,"cause":null}' \
	'{"seq":2,"ts_ns":12,"end_ns":13,"pid":5,"tid":5,"kind":"free","args":{"ptr":4096},"ret":null,"cause":null}' \
	'{"seq":3,"ts_ns":14,"end_ns":15,"pid":5,"tid":5,"kind":"free","args":{"ptr":8192},"ret":null,"cause":null}' >"$TMP/bad2.jsonl"
err=$("$HEAPLAB" replay "$TMP/bad2.jsonl" -a glibc 2>&1); is $? 1 "an unmatched free: exit 1"
like "$err" "bad2.jsonl line 3: free of 0x2000, which no recorded call returned" "the unmatched free's line is named"
printf '%s\n' '{"seq":1,"ts_ns":10,"pid":5,"tid":5,"kind":"malloc","args":{},"ret":4096}' >"$TMP/bad3.jsonl"
err=$("$HEAPLAB" replay "$TMP/bad3.jsonl" -a glibc 2>&1); is $? 1 "a record without its size: exit 1"
like "$err" "bad3.jsonl line 1: malloc has no integer \"size\"" "the missing field is named"
printf '[1, 2]\n' >"$TMP/bad4.jsonl"
err=$("$HEAPLAB" replay "$TMP/bad4.jsonl" 2>&1); like "$err" "line 1: not a trace record" "JSON that is no record is named"
"$HEAPLAB" trace -e ptrace --events syscalls -f jsonl -o "$TMP/sys.jsonl" -- true
err=$("$HEAPLAB" replay "$TMP/sys.jsonl" 2>&1); is $? 1 "a recording without calls: exit 1"
like "$err" "holds no allocator calls" "and says why"
err=$("$HEAPLAB" replay 2>&1); is $? 2 "no file: exit 2"
err=$("$HEAPLAB" replay "$TMP/nope.jsonl" 2>&1); is $? 1 "a missing file: exit 1"
like "$err" "cannot read .*nope.jsonl" "the missing file is named"
out=$("$HEAPLAB" replay "$TMP/x.jsonl" -a glibc); ok $? "replay (text)"
like "$out" "600 frees on another thread" "the text counts the cross-thread frees"
done_testing
