#!/bin/bash
# HEAPLAB_OPTIONS: good options take effect, bad ones are reported once on
# stderr and ignored, never a crash; dump_at_exit prints the heap dump.
. "$(dirname "$0")/../../lab/tests/tap.sh"

LIB=$B/libheaplab.so
run() { LD_PRELOAD=$LIB HEAPLAB_OPTIONS=$1 perl -e "${2:-1}"; }

err=$(run mmap_threshold=256k,trim_threshold=1m,top_pad=0,dump_at_exit=1 2>&1 >/dev/null)
ok $? "good options: the program runs"
like "$err" "thresholds: mmap 262144 trim 1048576 top_pad 0" "mmap_threshold, trim_threshold, top_pad take effect"
like "$err" "^heaplab heap dump, pid [0-9]+" "dump_at_exit=1 prints the heap dump at exit"
like "$err" "arena 0 \(main\): heap [0-9]+ bytes" "... with the arena"
like "$err" "0x[0-9a-f]{16}  0x[0-9a-f]{16} +[0-9]+  in-use" "... its chunks"
like "$err" "calls: malloc [1-9][0-9]* free [0-9]+" "... and the counters"

err=$(LD_PRELOAD=$LIB HEAPLAB_OPTIONS=dump_at_exit=1 ls / 2>&1 >/dev/null)
like "$err" "^heaplab heap dump, pid [0-9]+" "dump_at_exit=1 works even for ls, which closes stderr before exiting"

err=$(run mmap_threshold=0x100000,top_pad=4K,dump_at_exit=1 2>&1 >/dev/null)
like "$err" "thresholds: mmap 1048576 trim [0-9]+ top_pad 4096" "hex values and suffixes"

out=$(run bogus=1,mmap_threshold=lots,check=2,dump_at_exit,mmap_threshold=64m,,top_pad=1k 'print "ran\n"' 2>"$TMP/err")
rc=$?
is "$rc" 0 "bad options: the program still runs, exit 0"
is "$out" "ran" "... with its normal output"
err=$(cat "$TMP/err")
like "$err" "^heaplab: HEAPLAB_OPTIONS: unknown option 'bogus=1' \(ignored\)" "unknown option reported"
like "$err" "bad value in 'mmap_threshold=lots' \(ignored\)" "bad number reported"
like "$err" "bad value in 'check=2' \(ignored\)" "out-of-range boolean reported"
like "$err" "missing value in 'dump_at_exit' \(ignored\)" "missing value reported"
like "$err" "bad value in 'mmap_threshold=64m' \(ignored\)" "a threshold above 32 MiB reported"
is "$(wc -l < "$TMP/err")" 5 "each bad item reported once, nothing else printed"

err=$(LD_PRELOAD=$LIB HEAPLAB_OPTIONS=bogus perl -e 'if (fork) { wait } else { my @a = (1) x 100000; }' 2>&1)
is "$(printf '%s\n' "$err" | grep -c bogus)" 1 "reported once even when the program forks"
err=$(LD_PRELOAD=$LIB HEAPLAB_OPTIONS=bogus /bin/true 2>&1)
like "$err" "unknown option 'bogus'" "reported even by a program that never calls malloc"

# mmap_cache: freed mappings kept for reuse (64 MiB by default), 0 = none.
big='for (1..3) { my $s = "x" x (40 << 20); }'
err=$(run dump_at_exit=1 "$big" 2>&1 >/dev/null)
like "$err" "mmap cache: 1 mappings \([0-9]+ bytes, at most 67108864\)" \
	"by default a freed 40 MiB mapping is kept in the mmap cache"
err=$(run dump_at_exit=1,mmap_cache=0 "$big" 2>&1 >/dev/null)
like "$err" "mmap cache: 0 mappings \(0 bytes, at most 0\), reused 0" "mmap_cache=0: none is kept"

# populate: small carves from top fault the next pages in ahead with
# madvise(MADV_POPULATE_WRITE); populate=0 leaves every page to its first touch.
small='my @a = map { "x" x 200 } 1..20000;'
err=$(run dump_at_exit=1 "$small" 2>&1 >/dev/null)
like "$err" "kernel: sbrk [0-9]+ mmap [0-9]+ munmap [0-9]+ mremap [0-9]+ madvise [1-9][0-9]* " \
	"by default, a heap of small blocks is populated ahead with madvise"
err=$(run dump_at_exit=1,populate=0 "$small" 2>&1 >/dev/null)
like "$err" "kernel: sbrk [0-9]+ mmap [0-9]+ munmap [0-9]+ mremap [0-9]+ madvise 0 " \
	"populate=0: no madvise"

# borrow: a miss that the arena would carve from top takes a larger cached
# chunk (threads borrow exits with the bits of the checks that failed; bit 1:
# not borrowed); borrow=0 carves instead.
HEAPLAB_OPTIONS= "$B/tests/allocator/threads" borrow
is "$?" 0 "by default a miss borrows the next larger cached chunk"
HEAPLAB_OPTIONS=borrow=0 "$B/tests/allocator/threads" borrow
is "$(($? & 1))" 1 "borrow=0: it carves top instead"

# arena_max bounds the arenas that four live threads spread over.
n=$(HEAPLAB_OPTIONS= "$B/tests/allocator/threads" arenas)
is "$n" 5 "four threads and main get an arena each"
n=$(HEAPLAB_OPTIONS=arena_max=2 "$B/tests/allocator/threads" arenas)
is "$n" 2 "with arena_max=2 they share two"

# tcache_count fixes every thread-cache bin; by default a bin grows with
# the program's batches.
n=$(HEAPLAB_OPTIONS= "$B/tests/allocator/threads" batches)
is "$n" 100 "by default, batches of 100 frees of one size end up all cached"
n=$(HEAPLAB_OPTIONS=tcache_count=7 "$B/tests/allocator/threads" batches)
is "$n" 7 "with tcache_count=7, 7 of them (glibc's count)"
n=$(HEAPLAB_OPTIONS=tcache_count=30 "$B/tests/allocator/threads" batches)
is "$n" 30 "with tcache_count=30, 30"

# Options that change the algorithm keep programs correct.
want=$(python3 -c 'import json; print(len(json.dumps([str(i) * (i % 9) for i in range(60000)])))')
for o in check=1 tcache_count=0 tcache_count=1000 max_fast=0 max_fast=160 perturb=165 mmap_threshold=4096 top_pad=0,trim_threshold=0 mmap_max=0; do
	got=$(LD_PRELOAD=$LIB HEAPLAB_OPTIONS=$o python3 -c 'import json; print(len(json.dumps([str(i) * (i % 9) for i in range(60000)])))' 2>&1)
	is "$got" "$want" "python3 with $o gives the same output"
done

done_testing
