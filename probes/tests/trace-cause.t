#!/bin/bash
# heaplab trace: the jsonl contract and causality under glibc.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
J=$TMP/cause.jsonl

"$HEAPLAB" trace -f jsonl -o "$J" -- "$T/cause" 2>"$TMP/err"
is $? 0 "trace of the cause target exits with its status"
$CHK "$J" valid; ok $? "jsonl: one object per line, seq 1..N, trace_end last"
$CHK "$J" complete true; ok $? "trace_end says complete"
$CHK "$J" dropped eq 0; ok $? "no tap record dropped"
$CHK "$J" mmap-by-malloc 200000; ok $? "malloc(200000) -> an mmap caused by it"
$CHK "$J" brk-by-malloc; ok $? "a small malloc that grows the break -> a brk caused by it"
$CHK "$J" munmap-by-free; ok $? "free of the big block -> a munmap caused by it"
$CHK "$J" mremap-by-realloc; ok $? "realloc of the big block -> an mremap caused by it"
$CHK "$J" loader 5; ok $? "the loader's start-up mmaps have cause \"loader\""
$CHK "$J" tap; ok $? "the tap's ring mapping has cause \"tap\""
$CHK "$J" containment; ok $? "every call cause contains its syscall (same tid, enter<=sys<=exit)"
$CHK "$J" order; ok $? "events of the thread in start-time order"
$CHK "$J" count malloc eq 65; ok $? "all 65 mallocs recorded"
$CHK "$J" count free eq 65; ok $? "all 65 frees recorded"
$CHK "$J" count exec eq 1; ok $? "one exec event"
$CHK "$J" exit 0; ok $? "an exit event with status 0"
like "$(cat "$TMP/err")" "engine auto: using (ebpf|ptrace)" "auto says which engine it uses"

# Every function of the malloc family goes through the tap.
F=$TMP/family.jsonl
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$F" -- "$T/family"
is $? 0 "family: exit 0"
$CHK "$F" call malloc size=1111; ok $? "family: malloc(1111)"
$CHK "$F" call calloc nmemb=3 size=333; ok $? "family: calloc(3, 333)"
$CHK "$F" call realloc size=2222; ok $? "family: realloc(p, 2222)"
$CHK "$F" call reallocarray nmemb=4 size=1000; ok $? "family: reallocarray(p, 4, 1000)"
$CHK "$F" call memalign alignment=64 size=640; ok $? "family: memalign(64, 640)"
$CHK "$F" call posix_memalign alignment=128 size=1280; ok $? "family: posix_memalign(&p, 128, 1280) = 0 with *p"
$CHK "$F" call aligned_alloc alignment=256 size=2560; ok $? "family: aligned_alloc(256, 2560)"
$CHK "$F" call valloc size=4444; ok $? "family: valloc(4444)"
$CHK "$F" call pvalloc size=5555; ok $? "family: pvalloc(5555)"
$CHK "$F" call free; ok $? "family: free"
$CHK "$F" order; ok $? "family: the realloc inside reallocarray comes after it (start order)"
"$HEAPLAB" trace -e ptrace -f jsonl -o "$F" -- "$T/family"
grep -q '"kind":"mmap","args":{"addr":0,"length":70368744181760,[^}]*},"ret":-12,"errno":"ENOMEM","cause":{"seq":[0-9]*,"kind":"malloc","args":{"size":70368744177664}}' "$F"
ok $? "family: malloc(64 TiB) -> a failed mmap, ret -12, errno ENOMEM, caused by it"
"$HEAPLAB" trace -e ptrace -o "$TMP/family.txt" -- "$T/family"
like "$(cat "$TMP/family.txt")" "mmap\(NULL, 70368744181760, .*\) = -1 ENOMEM \(Cannot allocate memory\) <- #[0-9]+ malloc\(70368744177664\)" \
	"family, text: the failed mmap as strace writes it"
like "$(cat "$TMP/family.txt")" "malloc\(70368744177664\) = NULL" "family, text: malloc returned NULL"
"$HEAPLAB" trace -e ptrace --events calls -o "$TMP/family.txt" -- "$T/family"
like "$(cat "$TMP/family.txt")" "posix_memalign\(0x[0-9a-f]+, 128, 1280\) = 0 \[\*memptr=0x[0-9a-f]+\]" \
	"family, text: posix_memalign shows what it stored"

# The same run as text: the cause inline.
"$HEAPLAB" trace -e ptrace -o "$TMP/cause.txt" -- "$T/cause"
is $? 0 "text trace exits 0"
out=$(cat "$TMP/cause.txt")
like "$out" "#([0-9]+) malloc\(200000\) = 0x[0-9a-f]+" "text: the malloc line"
like "$out" "mmap\(NULL, 200704, PROT_READ\|PROT_WRITE, MAP_PRIVATE\|MAP_ANONYMOUS, -1, 0\) = 0x[0-9a-f]+ <- #[0-9]+ malloc\(200000\)" \
	"text: mmap(...) <- #N malloc(200000)"
like "$out" "brk\(0x[0-9a-f]+\) = 0x[0-9a-f]+ <- #[0-9]+ malloc\(4000\)" "text: brk <- malloc(4000)"
like "$out" "<- loader" "text: loader cause"
like "$out" "MAP_SHARED, 3, 0\) = 0x[0-9a-f]+ <- tap" "text: tap cause"
like "$(tail -1 "$TMP/cause.txt")" "^# trace end: complete" "text: trace end line"

# The ptrace engine's code classes: the loader's code from its own ELF
# headers (AT_BASE), the tap's from one read of /proc/PID/maps; a static
# program has no loader.
"$HEAPLAB" trace -e ptrace -f jsonl -o "$J" -- "$T/cause"
$CHK "$J" loader 5; ok $? "ptrace: the loader's start-up mmaps have cause \"loader\""
$CHK "$J" tap; ok $? "ptrace: the tap's ring mapping has cause \"tap\""
$CHK "$J" mmap-by-malloc 200000; ok $? "ptrace: malloc(200000) -> an mmap caused by it"
"$HEAPLAB" trace -e ptrace --events syscalls -f jsonl -o "$J" -- "$T/cause"
$CHK "$J" loader 5; ok $? "ptrace, no tap: the loader's mmaps have cause \"loader\""
n=$(grep -c '"kind":"mmap".*"cause":null' "$J")
[ "$n" -ge 1 ]; ok $? "ptrace, no tap: the program's own mmaps have no cause ($n)"
"$HEAPLAB" trace -e ptrace --events syscalls -f jsonl -o "$J" -- \
	"$B/tests/ebpf/mt_static" basic
is $? 0 "ptrace, a static program: exit 0"
n=$(grep -c '"kind":"\(brk\|mmap\)"' "$J")
[ "$n" -ge 1 ]; ok $? "ptrace, a static program: its brk/mmap traced ($n)"
! grep -q '"cause":"loader"' "$J"; ok $? "ptrace, a static program: no loader cause"

# --events: syscalls only (no tap, no calls) and calls only (no syscalls).
"$HEAPLAB" trace -e ptrace --events syscalls -f jsonl -o "$J" -- "$T/cause"
is $? 0 "--events syscalls exits 0"
$CHK "$J" count malloc eq 0; ok $? "--events syscalls: no calls"
$CHK "$J" count mmap ge 8; ok $? "--events syscalls: mmaps"
! grep -q '"cause":"tap"' "$J"; ok $? "--events syscalls: no tap preloaded"
"$HEAPLAB" trace -e ptrace --events calls -f jsonl -o "$J" -- "$T/cause"
is $? 0 "--events calls exits 0"
$CHK "$J" count malloc eq 65; ok $? "--events calls: the mallocs"
$CHK "$J" count mmap eq 0; ok $? "--events calls: no syscalls"
$CHK "$J" valid; ok $? "--events calls: valid jsonl"

# Another allocator behind the tap: jemalloc's calls and syscalls, causes
# still containment-correct.
"$HEAPLAB" trace -e ptrace -a jemalloc -f jsonl -o "$J" -- "$T/cause"
is $? 0 "-a jemalloc: exits 0"
$CHK "$J" count malloc ge 65; ok $? "-a jemalloc: the mallocs (and its own)"
$CHK "$J" containment; ok $? "-a jemalloc: causes contain their syscalls"
if [ -f "$B/libheaplab.so" ]; then
	"$HEAPLAB" trace -e ptrace -a heaplab -f jsonl -o "$J" -- "$T/cause"
	is $? 0 "-a heaplab: exits 0"
	$CHK "$J" count malloc eq 65; ok $? "-a heaplab: all mallocs"
	$CHK "$J" valid; ok $? "-a heaplab: valid jsonl"
fi

done_testing
