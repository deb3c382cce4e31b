#!/bin/bash
# heaplab arenas: glibc's arenas for threads, checked against its tunables.
. "$(dirname "$0")/../../lab/tests/tap.sh"

ncpu=$(nproc)

"$HEAPLAB" arenas -t $((16 * ncpu)) --json >"$TMP/g.json"; ok $? "arenas --json under glibc"
is "$(field "$TMP/g.json" 'd["arena_cap"]')" $((8 * ncpu)) \
	"glibc caps arenas at 8 per CPU ($((8 * ncpu)) here)"
is "$(field "$TMP/g.json" '[r["arenas"] for r in d["runs"]][:3]')" "[1, 2, 4]" \
	"1, 2, 4 threads get 1, 2, 4 heaps of their own"
is "$(field "$TMP/g.json" 'set(h["reserved"] for r in d["runs"] for h in r["heaps"] if not h["brk_heap"])')" \
	"{67108864}" "every non-main heap reserves 64 MiB (HEAP_MAX_SIZE)"
is "$(field "$TMP/g.json" 'd["heap_alignment"] >= 67108864')" True \
	"non-main heaps are aligned to 64 MiB"
is "$(field "$TMP/g.json" 'all(r["malloc_info_heaps"] >= r["arenas"] for r in d["runs"])')" True \
	"glibc's own malloc_info counts at least the heaps seen"

# The trace shows how a thread's heap is born: 2 x 64 MiB reserved
# PROT_NONE, trimmed to 64 MiB aligned, a little committed.
is "$(field "$TMP/g.json" '(d["thread_heap_birth"]["reserved"], d["thread_heap_birth"]["reserved_prot"], d["thread_heap_birth"]["kept"])')" \
	"(134217728, 0, 67108864)" "a thread heap: 128 MiB reserved PROT_NONE, 64 MiB kept"
is "$(field "$TMP/g.json" 'd["thread_heap_birth"]["kept_alignment"] >= 67108864 and 0 < d["thread_heap_birth"]["committed"] < 1048576')" \
	True "kept on a 64 MiB boundary, under 1 MiB committed by mprotect"

GLIBC_TUNABLES=glibc.malloc.arena_max=3 "$HEAPLAB" arenas -t 8 --json >"$TMP/a3.json"
is "$(field "$TMP/a3.json" 'd["arena_cap"]')" 3 "arena_max=3 is seen as a cap of 3"

out=$("$HEAPLAB" experiment arenas -t 4); ok $? "experiment arenas (text)"
# At least 64: threads racing for new heaps can each reserve 128 MiB
# before any trims, and then every start may share a higher bit.
align=$(printf '%s\n' "$out" | sed -n 's/.*aligned to at least \([0-9]*\) MiB.*/\1/p')
[ "${align:-0}" -ge 64 ]; ok $? "text gives the alignment, 64 MiB or more" ||
	printf '%s\n' "$out" | sed 's/^/# /'
"$HEAPLAB" arenas -a mimalloc -t 4 --json >"$TMP/mi.json"; ok $? "arenas -a mimalloc"
is "$(field "$TMP/mi.json" 'd["runs"][0]["malloc_info_heaps"]')" None \
	"no malloc_info count is claimed for mimalloc"
err=$("$HEAPLAB" arenas -t 0 2>&1); is $? 2 "-t 0: exit 2"
like "$err" "from 1 to 256" "-t range explained"
done_testing
