#!/usr/bin/env python3
# perfetto_check.py FILE — checks a `heaplab trace -f perfetto` file: the
# Chrome Trace Event object form, slices properly nested per thread, every
# caused syscall inside its call's slice with a flow arrow from it, counter
# tracks, process names. Prints TAP comments and "ok NAME"/"bad NAME" lines
# for the test to grep; exits 1 on any failure.
import json
import sys
from collections import defaultdict

EPS = 0.0005  # microseconds: the file has nanosecond precision
bad = 0


def check(name, cond, why=""):
    global bad
    print(("ok " if cond else "bad ") + name + ("" if cond else ": " + why))
    if not cond:
        bad = 1


doc = json.load(open(sys.argv[1]))
check("object-form", isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list))
evs = doc["traceEvents"]
check("has-events", len(evs) > 0)
check("fields", all("ph" in e and "pid" in e and ("ts" in e or e["ph"] == "M") for e in evs))

slices = [e for e in evs if e["ph"] == "X"]
calls = {e["args"]["seq"]: e for e in slices if e.get("cat") == "malloc"}
sysc = [e for e in slices if e.get("cat") == "syscall"]
check("call-slices", len(calls) > 0)
check("syscall-slices", len(sysc) > 0)

# Per thread, slices nest: sorted by start (longer first), each one either
# starts after the open one ends or ends inside it.
per = defaultdict(list)
for e in slices:
    per[(e["pid"], e["tid"])].append(e)
nest_ok, why = True, ""
for key, lst in per.items():
    lst.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []
    for e in lst:
        while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"] - EPS and \
                not (e["ts"] + e["dur"] <= stack[-1]["ts"] + stack[-1]["dur"] + EPS and
                     e["dur"] == 0 and e["ts"] <= stack[-1]["ts"] + stack[-1]["dur"]):
            stack.pop()
        if stack and e["ts"] + e["dur"] > stack[-1]["ts"] + stack[-1]["dur"] + EPS:
            nest_ok, why = False, "%s@%s overlaps %s@%s on %s" % (
                e["name"], e["ts"], stack[-1]["name"], stack[-1]["ts"], key)
            break
        stack.append(e)
check("nesting", nest_ok, why)

# Caused syscalls lie inside their call, same thread, with a flow arrow.
flows_s = {e["id"]: e for e in evs if e["ph"] == "s"}
flows_f = {e["id"]: e for e in evs if e["ph"] == "f"}
caused = [e for e in sysc if "cause_seq" in e["args"]]
inside, arrows, why_in, why_ar = True, True, "", ""
for e in caused:
    c = calls.get(e["args"]["cause_seq"])
    if not c or (c["pid"], c["tid"]) != (e["pid"], e["tid"]) or \
            e["ts"] < c["ts"] - EPS or e["ts"] + e["dur"] > c["ts"] + c["dur"] + EPS:
        inside, why_in = False, "syscall seq %s not inside call %s" % (e["args"]["seq"], e["args"]["cause_seq"])
    s, f = flows_s.get(e["args"]["seq"]), flows_f.get(e["args"]["seq"])
    if not s or not f or not c or not (c["ts"] - EPS <= s["ts"] <= c["ts"] + c["dur"] + EPS) or \
            not (e["ts"] - EPS <= f["ts"] <= e["ts"] + e["dur"] + EPS) or f.get("bp") != "e":
        arrows, why_ar = False, "flow of syscall seq %s" % e["args"]["seq"]
check("caused-syscalls", len(caused) > 0)
check("inside-cause", inside, why_in)
check("flow-arrows", arrows, why_ar)
check("flows-pair", set(flows_s) == set(flows_f))

counters = defaultdict(list)
for e in evs:
    if e["ph"] == "C":
        counters[e["name"]].append(e["args"]["bytes"])
brk = [k for k in counters if k.startswith("program break")]
mapped = [k for k in counters if k.startswith("mapped bytes")]
check("break-counter", len(brk) == 1 and max(counters[brk[0]]) > 0)
check("mapped-counter", len(mapped) == 1 and max(counters[mapped[0]]) > 0)
check("counters-numeric", all(isinstance(v, int) and v >= 0 for l in counters.values() for v in l))

names = [e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "process_name"]
check("process-names", len(names) > 0)
if len(sys.argv) > 2:
    check("process-name " + sys.argv[2], sys.argv[2] in names, repr(names))
check("thread-names", any(e["ph"] == "M" and e["name"] == "thread_name" for e in evs))
check("other-data", doc.get("otherData", {}).get("complete") in (True, False))
sys.exit(bad)
