#!/bin/bash
# The bench harness in quick mode: one run, tiny sizes. Checks the tables,
# results.json and results.md are well formed, that a crashing allocator, a
# failing or hanging workload and an allocator that hands out overlapping
# memory all show as FAILED with their reason, and that heaplab's column
# says "not built" when it is. Never asserts speed.
. "$(dirname "$0")/../../../lab/tests/tap.sh"

# tap.sh's SRC assumes lab/tests/; this test sits one level deeper.
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
R=$B/bench/runner
W=$B/bench/alloc
json_get() {	# FILE PYTHON-EXPRESSION-ON-d
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

test -x "$R"; ok $? "runner is built"
out=$("$R" --help); ok $? "--help exits 0"
like "$out" "^Usage: runner" "--help prints usage"

# Bad input: clear errors, no crash.
err=$("$R" 2>&1); is $? 2 "no workloads: exit 2"
like "$err" "no workloads given" "no workloads named"
err=$("$R" -n 0 "$W/churn" 2>&1); is $? 2 "-n 0: exit 2"
like "$err" "runs must be a whole number" "bad -n explained"
err=$("$R" -s abc "$W/churn" 2>&1); is $? 2 "-s abc: exit 2"
err=$("$R" -a glibc,nosuch "$W/churn" 2>&1); is $? 2 "unknown allocator: exit 2"
like "$err" "unknown allocator 'nosuch'" "unknown allocator named"
err=$("$R" -a glibc,glibc "$W/churn" 2>&1); is $? 2 "allocator twice: exit 2"
err=$("$R" -o "$TMP/x" /etc/passwd 2>&1); is $? 1 "non-executable workload: exit 1"
like "$err" "'/etc/passwd' is not an executable" "non-executable workload named"
err=$("$W/churn" -1 2>&1); is $? 2 "workload with a bad scale: exit 2"

# Every workload, tiny, under glibc and jemalloc, two rounds.
O=$TMP/out
"$R" -n 2 -s 0.01 --no-warmup -a glibc,jemalloc -o "$O" "$W"/* \
	>"$TMP/table" 2>"$TMP/progress"
ok $? "all workloads under glibc and jemalloc: exit 0"
table=$(cat "$TMP/table")
like "$table" "Wall time, median of 2 runs" "time table titled"
like "$table" "Peak RSS, median" "RSS table titled"
like "$table" $'\n''workload +glibc +jemalloc' "header names the allocators"
nwl=$(find "$W" -type f | wc -l)
rows=$(printf '%s\n' "$table" | sed -n '/^Wall time/,/^geomean/p' |
	grep -cE '^[a-z0-9-]+ +[0-9]+\.[0-9]{3} s +[0-9]+\.[0-9]{3} s [0-9]+\.[0-9]{2}x')
is "$rows" "$nwl" "one time row per workload, with a ratio"
like "$table" $'\n''geomean +1\.00 +[0-9]+\.[0-9]{2}x' "geometric mean row"
like "$table" $'\n''memreturn kept \(%\) +[0-9.]+ ' "memreturn's own RSS numbers are tabled"
like "$table" $'\n''  jemalloc: faster than glibc on [0-9]+ of '"$nwl"' workloads, peak RSS at most glibc.s on [0-9]+ of '"$nwl"'; time geomean [0-9.]+x glibc' \
	"summary line per allocator"
progress=$(cat "$TMP/progress")
like "$progress" "round 1/2 churn +glibc [0-9.]+s jemalloc" "round 1 runs glibc first"
like "$progress" "round 2/2 churn +jemalloc [0-9.]+s glibc" "round 2 rotates the order"
python3 -m json.tool "$O/results.json" >/dev/null; ok $? "results.json is valid JSON"
is "$(json_get "$O/results.json" 'len(d["workloads"])')" "$nwl" "JSON has every workload"
is "$(json_get "$O/results.json" 'sorted({c["status"] for w in d["workloads"] for c in w["results"].values()})')" \
	"['ok']" "JSON: every cell ok"
is "$(json_get "$O/results.json" 'all(len(c["runs_time_s"]) == 2 and c["time_s"] > 0 and c["maxrss_kib"] > 0 for w in d["workloads"] for c in w["results"].values())')" \
	"True" "JSON: two timed runs per cell, positive medians"
is "$(json_get "$O/results.json" '[w for w in d["workloads"] if w["name"] == "memreturn"][0]["results"]["glibc"]["metrics"]["kept"]["unit"]')" \
	"%" "JSON: memreturn's metrics"
is "$(json_get "$O/results.json" 'sorted(d["geomean"])')" "['jemalloc']" "JSON: geomean per allocator"
like "$(cat "$O/results.md")" $'\n''\| churn \| [0-9.]+ s \| [0-9.]+ s \([0-9.]+×\) \|' "results.md has the Markdown table"
is "$(json_get "$O/results.json" 'all(len(c["runs_cpu_s"]) == 2 and c["cpu_s"] >= 0 for w in d["workloads"] for c in w["results"].values())')" \
	"True" "JSON: CPU time per run"

# --only picks workloads by name; a name that is no workload is an error.
out=$("$R" --only larson,churn -n 1 -s 0.01 --no-warmup -a glibc -o "$TMP/only" "$W"/* 2>/dev/null)
ok $? "--only larson,churn: exit 0"
is "$(printf '%s\n' "$out" | grep -cE '^(larson|churn) ')" 4 "--only: both rows, in both tables"
is "$(printf '%s\n' "$out" | grep -cE '^(xmalloc|rptest) ')" 0 "--only: no other rows"
err=$("$R" --only churn,nosuch "$W"/* 2>&1); is $? 2 "--only with a typo: exit 2"
like "$err" "no workload named 'nosuch'" "--only names the typo"

# --from re-renders a results.json without running anything.
"$R" --from "$O/results.json" --markdown >"$TMP/again.md"
ok $? "--from results.json: exit 0"
cmp -s "$TMP/again.md" "$O/results.md"; ok $? "--from --markdown gives results.md again"
out=$("$R" --from "$O/results.json"); ok $? "--from prints the text tables"
is "$out" "$table" "the same tables as the run printed"
printf '%s\n' "$table" | grep -q "in every round"
is $? 1 "two rounds: no every-round count in the summary"

# Three rounds, rewritten: jemalloc faster than glibc in each on churn,
# slower in each on larson, one way then the other on the rest; its peak
# RSS larger in each on churn, smaller in each on larson and memreturn.
python3 - "$O/results.json" "$TMP/rounds.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for w in d["workloads"]:
    g, j = w["results"]["glibc"], w["results"]["jemalloc"]
    jt = {"churn": [0.5, 0.5, 0.5], "larson": [2.0, 2.0, 2.0]}.get(w["name"], [0.5, 2.0, 1.0])
    jr = {"churn": [1100] * 3, "larson": [900] * 3, "memreturn": [900] * 3}.get(w["name"], [900, 1100, 1000])
    for c, t, r in ((g, [1.0, 1.0, 1.0], [1000] * 3), (j, jt, jr)):
        c["runs_time_s"] = t
        c["runs_cpu_s"] = t
        c["runs_maxrss_kib"] = r
json.dump(d, open(sys.argv[2], "w"))
PY
out=$("$R" --from "$TMP/rounds.json"); ok $? "--from three rewritten rounds: exit 0"
like "$out" "jemalloc: faster than glibc on 1 of $nwl workloads.*; in every round faster on 1, slower on 1," \
	"the summary counts the workloads won, and lost, in every round"
like "$out" "jemalloc: .*peak RSS at most glibc's on $((nwl - 1)) of $nwl.*, peak RSS smaller on 2, larger on 1\$" \
	"and those where its peak RSS was smaller, and larger, in every round"

printf '{"heaplab_bench": 1, "runs": [1,' >"$TMP/bad.json"
err=$("$R" --from "$TMP/bad.json" 2>&1); is $? 1 "--from truncated JSON: exit 1"
like "$err" "not valid JSON \\(at byte [0-9]+" "truncated JSON: where it broke"
err=$("$R" --from /etc/hostname 2>&1); is $? 1 "--from a non-JSON file: exit 1"
err=$("$R" --from "$O/results.json" "$W/churn" 2>&1); is $? 2 "--from with workloads: exit 2"
out=$("$R" --markdown -n 1 -s 0.01 --no-warmup -a glibc -o "$O" "$W/churn" 2>/dev/null)
like "$out" $'\n''\|---\|---:\|' "--markdown prints Markdown"

# Failures are loud: a crashing allocator, a workload that exits non-zero, a
# hanging workload, an allocator that hands out the same block twice.
cat >"$TMP/crash.c" <<'C'
#include <stddef.h>
void *malloc(size_t n) { (void)n; *(volatile int *)0 = 1; return 0; }
C
cat >"$TMP/overlap.c" <<'C'
#include <stddef.h>
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
static char shared[4096] __attribute__((aligned(16)));
void *malloc(size_t n) { return n >= 64 && n <= 128 ? shared : __libc_malloc(n); }
void free(void *p) { if (p != (void *)shared) __libc_free(p); }
C
cc -shared -fPIC -o "$TMP/libcrash.so" "$TMP/crash.c"; ok $? "crashing allocator built"
cc -shared -fPIC -o "$TMP/liboverlap.so" "$TMP/overlap.c"; ok $? "overlapping allocator built"
# ld.so ignores a preload it cannot load and runs on glibc: not a pass.
echo junk >"$TMP/libjunk.so"
printf '#!/bin/sh\necho "boom: bad input" >&2\nexit 3\n' >"$TMP/exit3"
printf '#!/bin/sh\nsleep 30\n' >"$TMP/hang"
chmod +x "$TMP/exit3" "$TMP/hang"
start=$(date +%s)
"$R" -n 1 -s 0.01 -t 1 --no-warmup \
	-a "glibc,$TMP/libcrash.so,$TMP/liboverlap.so,$TMP/libjunk.so" \
	-o "$O" "$W/churn" "$TMP/exit3" "$TMP/hang" >"$TMP/table" 2>/dev/null
is $? 1 "a FAILED cell makes the runner exit 1"
table=$(cat "$TMP/table")
like "$table" $'\n''churn +[0-9.]+ s +FAILED \(SIGSEGV\) +FAILED \(exit 1\) +FAILED \(preload ignored\)' \
	"crash, overlap and an unloadable .so FAILED in the churn row"
like "$table" "churn under junk FAILED: preload ignored: .*libjunk.so.* cannot be preloaded" \
	"ld.so's complaint is the reason"
like "$table" $'\n''exit3 +FAILED \(exit 3\)' "a workload's exit status shows"
like "$table" $'\n''hang +FAILED \(timeout\)' "a hanging workload times out"
like "$table" "churn under crash FAILED: SIGSEGV" "the crash is explained under the table"
like "$table" "churn under overlap FAILED: exit 1: churn: block .* overwritten" "the workload's verification names the overlap"
like "$table" "exit3 under glibc FAILED: exit 3: boom: bad input" "the workload's last stderr line is the reason"
test $(($(date +%s) - start)) -lt 15; ok $? "the hang was cut short (4 cells, 1 s timeout)"
is "$(json_get "$O/results.json" '[w for w in d["workloads"] if w["name"] == "churn"][0]["results"]["crash"]["status"]')" \
	"FAILED" "JSON: the crash is FAILED"
like "$(json_get "$O/results.json" '[w for w in d["workloads"] if w["name"] == "churn"][0]["results"]["crash"]["reason"]')" \
	"^SIGSEGV" "JSON: with its reason"
like "$(json_get "$O/results.json" 'd["geomean"]["crash"]["time_ratio"]')" "^None$" "JSON: no geomean from failed cells"

# heaplab not built: its column says so and the rest still runs.
mkdir -p "$TMP/empty"
out=$(HEAPLAB_BUILD=$TMP/empty "$R" -n 1 -s 0.01 --no-warmup -a glibc,heaplab -o "$O" "$W/churn" 2>/dev/null)
ok $? "a missing heaplab is not an error"
like "$out" $'\n''churn +[0-9.]+ s +not built' "heaplab column: not built"
is "$(json_get "$O/results.json" 'd["allocators"][1]["status"]')" "not built" "JSON: heaplab not built"
if [ -f "$B/libheaplab.so" ]; then
	out=$("$R" -n 1 -s 0.01 --no-warmup -a glibc,heaplab -o "$O" "$W/churn" 2>/dev/null)
	like "$out" $'\n''churn +[0-9.]+ s +[0-9.]+ s' "heaplab column measured when built"
fi

# The real programs that are installed run under the harness (tiny scale).
real=
for p in python3 gcc sqlite3 git; do
	command -v $p >/dev/null && real="$real $ROOT/allocator/bench/real/$p.sh"
done
# shellcheck disable=SC2086
"$R" -n 1 -s 0.01 -a glibc -o "$O" $real >"$TMP/real.out" 2>"$TMP/err"
rc=$?
ok $rc "real programs run: $real"
[ $rc -eq 0 ] || diag "$(tail -n 5 "$TMP/real.out" "$TMP/err")"

done_testing
