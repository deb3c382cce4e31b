#!/bin/bash
# The heaplab front end: help, version, dispatch, errors, `heaplab run`.
. "$(dirname "$0")/tap.sh"

out=$("$HEAPLAB" --help); ok $? "--help exits 0"
like "$out" "^Usage: heaplab" "--help prints usage"
like "$out" "run +run a command" "--help lists run"

out=$("$HEAPLAB" --version); ok $? "--version exits 0"
like "$out" "^heaplab [0-9]+\.[0-9]+" "--version prints a version"

out=$("$HEAPLAB" help run); ok $? "help run exits 0"
like "$out" "Usage: heaplab run" "help run shows run's usage"

"$HEAPLAB" >/dev/null 2>&1; is $? 2 "no command: exit 2"
err=$("$HEAPLAB" frobnicate 2>&1); is $? 2 "unknown command: exit 2"
like "$err" "unknown command 'frobnicate'" "unknown command named"
err=$("$HEAPLAB" --frob 2>&1); is $? 2 "unknown top-level option: exit 2"
like "$err" "unknown option '--frob'" "unknown option named"
err=$("$HEAPLAB" help nope 2>&1); is $? 2 "help of an unknown command: exit 2"
err=$("$HEAPLAB" run -x -- true 2>&1); is $? 2 "run -x: exit 2"
like "$err" "unknown option '-x'" "run names the bad option"
err=$("$HEAPLAB" run -a 2>&1); is $? 2 "run -a without a value: exit 2"
like "$err" "needs an argument" "run says -a needs an argument"
err=$("$HEAPLAB" run 2>&1); is $? 2 "run without a command: exit 2"

# Exit statuses pass through; a signal death is 128+N.
"$HEAPLAB" run -- true; is $? 0 "run true: 0"
"$HEAPLAB" run -- sh -c 'exit 7'; is $? 7 "run exit 7: 7"
"$HEAPLAB" run -- sh -c 'kill -SEGV $$'; is $? 139 "run SIGSEGV: 139"
"$HEAPLAB" run -- sh -c 'kill -KILL $$'; is $? 137 "run SIGKILL: 137"
err=$("$HEAPLAB" run -- /nonexistent/prog 2>&1); is $? 127 "missing program: 127"
like "$err" "cannot run '/nonexistent/prog'" "missing program named"
err=$("$HEAPLAB" run -- /etc/passwd 2>&1); is $? 126 "non-executable program: 126"

# Allocator names.
err=$("$HEAPLAB" run -a nosuch -- true 2>&1); is $? 2 "unknown allocator: exit 2"
like "$err" "unknown allocator 'nosuch'" "unknown allocator named"
err=$("$HEAPLAB" run -a /no/such.so -- true 2>&1); is $? 2 "missing .so: exit 2"
like "$err" "allocator '/no/such.so'" "missing .so named"
out=$("$HEAPLAB" run -a glibc -- sh -c 'echo "[$LD_PRELOAD]"'); is "$out" "[]" "glibc preloads nothing"
out=$(LD_PRELOAD= "$HEAPLAB" run -a /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 -- sh -c 'echo "$LD_PRELOAD"')
is "$out" "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" "a path is preloaded as given"
for a in jemalloc mimalloc tcmalloc; do
	out=$("$HEAPLAB" run -a $a -- sh -c 'echo "$LD_PRELOAD"' 2>&1)
	ok $? "run -a $a works (installed by make deps)"
	like "$out" "lib${a%malloc}" "run -a $a preloads it"
done
if [ -f "$B/libheaplab.so" ]; then
	out=$("$HEAPLAB" run -a heaplab -- sh -c 'echo "$LD_PRELOAD"')
	is "$out" "$B/libheaplab.so" "run -a heaplab preloads build/libheaplab.so"
fi
# A built allocator that is missing is named, with the file looked for.
mkdir -p "$TMP/bin" && cp "$HEAPLAB" "$TMP/bin/heaplab"
err=$("$TMP/bin/heaplab" run -a phase3 -- true 2>&1); is $? 2 "phase3 not built: exit 2"
like "$err" "allocator 'phase3' is not built" "missing phase3 named"

done_testing
