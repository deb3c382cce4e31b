#!/bin/bash
# memtrace.bpf.c on its own (through mtdump): the kernel side records the
# same brk/mmap/munmap as strace, follows the tree, marks the loader.
. "$(dirname "$0")/../../../lab/tests/tap.sh"
SRC=$(cd "$(dirname "$0")/../../.." && pwd)	# tap.sh assumes AREA/tests/

T=$B/tests/ebpf/mt_target
D=$B/tests/ebpf/mtdump
if [ ! -x "$D" ]; then
	skip "heaplab built without the ebpf engine (no kernel BTF or bpftool)"
	done_testing
fi
# Loading BPF needs root here; as root, a load failure is a failure.
if [ "$(id -u)" != 0 ]; then
	skip "BPF needs root (CAP_BPF, CAP_PERFMON) and this is uid $(id -u)"
	done_testing
fi
out=$("$D" true 2>&1 >/dev/null); is $? 0 "the BPF programs load and attach"
[ $? -eq 0 ] || { diag "$out"; done_testing; }

# "name a0 .. aN = ret", hex without 0x, only the syscall's own arguments.
norm_dump() {
	awk '$4 == "brk" { print $4, $5, "=", $12 }
	     $4 == "munmap" { print $4, $5, $6, "=", $12 }
	     $4 == "mmap" { print $4, $5, $6, $7, $8, $9, $10, "=", $12 }'
}
norm_strace() {
	grep -E '^[0-9]+ +(brk|mmap|munmap)\(' | sed -E 's/^[0-9]+ +//; s/0x//g; s/[(),]/ /g; s/ +/ /g; s/ $//'
}

cd "$B/tests/ebpf" || exit 1
setarch -R "$D" ./mt_target basic >"$TMP/dump" 2>"$TMP/dump.err"; is $? 0 "mtdump basic runs"
like "$(cat "$TMP/dump.err")" "^drops 0$" "no record dropped"
like "$(cat "$TMP/dump.err")" "^pending 0$" "no memory syscall left pending"
# Built here, for this kernel: CO-RE uses the build's cut of its BTF (the
# notes, with the build id, match), not the 5.5 MB of /sys/kernel/btf.
like "$(cat "$TMP/dump.err")" "^btf embedded$" "CO-RE types from the embedded cut of this kernel's BTF"
HEAPLAB_EBPF_BTF=kernel setarch -R "$D" ./mt_target basic >"$TMP/dumpk" 2>"$TMP/dumpk.err"
is $? 0 "mtdump basic runs with the kernel's own BTF"
like "$(cat "$TMP/dumpk.err")" "^btf kernel$" "HEAPLAB_EBPF_BTF=kernel: CO-RE reads /sys/kernel/btf/vmlinux"
# Every record the same: the syscalls' own args, returns, ip and flags (the
# "loader" cause), and the other records but for times and pids.
same_btf() {
	awk '$4 == "brk" || $4 == "mmap" || $4 == "munmap" || $4 == "mprotect" {
		n = $4 == "brk" ? 1 : $4 == "mmap" ? 6 : $4 == "munmap" ? 2 : 3
		s = $4; for (i = 0; i < n; i++) s = s " " $(5 + i)
		print s, $11, $12, $13, $14; next }
	     { $1 = $2 = $3 = ""; print }' "$1"
}
same_btf "$TMP/dump" >"$TMP/d1"
same_btf "$TMP/dumpk" >"$TMP/d2"
diff "$TMP/d1" "$TMP/d2" >"$TMP/dd" && test "$(wc -l <"$TMP/d1")" -ge 10
ok $? "the same records with either BTF"
[ -s "$TMP/dd" ] && sed 's/^/# /' "$TMP/dd" | head -10
setarch -R strace -f -qq -e raw=all -e trace=brk,mmap,munmap -o "$TMP/st" ./mt_target basic
norm_dump <"$TMP/dump" >"$TMP/a"
norm_strace <"$TMP/st" >"$TMP/b"
diff "$TMP/a" "$TMP/b" >"$TMP/diff"; ok $? "brk/mmap/munmap match strace (args and returns)"
[ -s "$TMP/diff" ] && sed 's/^/# /' "$TMP/diff" | head -20
test "$(wc -l <"$TMP/a")" -ge 10; ok $? "the basic target made at least 10 of them"

# The start-up mmaps come from ld.so; the program's own brk does not.
first_mmap=$(grep -m1 ' mmap ' "$TMP/dump")
like "$first_mmap" "flags=1$" "the first mmap is marked as made by the loader"
last_brk=$(grep ' brk ' "$TMP/dump" | tail -1)
like "$last_brk" "flags=0$" "malloc's brk is not the loader's"

# fork+exec: the child and its exec are followed.
"$D" ./mt_target forkexec >"$TMP/fe" 2>/dev/null; is $? 0 "mtdump forkexec runs"
parent=$(awk '{ print $2; exit }' "$TMP/fe")
child=$(awk '$4 == "fork" { print $5; exit }' "$TMP/fe")
test -n "$child" && test "$child" != "$parent"; ok $? "the fork names a new process"
grep -q "^[0-9]* $child $child exec .*mt_target" "$TMP/fe"; ok $? "the child's exec is seen"
n=$(awk -v c="$child" '$2 == c && $4 == "brk"' "$TMP/fe" | wc -l)
test "$n" -ge 2; ok $? "the child's brk calls are seen ($n)"
grep -q "^[0-9]* $parent $parent exit code=0 group=1" "$TMP/fe"; ok $? "the parent's exit is seen"

# Threads: every thread's mmaps are seen, under one pid.
"$D" ./mt_target threads 4 >"$TMP/th" 2>"$TMP/th.err"; is $? 0 "mtdump threads runs"
like "$(cat "$TMP/th.err")" "^pending 0$" "threads: no memory syscall left pending"
nt=$(awk '$4 == "mmap" && $6 == "4a000" { print $3 }' "$TMP/th" | sort -u | wc -l)
is "$nt" 5 "malloc(300000) mmaps seen from all 5 threads"
nm=$(awk '$4 == "mmap" && $6 == "4a000"' "$TMP/th" | wc -l)
is "$nm" 80 "all 80 of them"
nf=$(awk '$4 == "fork" && $7 == "thread=1"' "$TMP/th" | wc -l)
is "$nf" 4 "4 thread creations seen"

# Memory syscalls of many threads at once, each kept on its own thread
# (task storage): every one of them comes out, with its return.
"$D" ./mt_target memsys 16 together >"$TMP/ms" 2>"$TMP/ms.err"; is $? 0 "mtdump memsys 16 together runs"
like "$(cat "$TMP/ms.err")" "^pending 0$" "memsys: no memory syscall left pending"
like "$(cat "$TMP/ms.err")" "^drops 0$" "memsys: no record dropped"
# Per thread (the 16 besides main): mremap twice (one -EFAULT), mprotect of
# a page, madvise of a page twice (one -EINVAL), munmap twice (one
# -EINVAL), mmap(1 << 62) -ENOMEM.
got=$(awk '$2 != $3 && ($4 == "mremap" || ($4 == "mmap" && $6 == "4000000000000000") ||
	($4 ~ /^(mprotect|madvise)$/ && $6 == "1000") || ($4 == "munmap" && $6 ~ /^[18]000$/)) {
	n[$3 " " $4 " " ($12 ~ /^ffffffffffff/ ? "err" : "ok")]++ }
	END { for (k in n) print k, n[k] }' "$TMP/ms" |
	awk '{ c[$2 " " $3 " " $4]++ } END { for (k in c) print k, c[k] }' | sort | tr '\n' ';')
is "$got" "madvise err 1 16;madvise ok 1 16;mmap err 1 16;mprotect ok 1 16;mremap err 1 16;mremap ok 1 16;munmap err 1 16;munmap ok 1 16;" \
	"memsys: each of the 16 threads' 8 calls seen, failures with -errno"

# An untraced process is never recorded: only the target's pids appear.
pids=$(awk '{ print $2 }' "$TMP/th" | sort -u | wc -l)
is "$pids" 1 "only the traced process appears"

# USDT: heaplab probes in an ELF object are attached and their arguments read.
"$D" -u ./mt_target ./mt_target usdt >"$TMP/us" 2>"$TMP/us.err"; is $? 0 "mtdump -u runs"
like "$(cat "$TMP/us.err")" "^usdt 3$" "the 3 heaplab probes of mt_target attached"
grep -q ' usdt 1 2 1000 1000$' "$TMP/us"; ok $? "heap_grow(0x1000, 4096) seen"
grep -q ' usdt 4 2 2000 2000$' "$TMP/us"; ok $? "trim(0x2000, 8192) seen"
grep -q ' usdt 5 2 20000 40000$' "$TMP/us"; ok $? "threshold(131072, 262144) seen"

# Uprobes on malloc/free of libc: the target's malloc(100) and its free.
libc=$(ldd ./mt_target | awk '$1 == "libc.so.6" { print $3 }')
"$D" -c "$libc" ./mt_target usdt >"$TMP/up" 2>"$TMP/up.err"; is $? 0 "mtdump -c runs"
like "$(cat "$TMP/up.err")" "^calls 2$" "malloc and free of libc attached"
ptr=$(awk '$4 == "call" && $5 == 1 && $6 == 64 { print $8 }' "$TMP/up")
test -n "$ptr"; ok $? "malloc(100) seen with its result"
grep -q " call 2 $ptr = " "$TMP/up"; ok $? "free of that pointer seen"
# Uprobes are filtered too: a libc malloc outside the tree is not recorded.
n=$(awk '{ print $2 }' "$TMP/up" | sort -u | wc -l)
is "$n" 1 "only the traced process's calls"

done_testing
