#!/usr/bin/env python3
# trace_check.py JSONL CHECK [ARG...] — one check of a `heaplab trace -f
# jsonl` file; exits 0 when it holds, else prints why (as TAP comments) and
# exits 1.  Checks:
#   valid               every line is a JSON object; seq runs 1..N; the last
#                       line is trace_end; required fields present
#   complete BOOL       trace_end's complete is BOOL (true/false)
#   dropped OP N        trace_end's dropped compared with N (eq, gt)
#   mmap-by-malloc SIZE an mmap caused by malloc(SIZE), which returned a
#                       pointer inside that mapping
#   brk-by-malloc       a brk that grows the break, caused by a malloc
#   munmap-by-free      a munmap caused by a free of a pointer inside it
#   mremap-by-realloc   an mremap caused by a realloc of a pointer inside
#                       the old mapping, which returned one inside the new
#   loader MIN          at least MIN mmaps caused by "loader", libc's text
#                       (PROT_EXEC file mapping) among them
#   tap                 the tap's ring mapping (MAP_SHARED) has cause "tap"
#   containment         every call-caused syscall lies within its call, on
#                       the same thread, and names an earlier seq
#   accounted N         calls recorded + calls dropped == N (every call
#                       of the target is either in the trace or counted)
#   order               on each thread, events are in start-time order
#                       (nested calls too: the outer call comes first)
#   count KIND OP N     number of KIND events compared with N (eq, ge)
#   threads-calls N     N+1 threads made malloc calls (N threads + main)
#   procs N             events come from N distinct pids
#   exec-paths P...     the exec events' paths end with P..., in order
#   exit S              some exit event has ret S
#   call KIND K=V...    a KIND event whose args have K=V (numbers) and
#                       whose ret is a pointer (ret=0 for posix_memalign)
#
# trace_check.py JSONL -m 'CHECK [ARG...]'... — several checks on one read
# of the file (for a few hundred thousand events the reading is most of a
# check's time): each failing check's reasons, named, as TAP comments, then
# one line of statuses in the order given ("0 1 0", 0: it holds); exits 0.
import json
import sys

MAP_SHARED, MAP_FIXED, PROT_EXEC = 1, 0x10, 4
CALLS = ("malloc", "free", "calloc", "realloc", "reallocarray", "memalign",
         "posix_memalign", "aligned_alloc", "valloc", "pvalloc")


def load(path):
    evs = []
    for i, line in enumerate(open(path), 1):
        try:
            evs.append(json.loads(line))
        except ValueError as e:
            fail("line %d is not JSON (%s): %r" % (i, e, line[:200]))
    return evs


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


def events(evs):
    return [e for e in evs if e["kind"] != "trace_end"]


def check_valid(evs):
    if not evs:
        fail("empty trace")
    if evs[-1]["kind"] != "trace_end":
        fail("last line is not trace_end: %r" % evs[-1])
    for i, e in enumerate(evs, 1):
        if e.get("seq") != i:
            fail("seq %r at line %d" % (e.get("seq"), i))
        if e["kind"] == "trace_end":
            if i != len(evs):
                fail("trace_end before the last line")
            continue
        for k in ("ts_ns", "pid", "tid", "kind", "args", "ret", "cause"):
            if k not in e:
                fail("line %d has no %s: %r" % (i, k, e))
        for k, v in e["args"].items():
            if k != "path" and not isinstance(v, int):
                fail("line %d: args.%s is not a number" % (i, k))


def by_seq(evs):
    return {e["seq"]: e for e in evs}


def caused_by(e, kind):
    c = e["cause"]
    return isinstance(c, dict) and c["kind"] == kind


def run(evs, check, args):
    ev = events(evs)
    seqs = by_seq(ev)
    end = evs[-1] if evs and evs[-1]["kind"] == "trace_end" else {}
    if check == "valid":
        check_valid(evs)
    elif check == "complete":
        want = args[0] == "true"
        if end.get("complete") is not want:
            fail("trace_end: %r" % end)
    elif check == "dropped":
        n, want = end.get("dropped", -1), int(args[1])
        if not (n == want if args[0] == "eq" else n > want):
            fail("dropped %r, want %s %d" % (n, args[0], want))
    elif check == "mmap-by-malloc":
        size = int(args[0])
        for e in ev:
            if e["kind"] == "mmap" and caused_by(e, "malloc") and \
                    e["cause"]["args"]["size"] == size:
                call = seqs.get(e["cause"]["seq"])
                if call and e["ret"] <= call["ret"] < e["ret"] + e["args"]["length"]:
                    return
                fail("mmap %r: its malloc returned outside it: %r" % (e, call))
        fail("no mmap caused by malloc(%d)" % size)
    elif check == "brk-by-malloc":
        for e in ev:
            if e["kind"] == "brk" and e["args"]["addr"] and \
                    e["ret"] == e["args"]["addr"] and caused_by(e, "malloc"):
                return
        fail("no growing brk caused by a malloc")
    elif check == "munmap-by-free":
        for e in ev:
            if e["kind"] == "munmap" and caused_by(e, "free"):
                p = e["cause"]["args"]["ptr"]
                if e["args"]["addr"] <= p < e["args"]["addr"] + e["args"]["length"]:
                    return
        fail("no munmap caused by a free inside it")
    elif check == "mremap-by-realloc":
        for e in ev:
            if e["kind"] == "mremap" and caused_by(e, "realloc"):
                a = e["args"]
                call = seqs.get(e["cause"]["seq"])
                if call and a["old_address"] <= call["args"]["ptr"] < a["old_address"] + a["old_size"] \
                        and e["ret"] <= call["ret"] < e["ret"] + a["new_size"]:
                    return
        fail("no mremap caused by a realloc")
    elif check == "loader":
        lm = [e for e in ev if e["kind"] == "mmap" and e["cause"] == "loader"]
        if len(lm) < int(args[0]):
            fail("%d mmaps by the loader" % len(lm))
        if not any(e["args"]["prot"] & PROT_EXEC and e["args"]["fd"] >= 0 for e in lm):
            fail("no executable file mapping by the loader")
        first_call = min([e["seq"] for e in ev if e["kind"] in ("malloc", "calloc")] or [0])
        early = [e for e in ev if e["kind"] == "mmap" and e["cause"] is None and e["seq"] < first_call]
        if early:
            fail("mmaps before the first call without a cause: %r" % early[:2])
    elif check == "tap":
        t = [e for e in ev if e["kind"] == "mmap" and e["args"]["flags"] & 3 == MAP_SHARED]
        if not t or any(e["cause"] != "tap" for e in t):
            fail("ring mappings: %r" % t)
    elif check == "containment":
        n = 0
        for e in ev:
            c = e["cause"]
            if not isinstance(c, dict):
                continue
            call = seqs.get(c["seq"])
            if not call:
                fail("cause seq %r not found: %r" % (c["seq"], e))
            if call["seq"] >= e["seq"] or call["tid"] != e["tid"] or \
                    call["kind"] != c["kind"] or call["args"] != c["args"]:
                fail("bad cause: %r for %r" % (call, e))
            if not call["ts_ns"] <= e["ts_ns"] <= e["end_ns"] <= call["end_ns"]:
                fail("syscall outside its call: %r %r" % (call, e))
            n += 1
        if n == 0:
            fail("no call-caused syscalls")
    elif check == "accounted":
        calls = sum(1 for e in ev if e["kind"] in CALLS)
        if calls + end.get("dropped", 0) != int(args[0]):
            fail("%d calls + %d dropped != %s" % (calls, end.get("dropped", 0), args[0]))
    elif check == "order":
        last = {}
        for e in ev:
            if e["ts_ns"] < last.get(e["tid"], (0, None))[0]:
                fail("out of order on tid %d: %r after %r" % (e["tid"], e, last[e["tid"]][1]))
            last[e["tid"]] = (e["ts_ns"], e)
    elif check == "count":
        n = sum(1 for e in ev if e["kind"] == args[0])
        want = int(args[2])
        if not (n == want if args[1] == "eq" else n >= want):
            fail("%d %s events, want %s %d" % (n, args[0], args[1], want))
    elif check == "threads-calls":
        tids = {e["tid"] for e in ev if e["kind"] == "malloc" and
                e["args"]["size"] == 300000}
        if len(tids) != int(args[0]) + 1:
            fail("malloc(300000) from %d threads" % len(tids))
        pids = {e["pid"] for e in ev if e["tid"] in tids}
        if len(pids) != 1:
            fail("threads of %d processes" % len(pids))
    elif check == "procs":
        pids = {e["pid"] for e in ev}
        if len(pids) != int(args[0]):
            fail("%d pids: %r" % (len(pids), pids))
    elif check == "exec-paths":
        paths = [e["args"]["path"] for e in ev if e["kind"] == "exec"]
        if len(paths) != len(args) or not all(p.endswith(a) for p, a in zip(paths, args)):
            fail("exec paths %r" % paths)
    elif check == "exit":
        if not any(e["kind"] == "exit" and e["ret"] == int(args[0]) for e in ev):
            fail("no exit with status %s" % args[0])
    elif check == "call":
        want = {k: int(v) for k, v in (a.split("=") for a in args[1:])}
        for e in ev:
            if e["kind"] != args[0]:
                continue
            if any(e["args"].get(k) != v for k, v in want.items()):
                continue
            if args[0] == "posix_memalign":
                if e["ret"] == 0 and e["args"]["result"] % e["args"]["alignment"] == 0:
                    return
            elif args[0] == "free" or (e["ret"] and e["ret"] > 4096):
                return
        fail("no %s with %r" % (args[0], want))
    else:
        fail("unknown check " + check)


def run_many(path, checks):
    try:
        evs, why = load(path), None
    except Exception as e:
        evs, why = None, str(e) if isinstance(e, Failed) else repr(e)
    st = []
    for c in checks:
        w = c.split()
        try:
            if why:
                fail(why)
            run(evs, w[0], w[1:])
            st.append(0)
        except Exception as e:
            print("# %s: %s" % (c, e if isinstance(e, Failed) else repr(e)))
            st.append(1)
    print(" ".join(map(str, st)))


def main():
    if sys.argv[2] == "-m":
        return run_many(sys.argv[1], sys.argv[3:])
    try:
        run(load(sys.argv[1]), sys.argv[2], sys.argv[3:])
    except Failed as e:
        print("# " + str(e))
        sys.exit(1)


main()
