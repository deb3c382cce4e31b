#!/bin/bash
# `make install PREFIX=...`: the installed heaplab finds its files from its
# own location, not from the source tree.
. "$(dirname "$0")/tap.sh"

make -s -C "$SRC" BUILD="$B" SAN="${SAN:-}" install PREFIX="$TMP/prefix" >"$TMP/log" 2>&1
ok $? "make install PREFIX=$TMP/prefix" || sed 's/^/# /' "$TMP/log"
test -x "$TMP/prefix/bin/heaplab"; ok $? "bin/heaplab installed"

# Run it from somewhere unrelated, with the build tree out of reach.
cd / || exit 1
out=$("$TMP/prefix/bin/heaplab" --version); ok $? "installed heaplab runs"
for so in $(cd "$B" && ls libheaplab.so phases/*.so 2>/dev/null); do
	test -f "$TMP/prefix/lib/heaplab/$so"; ok $? "lib/heaplab/$so installed"
done
if [ -f "$TMP/prefix/lib/heaplab/libheaplab.so" ]; then
	out=$("$TMP/prefix/bin/heaplab" run -a heaplab -- sh -c 'echo "$LD_PRELOAD"')
	is "$out" "$TMP/prefix/lib/heaplab/libheaplab.so" "installed heaplab preloads its own libheaplab.so"
fi
out=$("$TMP/prefix/bin/heaplab" run -a glibc -- echo hi); is "$out" "hi" "installed heaplab runs a command"
# Everything it runs is found under the prefix: the tap, the targets.
"$TMP/prefix/bin/heaplab" trace -e ptrace -o "$TMP/t.txt" -- true
ok $? "installed heaplab traces with its own tap"
"$TMP/prefix/bin/heaplab" bins --json >"$TMP/bins.json"
ok $? "installed heaplab runs an experiment with its installed targets"
for e in $("$TMP/prefix/bin/heaplab" experiment --list | awk '{print $1}'); do
	"$TMP/prefix/bin/heaplab" experiment "$e" --help >/dev/null; ok $? "installed: experiment $e --help"
done
done_testing
