#!/bin/bash
# heaplab trace against strace, the reference: with ASLR off and the same
# LD_PRELOAD (the tap, with a ring of the same kind on the same fd) given to
# the target only, every brk/mmap/munmap (and mremap/madvise/mprotect too)
# from the target's execve on must match strace's -- arguments and return
# values -- thread by thread.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
TAPSO=$(readlink -f "$B/libheaplab-tap.so")

. "$SRC/probes/tests/strace_compare.sh"
compare() { strace_compare ptrace "$@"; }

compare cause "$T/cause"
compare family "$T/family"
compare threads "$T/threads" 4
compare fork-exec "$T/forkexec" fork
compare vfork-exec "$T/forkexec" vfork
# A program we did not write, with a shell in front of it.
compare sh-ls sh -c 'ls / >/dev/null; exit 3'

# The comparison itself must be able to fail: a different target differs.
setarch -R "$T/mkring" strace -f -qq -o "$TMP/other.st" -e trace=brk,mmap,munmap,mprotect \
	-E LD_PRELOAD="$TAPSO" -E HEAPLAB_TAP_FD=3 "$T/threads" 2
python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/threads.hl" "$TMP/other.st" >/dev/null
is $? 1 "a trace of another run does not match (the comparison can fail)"

# What earns a pair another run: the same calls at other addresses (exit 2),
# as when a page one run had and the other had not (another tracer's
# [uprobes] page) moves the next mmap; anything else is a difference (1).
last=$(grep -n '^[0-9]* *mmap(NULL, [0-9]*, PROT_READ, MAP_PRIVATE, 4, 0) = 0x' \
	"$TMP/sh-ls.st" | tail -1 | cut -d: -f1)
test -n "$last"; ok $? "sh-ls: strace's run has a file mapping to move"
sed -E "${last}s/= 0x([0-9a-f]*)000\$/= 0x\1fff000/" "$TMP/sh-ls.st" >"$TMP/moved.st"
python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/sh-ls.hl" "$TMP/moved.st" >"$TMP/moved.cmp"
is $? 2 "an mmap placed elsewhere: the same calls but for their addresses (2)"
grep -q '^# the same calls but for their addresses' "$TMP/moved.cmp"
ok $? "... and it says so"
sed -E "${last}s/mmap\(NULL, ([0-9]+),/mmap(NULL, 1\1,/" "$TMP/sh-ls.st" >"$TMP/longer.st"
python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/sh-ls.hl" "$TMP/longer.st" >/dev/null
is $? 1 "an mmap of another length: a difference (1), not a placement"

done_testing
