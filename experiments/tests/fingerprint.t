#!/bin/bash
# heaplab fingerprint: one column per installed allocator, the cells agreeing
# with the experiments they come from and with outside measurements.
. "$(dirname "$0")/../../lab/tests/tap.sh"

col() { field "$TMP/f.json" "{a['allocator']: a for a in d['allocators']}[\"$1\"][\"$2\"]"; }

"$HEAPLAB" fingerprint --json >"$TMP/f.json"; ok $? "fingerprint --json"
is "$(field "$TMP/f.json" '[a["allocator"] for a in d["allocators"]]')" \
	"['glibc', 'heaplab', 'jemalloc', 'mimalloc', 'tcmalloc']" \
	"a column for glibc, heaplab and every installed allocator"
is "$(col glibc mmap_threshold)" \
	"$("$HEAPLAB" threshold --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["allocators"][0]["threshold"])')" \
	"glibc's threshold is the one heaplab threshold finds"
is "$(col glibc thread_cache_24)" 7 "glibc's per-thread cache holds 7 (tcache_count)"
GLIBC_TUNABLES=glibc.malloc.tcache_count=2 "$HEAPLAB" fingerprint -a glibc --json >"$TMP/t2.json"
is "$(field "$TMP/t2.json" 'd["allocators"][0]["thread_cache_24"]')" 2 "tcache_count=2 is seen as 2"
is "$(field "$TMP/f.json" 'd["allocators"][0]["break_move"] > 0')" True "glibc moves the break"
is "$(col mimalloc break_move)" 0 "mimalloc does not"
is "$(field "$TMP/f.json" 'all(a["rss_after_free_kib"] <= a["rss_peak_kib"] for a in d["allocators"])')" \
	True "no allocator holds more after freeing than at its peak"
is "$(field "$TMP/f.json" 'all(isinstance(a["syscalls_per_100k"], int) and a["syscalls_per_100k"] >= 0 for a in d["allocators"])')" \
	True "syscall counts are numbers"
is "$(field "$TMP/f.json" '[r["best"] == min((a for a in d["allocators"] if a[r["key"]] is not None), key=lambda a: a[r["key"]])["allocator"] for r in d["rows"] if r["lower_is_better"]]')" \
	"[True, True, True]" "the best of each lower-is-better row is its minimum"
# glibc gives memory back: its RSS after freeing is near where it started.
is "$(field "$TMP/f.json" 'd["allocators"][0]["rss_after_free_kib"] < d["allocators"][0]["rss_peak_kib"] / 4')" \
	True "glibc returns most of 64 MiB of freed small blocks (trim)"

"$HEAPLAB" fingerprint -a glibc -a jemalloc --json >"$TMP/two.json"
is "$(field "$TMP/two.json" '[a["allocator"] for a in d["allocators"]]')" "['glibc', 'jemalloc']" \
	"-a is repeatable and chooses the columns"
out=$("$HEAPLAB" experiment fingerprint -a glibc -a mimalloc); ok $? "experiment fingerprint (text)"
like "$out" "mmap threshold" "text has the threshold row"
err=$("$HEAPLAB" fingerprint -a nope 2>&1); is $? 2 "unknown allocator: exit 2"
done_testing
