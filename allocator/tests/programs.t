#!/bin/bash
# Real programs with libheaplab.so preloaded print exactly what they print
# with glibc's malloc.
. "$(dirname "$0")/../../lab/tests/tap.sh"

LIB=$B/libheaplab.so
test -f "$LIB"; ok $? "libheaplab.so is built"

# same NAME CMD...: stdout and exit status identical with and without heaplab.
same() {
	local name=$1 want got rc_want rc_got
	shift
	want=$("$@" 2>&1); rc_want=$?
	got=$(LD_PRELOAD=$LIB "$@" 2>&1); rc_got=$?
	if [ "$want" = "$got" ] && [ $rc_want = $rc_got ]; then
		ok 0 "$name: identical output under libheaplab ($(printf '%s' "$got" | wc -l) lines)"
	else
		ok 1 "$name: identical output under libheaplab"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -5 | sed 's/^/# /'
	fi
}

# The allocator really is in use: its counters are reachable through dlsym.
out=$(LD_PRELOAD=$LIB python3 -c '
import ctypes
lib = ctypes.CDLL(None)
print(hasattr(lib, "heaplab_stats"))')
is "$out" "True" "python3 under LD_PRELOAD finds heaplab_stats with dlsym"

same "ls -lR /usr/share" ls -lR /usr/share
same "ls -l /usr/bin" ls -l /usr/bin
same "sort -r /etc/services" sort -r /etc/services

seq 1 200000 | awk '{ printf "%08x %s line-%d\n", ($1 * 2654435761) % 4294967296, $1 % 977, $1 }' > "$TMP/big.txt"
same "sort of 200000 generated lines" sort "$TMP/big.txt"
same "sort -k2,2n -k1 (keys)" sort -k2,2n -k1 "$TMP/big.txt"

same "python3 json" python3 -c 'import json; print(len(json.dumps(list(range(100000)))))'
same "python3 workload" python3 -c '
import collections, re
d = {}
for i in range(200000):
    d[str(i)] = [i] * (i % 7)
c = collections.Counter(len(v) for v in d.values())
s = sorted(d, key=lambda k: (len(d[k]), k))[:5]
words = re.findall(r"\w+", " ".join("w%d" % (i * 7919 % 1000) for i in range(50000)))
print(sorted(c.items()), s, len(set(words)), sum(map(len, d.values())))
'
same "perl workload" perl -e '
my %h; $h{$_} = "x" x ($_ % 300) for 1 .. 100000;
my @k = sort { length($h{$a}) <=> length($h{$b}) || $a <=> $b } keys %h;
my $s = join(",", map { $_ * 3 } grep { $_ % 11 == 0 } @k[0 .. 5000]);
print scalar(@k), " ", length($s), " ", substr($s, 0, 60), "\n";'

# Threaded programs: xz with two threads, python3 threads, sort in parallel.
head -c 3000000 /dev/urandom | base64 > "$TMP/data.txt"
same "xz -T2 compress" sh -c "xz -T2 --block-size=500KiB -3 -c '$TMP/data.txt' | xz -d -T2 | cksum"
same "python3 threads" python3 -c '
import threading, hashlib
out = [None] * 4
def work(i):
    d = {}
    for j in range(40000):
        d[j] = hashlib.sha256(b"%d-%d" % (i, j)).hexdigest() * (j % 3)
    out[i] = sum(len(v) for v in d.values())
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(out)'
same "sort --parallel=2" sort --parallel=2 -S 8M "$TMP/big.txt"

# gcc compiling a C file: the driver, cc1 and as all run on heaplab.
same "gcc -O2 -S of a C file" gcc -O2 -S -o - "$SRC/allocator/arena.c" -I"$SRC"
LD_PRELOAD=$LIB gcc -O2 -o "$TMP/hello" -x c - <<'C'
#include <stdio.h>
int main(void) { puts("hello from a heaplab-built program"); return 0; }
C
ok $? "gcc compiles and links a program under libheaplab"
is "$("$TMP/hello")" "hello from a heaplab-built program" "the program it built runs"

done_testing
