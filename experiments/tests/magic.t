#!/bin/bash
# heaplab experiment magic: the header fields found before a pointer, and
# the alignment of thousands of pointers under every allocator.
. "$(dirname "$0")/../../lab/tests/tap.sh"

FIELD_PRELUDE='a = by(d["allocators"])'

"$HEAPLAB" experiment magic --json >"$TMP/m.json"; ok $? "magic --json"
for p in phase2 phase3 phase4 phase5 phase6; do
	is "$(field "$TMP/m.json" "(a['$p']['header']['state_used'], a['$p']['header']['state_freed'], a['$p']['header']['walk_magic_intact'])")" \
		"(1, 2, True)" "$p: 0xDEADBEEF found before p, state 1 turned 2 by free, the walk agrees"
done
is "$(field "$TMP/m.json" "a['phase2']['header']['magic_offset']")" -4 "phase2: the magic is the header's last 4 bytes (p-4)"
is "$(field "$TMP/m.json" "a['phase5']['header']['magic_offset']")" -20 "phase5: magic at p-20, the next pointer and padding after it"
is "$(field "$TMP/m.json" "(a['phase1']['header']['magic_offset'], a['phase1']['header']['size_offset'])")" \
	"(None, -8)" "phase1 keeps only a size word, right before p"
is "$(field "$TMP/m.json" "(a['phase5']['header']['chunk_size'], a['phase5']['header']['size_flags'])")" "(48, 1)" \
	"phase5 packs PREV_INUSE into the size word"
# glibc's chunk: malloc_usable_size(40) is 40, the size field says 48|PREV_INUSE.
is "$(field "$TMP/m.json" "(a['glibc']['header']['size_offset'], a['glibc']['header']['chunk_size'], a['glibc']['header']['size_flags'], a['glibc']['header']['magic_offset'])")" \
	"(-8, 48, 1, None)" "glibc: chunk size 48 with PREV_INUSE at p-8, no magic"

# No misaligned pointer under glibc, heaplab and every phase.
for al in glibc heaplab phase1 phase2 phase3 phase4 phase5 phase6; do
	is "$(field "$TMP/m.json" "(a['$al']['alignment']['misaligned'], a['$al']['alignment']['checked'] > 4000)")" \
		"(0, True)" "$al: no misaligned pointer in thousands"
done
# Where an allocator does misalign, the pointer it names really is misaligned.
python3 - "$TMP/m.json" >"$TMP/bad" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["allocators"]:
    f = r["alignment"].get("first_misaligned")
    if f:
        call, size, align, ptr = f.split()
        print(0 if int(ptr, 16) % int(align) else 1,
              f"{r['allocator']}: {call}({align}, {size}) = {ptr} is misaligned")
PY
while read -r rc what; do ok "$rc" "$what"; done <"$TMP/bad"

# Independently: every pointer the probe got, as heaplab trace recorded it.
for al in glibc phase3; do
	"$HEAPLAB" trace -e ptrace --events calls -a $al -f jsonl -o "$TMP/al.jsonl" -- \
		"$B/experiments/targets/phaseprobe" align >/dev/null
	got=$(python3 - "$TMP/al.jsonl" <<'PY'
import json, sys
n = bad = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    k, a, r = e["kind"], e.get("args", {}), e.get("ret")
    if k in ("malloc", "calloc", "realloc"):
        size = a["size"] * a.get("nmemb", 1)
        want = 16 if size >= 16 else 1 << (size.bit_length() - 1)
    elif k in ("memalign", "aligned_alloc"):
        want = a["alignment"]
    elif k == "posix_memalign":
        want, r = a["alignment"], a["result"]
    elif k in ("valloc", "pvalloc"):
        want = 4096
    else:
        continue
    n += 1
    bad += bool(r % want)
print(n > 4000, bad)
PY
)
	is "$got" "True 0" "$al: the traced pointers (over 4000) are all aligned"
done

# The same check by hand: a pointer is compared with what the test computes.
out=$("$HEAPLAB" experiment magic -a phase3); ok $? "magic -a phase3 (text)"
like "$out" "finds 0xDEADBEEF at p-20" "the text names where the magic is"
err=$("$HEAPLAB" experiment magic -a nope 2>&1); is $? 2 "unknown allocator: exit 2"
done_testing
