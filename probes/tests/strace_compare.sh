# strace_compare.sh — sourced by the strace-equality tests (trace-strace.t,
# ebpf/tests/trace-ebpf.t) after lab/tests/tap.sh.
#
#   strace_compare ENGINE NAME CMD [ARGS]
#
# traces CMD with `heaplab trace -e ENGINE`, then under strace (ASLR off, the
# same LD_PRELOAD and an identical ring on fd 3, given to the target only),
# and checks: the same exit status; the same brk/mmap/munmap, then all six
# memory syscalls, thread by thread (strace_cmp.py).  Needs $HEAPLAB, $T (the
# probe targets), $TAPSO, $SRC and $TMP.
#
# Why a pair may be run again.  With ASLR off the two runs lay out memory
# identically unless something outside them changes the address space.  One
# thing here does: a uprobe anywhere on the machine (another `heaplab trace
# --uprobes`, bpftrace, perf) is system-wide, and the first time a process
# hits one (a uretprobe, or an instruction stepped out of line) the kernel
# maps an "[uprobes]" page into it, at the top of the free space since the
# stack holds its usual spot; the next small mmap then lands a page lower.
# That is how `sh -c 'ls /'` once failed here under load: its locale
# mmaps one page off in one run of the pair, when another test's --uprobes
# trace started or ended between the two (reproduced by running one in the
# background between them: 0x7ffff7fb3000 against 0x7ffff7fb2000).  So when
# the two runs differ in nothing but their addresses (strace_cmp.py exits 2)
# the pair runs again, up to 4 times, and the first difference is shown as
# a diagnostic; a difference in anything else (a call missing, another
# size, flag or result) fails at once, and so do 4 placement differences
# in a row.
_sc_kinds6=brk,mmap,munmap,mremap,madvise,mprotect

_sc_pair() {	# ENGINE NAME CMD...: one traced run, one strace run
	local engine=$1 name=$2
	shift 2
	setarch -R "$HEAPLAB" trace -e "$engine" -o "$TMP/$name.hl" -- "$@" 2>/dev/null
	_sc_rc=$?
	setarch -R "$T/mkring" strace -f -qq -o "$TMP/$name.st" \
		-e trace=$_sc_kinds6 \
		-E LD_PRELOAD="$TAPSO" -E HEAPLAB_TAP_FD=3 "$@"
	_sc_strc=$?
	python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/$name.hl" "$TMP/$name.st" \
		>"$TMP/$name.cmp"
	_sc_c3=$?
	python3 "$SRC/probes/tests/strace_cmp.py" "$TMP/$name.hl" "$TMP/$name.st" \
		$_sc_kinds6 >"$TMP/$name.cmp6"
	_sc_c6=$?
}

strace_compare() {
	local engine=$1 name=$2 try
	shift 2
	for try in 1 2 3 4; do
		_sc_pair "$engine" "$name" "$@"
		[ $_sc_rc = $_sc_strc ] || break
		# Only a placement difference in either comparison, and no
		# other one, earns another run.
		[ $_sc_c3 = 2 ] || [ $_sc_c6 = 2 ] || break
		[ $_sc_c3 = 1 ] || [ $_sc_c6 = 1 ] && break
		diag "$name: run $try of the pair differs only in addresses:"
		sed 's/^#/#  /' "$TMP/$name.cmp6"
	done
	is $_sc_rc $_sc_strc "$name: same exit status under heaplab -e $engine and strace"
	ok $((_sc_c3 != 0)) "$name: brk/mmap/munmap match strace's, thread by thread" ||
		sed 's/^/# /' "$TMP/$name.cmp"
	grep '^# compared' "$TMP/$name.cmp"
	ok $((_sc_c6 != 0)) "$name: all six memory syscalls match strace's too" ||
		sed 's/^/# /' "$TMP/$name.cmp6"
}
