#!/bin/bash
# heaplab trace against strace, the reference: with ASLR off and the same
# LD_PRELOAD (the tap, with a ring of the same kind on the same fd) given to
# the target only, every brk/mmap/munmap (and mremap/madvise/mprotect too)
# from the target's execve on must match strace's -- arguments and return
# values -- thread by thread.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
TAPSO=$(readlink -f "$B/libheaplab-tap.so")

compare() {
	local name=$1
	shift
	setarch -R "$HEAPLAB" trace -e ptrace -o "$TMP/$name.hl" -- "$@" 2>/dev/null
	local rc=$?
	setarch -R "$T/mkring" strace -f -qq -o "$TMP/$name.st" \
		-e trace=brk,mmap,munmap,mremap,madvise,mprotect \
		-E LD_PRELOAD="$TAPSO" -E HEAPLAB_TAP_FD=3 "$@"
	is $rc $? "$name: same exit status under heaplab and strace"
	python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/$name.hl" "$TMP/$name.st" >"$TMP/$name.cmp"
	ok $? "$name: brk/mmap/munmap match strace's, thread by thread" ||
		sed 's/^/# /' "$TMP/$name.cmp"
	grep '^# compared' "$TMP/$name.cmp"
	python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/$name.hl" "$TMP/$name.st" \
		brk,mmap,munmap,mremap,madvise,mprotect >"$TMP/$name.cmp"
	ok $? "$name: all six memory syscalls match strace's too" ||
		sed 's/^/# /' "$TMP/$name.cmp"
}

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

done_testing
