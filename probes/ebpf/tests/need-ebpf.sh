# need-ebpf.sh — sourced by the ebpf engine's tests after tap.sh: need_ebpf
# ends the test with a skip that says why where the engine truly cannot
# run (not root, or heaplab built without it), and returns otherwise.
need_ebpf() {
	if [ "$(id -u)" != 0 ]; then
		skip "the ebpf engine needs root (CAP_BPF, CAP_PERFMON); this is uid $(id -u)"
		done_testing
	fi
	if [ ! -x "$B/tests/ebpf/mtdump" ]; then
		skip "heaplab was built without the ebpf engine (no kernel BTF, bpftool or clang)"
		done_testing
	fi
}
