#!/bin/bash
# heaplab trace: options, help, exit statuses, and bad input.
. "$(dirname "$0")/../../lab/tests/tap.sh"

T=$B/probes/targets
CHK="python3 $SRC/probes/tests/trace_check.py"
tr() { timeout 60 "$HEAPLAB" trace -e ptrace "$@"; }

out=$("$HEAPLAB" --help); like "$out" "trace +trace a command" "--help lists trace"
out=$("$HEAPLAB" help trace); ok $? "help trace exits 0"
like "$out" "Usage: heaplab trace \[-e ebpf\|ptrace\|auto\]" "help trace: usage line"
like "$out" "trace_end" "help trace documents the trace_end record"
like "$out" "\"cause\" \(null, \"loader\", \"tap\"" "help trace documents cause"

# Exit statuses pass through.
tr -o /dev/null -- sh -c 'exit 7'; is $? 7 "exit 7 passes through"
tr -o /dev/null -- sh -c 'kill -SEGV $$'; is $? 139 "SIGSEGV: 139"
tr -o /dev/null -- sh -c 'kill -KILL $$'; is $? 137 "SIGKILL: 137"
tr -o /dev/null -- true; is $? 0 "true: 0"

# Bad input: clear message, no hang.
err=$(tr 2>&1); is $? 2 "no command: 2"
like "$err" "no command given" "no command: said"
err=$(tr -- /nonexistent/prog 2>&1); is $? 127 "missing program: 127"
like "$err" "cannot run '/nonexistent/prog': No such file" "missing program: named"
err=$(tr -- no-such-command-heaplab 2>&1); is $? 127 "command not in PATH: 127"
like "$err" "'no-such-command-heaplab': command not found" "command not in PATH: said"
err=$(tr -- /etc/passwd 2>&1); is $? 126 "non-executable program: 126"
like "$err" "not executable" "non-executable: said"
err=$(tr -- /tmp 2>&1); is $? 126 "a directory: 126"
err=$(tr -a nosuch -- true 2>&1); is $? 2 "unknown allocator: 2"
like "$err" "unknown allocator 'nosuch'" "unknown allocator: named"
err=$(tr -o "$TMP/no/such/dir/t" -- true 2>&1); is $? 1 "unwritable -o: 1"
like "$err" "cannot write the trace to '$TMP/no/such/dir/t': No such file" "unwritable -o: named"
err=$(tr -o "$TMP" -- true 2>&1); is $? 1 "-o a directory: 1"
like "$err" "Is a directory" "-o a directory: said"
# -e ebpf runs as root; elsewhere it fails and says why (probes/ebpf/tests).
err=$("$HEAPLAB" trace -e auto -o /dev/null -- true 2>&1); is $? 0 "-e auto works"
like "$err" "engine auto: using (ebpf|ptrace \(ebpf: .+\))" "-e auto: says which engine, and why not ebpf"
err=$("$HEAPLAB" trace -e frob -- true 2>&1); is $? 2 "unknown engine: 2"
err=$(tr -f xml -- true 2>&1); is $? 2 "unknown format: 2"
like "$err" "unknown format 'xml'" "unknown format: named"
err=$(tr --events some -- true 2>&1); is $? 2 "unknown event set: 2"
err=$(tr -b 1000 -- true 2>&1); is $? 2 "-b not a power of two: 2"
err=$(tr -x -- true 2>&1); is $? 2 "unknown option: 2"
like "$err" "unknown option '-x'" "unknown option: named"

# A syscall of another ABI (int 0x80) is not the filter's business.
tr -o /dev/null -- "$T/abi32"; is $? 0 "int 0x80 syscalls run untraced, the target is not killed"

# A heaplab whose tap library is missing says so, and still traces syscalls.
mkdir -p "$TMP/bin" && cp "$HEAPLAB" "$TMP/bin/heaplab"
err=$("$TMP/bin/heaplab" trace -e ptrace -- true 2>&1); is $? 1 "tap not built: 1"
like "$err" "the call tap is not built \($TMP/bin/libheaplab-tap.so is missing\)" "tap not built: names the file"
"$TMP/bin/heaplab" trace -e ptrace --events syscalls -o /dev/null -- true
is $? 0 "tap not built: --events syscalls still works"

# Installed layout (PREFIX/bin/heaplab, PREFIX/lib/heaplab/): the tap is
# found there, from anywhere.
mkdir -p "$TMP/p/bin" "$TMP/p/lib/heaplab"
cp "$HEAPLAB" "$TMP/p/bin/heaplab" && cp "$B/libheaplab-tap.so" "$TMP/p/lib/heaplab/"
(cd / && "$TMP/p/bin/heaplab" trace -e ptrace -f jsonl -o "$TMP/inst.jsonl" -- "$T/cause")
is $? 0 "installed heaplab traces"
$CHK "$TMP/inst.jsonl" count malloc eq 65; ok $? "installed: the tap from lib/heaplab records the calls"
grep -q "\"cause\":\"tap\"" "$TMP/inst.jsonl"; ok $? "installed: the installed tap's mappings have cause tap"

# Output places: -o - is stdout; the default is stderr, apart from CMD's stdout.
out=$(tr -f jsonl -o - -- "$T/cause" 2>/dev/null)
like "$(printf '%s\n' "$out" | tail -1)" '"kind":"trace_end"' "-o -: the trace on stdout"
out=$(tr -- sh -c 'echo target-output' 2>"$TMP/err")
is "$out" "target-output" "default: stdout is the target's alone"
like "$(tail -1 "$TMP/err")" "^# trace end: complete" "default: the trace on stderr"
# The target writing to stdout does not disturb a jsonl file.
tr -f jsonl -o "$TMP/t.jsonl" -- sh -c 'echo hi; exit 4' >/dev/null
is $? 4 "jsonl with a chatty target: its status"
$CHK "$TMP/t.jsonl" valid; ok $? "jsonl with a chatty target: valid"
# A reader that goes away does not kill the target.
tr -o - -- sh -c 'sleep 0.2; exit 6' 2>/dev/null | head -c 1 >/dev/null
is "${PIPESTATUS[0]}" 6 "closed output pipe: the target still runs to its end"

# A program that does not load the tap (statically linked): said, not a
# trace that silently looks like a program without calls.
ST=$B/tests/ebpf/mt_static
err=$(tr -o /dev/null -- "$ST" basic 2>&1); is $? 0 "a static program: traced, exit 0"
like "$err" "no traced process loaded the call tap \(statically linked" \
	"a static program: no calls recorded, said"
err=$(tr -o /dev/null -- "$T/cause" 2>&1)
is "$err" "" "a dynamic program: nothing said"
err=$(tr --events syscalls -o /dev/null -- "$ST" basic 2>&1)
is "$err" "" "--events syscalls: no tap, nothing said"
done_testing
