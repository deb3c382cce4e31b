#!/bin/bash
# Where the kernel has no BTF or bpftool, clang or libbpf-dev is missing,
# heaplab is built without the ebpf engine (HL_NO_EBPF, probes/ebpf/build.mk)
# and falls back to ptrace. This machine builds the engine, so that variant
# is compiled here on its own, warnings as errors: it once failed to build
# (two functions defined twice) with nobody noticing.
. "$(dirname "$0")/../../../lab/tests/tap.sh"

CC=${CC:-cc}
for f in ebpf engine run; do
	err=$("$CC" -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$SRC" \
		-DHEAPLAB_VERSION='"test"' -DHL_NO_EBPF='"no BTF (test)"' \
		-c "$SRC/probes/ebpf/$f.c" -o "$TMP/$f.o" 2>&1)
	ok $? "probes/ebpf/$f.c builds without the ebpf engine, no warning" ||
		printf '%s\n' "$err" | sed 's/^/# /'
done
nm "$TMP/ebpf.o" | grep -q " T hl_ebpf_open$"
ok $? "the stub hl_ebpf_open is there to say why the engine is missing"
done_testing
