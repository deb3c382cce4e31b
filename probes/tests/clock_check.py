#!/usr/bin/env python3
# clock_check.py JSONL CLOCKS [MARGIN_NS] — checks the tap's call stamps in a
# `heaplab trace -f jsonl` of the clockcheck target against the target's own
# CLOCK_MONOTONIC readings (CLOCKS, clockcheck's output): pair i's
# malloc(1000 + i) must have enter and exit within [t0, t1] and the free of
# its pointer within [t1, t2], give or take MARGIN_NS (default 0).  Prints
# the smallest slack seen on each side as a TAP comment; exits 1 (saying
# why) if a stamp falls outside.
import bisect
import json
import sys


def first_free(fs, ts, after, until):
    """The first of fs, in trace order, stamped within [after, until].  ts
    are their stamps when in order, else None.  The target frees one
    pointer thousands of times: a bisection of the stamps, not a walk over
    all those frees for every pair (quadratic: a second a run)."""
    if ts is None:
        return next((f for f in fs if after <= f["ts_ns"] <= until), None)
    j = bisect.bisect_left(ts, after)
    return fs[j] if j < len(fs) and ts[j] <= until else None


def in_order(fs):
    ts = [f["ts_ns"] for f in fs]
    return ts if all(a <= b for a, b in zip(ts, ts[1:])) else None


def main():
    jsonl, clocks = sys.argv[1], sys.argv[2]
    margin = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    lines = open(clocks).read().split("\n")
    pairs = [tuple(int(x) for x in l.split()) for l in lines[1:] if l]
    if not pairs:
        print("# no pairs in %s" % clocks)
        return 1
    mallocs, frees = {}, {}
    for line in open(jsonl):
        e = json.loads(line)
        if e["kind"] == "malloc" and 1000 <= e["args"]["size"] < 1000 + len(pairs):
            mallocs.setdefault(e["args"]["size"] - 1000, e)
        elif e["kind"] == "free":
            frees.setdefault(e["args"]["ptr"], []).append(e)
    stamps = {p: in_order(fs) for p, fs in frees.items()}
    lo = hi = None
    bad = 0
    for i, p, t0, t1, t2 in pairs:
        m = mallocs.get(i)
        if m is None or m["ret"] != p:
            print("# pair %d: no malloc(%d) returning %#x" % (i, 1000 + i, p))
            return 1
        # The free of p that came after this malloc returned.
        f = first_free(frees.get(p, []), stamps.get(p), m["end_ns"],
                       t2 + margin + 1000000)
        if f is None:
            print("# pair %d: no free(%#x) after its malloc" % (i, p))
            return 1
        for what, e, a, b in (("malloc", m, t0, t1), ("free", f, t1, t2)):
            s0, s1 = e["ts_ns"] - a, b - e["end_ns"]
            lo = s0 if lo is None else min(lo, s0)
            hi = s1 if hi is None else min(hi, s1)
            if s0 < -margin or s1 < -margin or e["end_ns"] < e["ts_ns"]:
                if bad < 5:
                    print("# pair %d: %s [%d, %d] not within [%d, %d]" %
                          (i, what, e["ts_ns"], e["end_ns"], a, b))
                bad += 1
    print("# %d pairs; least slack: enter - clock before %d ns, "
          "clock after - exit %d ns" % (len(pairs), lo, hi))
    if bad:
        print("# %d stamps out of their brackets" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
