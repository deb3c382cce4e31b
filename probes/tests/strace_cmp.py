#!/usr/bin/env python3
# strace_cmp.py HEAPLAB_TEXT STRACE_OUT [KINDS] — compares the KINDS
# (default brk,mmap,munmap) syscalls of a `heaplab trace -f text` run with a
# `strace -f -o` run of the same target, thread by thread: threads are paired
# in the order they first appear; each thread's calls (arguments and return
# values, as text) must be equal and in the same order.  Prints a diff and
# exits 1 on any difference; exits 2 when the calls are the same but for
# their addresses (every hex number), i.e. the two runs' address spaces were
# laid out differently: see strace_compare.sh for what does that.
import re
import sys

kinds = (sys.argv[3] if len(sys.argv) > 3 else "brk,mmap,munmap").split(",")
call_re = re.compile(r"^(%s)\(" % "|".join(kinds))


def norm(s):
    return re.sub(r"\s+=\s+", " = ", s.strip())


def heaplab(path):
    threads = {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# "):
            continue
        tid = "first"
        m = re.match(r"^\[pid (\d+)(?:/(\d+))?\] ", line)
        if m:
            tid = m.group(2) or m.group(1)
            line = line[m.end():]
        m = re.match(r"^#\d+ ", line)
        if not m:
            continue
        line = line[m.end():]
        if not call_re.match(line):
            continue
        line = re.sub(r" <- .*$", "", line)
        # The first thread's lines carry no prefix until a second appears.
        threads.setdefault(tid, []).append(norm(line))
    if "first" in threads:
        # The first thread's lines carry no prefix until a second thread
        # appears; its later lines carry its tid: the one prefixed tid that
        # no fork or clone created.
        text = open(path).read()
        born = set(re.findall(r"\+\+\+ (?:fork: child|vfork: child|new thread) (\d+)", text))
        first = threads.pop("first")
        root = None
        for m in re.finditer(r"^\[pid (\d+)(?:/(\d+))?\] ", text, re.M):
            t = m.group(2) or m.group(1)
            if t not in born:
                root = t
                break
        rest = threads
        threads = {"first": first + (rest.pop(root, []) if root else [])}
        threads.update(rest)
    return list(threads.values())


def strace(path):
    threads, pending = {}, {}
    for line in open(path):
        m = re.match(r"^(\d+)\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        tid, rest = m.group(1), m.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r"^<\.\.\. (\w+) resumed>\s*(.*)$", rest)
        if r:
            rest = pending.pop(tid, "") + r.group(2)
        if call_re.match(rest):
            threads.setdefault(tid, []).append(norm(rest))
    return list(threads.values())


def masked(threads):
    return [[re.sub(r"0x[0-9a-f]+", "0x_", c) for c in t] for t in threads]


def uretprobes(path):
    # strace shows the uretprobe trampoline's syscall (335 on x86-64, which
    # strace 6.1 does not know) whatever -e trace says.
    return sum(1 for l in open(path) if re.search(r"\bsyscall_0x14f\(", l))


h, s = heaplab(sys.argv[1]), strace(sys.argv[2])
bad = 0
if len(h) != len(s):
    print("# threads: heaplab %d, strace %d" % (len(h), len(s)))
    bad = 1
for i, (a, b) in enumerate(zip(h, s)):
    if a != b:
        bad = 1
        print("# thread %d differs (heaplab %d calls, strace %d)" % (i, len(a), len(b)))
        for j in range(max(len(a), len(b))):
            x = a[j] if j < len(a) else "-"
            y = b[j] if j < len(b) else "-"
            if x != y:
                print("#  heaplab: %s\n#  strace:  %s" % (x, y))
                break
print("# compared %d threads, %d calls" % (len(h), sum(map(len, h))))
if bad and masked(h) == masked(s):
    n = uretprobes(sys.argv[2])
    print("# the same calls but for their addresses: the address spaces differ"
          + (" (strace's run hit %d uretprobes: another tracer's)" % n if n else ""))
    bad = 2
sys.exit(bad)
