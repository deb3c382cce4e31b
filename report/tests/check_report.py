#!/usr/bin/env python3
"""check_report.py DIR — the checks a lab report must pass, as TAP lines.

index.html parses as HTML with balanced tags; every figure is valid SVG;
results.json parses; every link stays in the folder (or is a documentation
link); every number in the Markdown's text and tables is a number of
results.json (sizes printed as KiB/MiB converted back to bytes).
"""
import html.parser
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

d = sys.argv[1]
n = 0
failed = 0


def ok(cond, what, diag=None):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")
    if not cond:
        failed += 1
        if diag:
            for line in str(diag).splitlines()[:10]:
                print("# " + line)


VOID = {"meta", "br", "img", "hr", "link", "input", "col", "area", "base",
        "wbr", "source", "track", "embed", "param"}


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.links, self.svgs = [], [], [], 0
        self.in_svg = 0

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
        for k, v in attrs:
            if k in ("href", "src") and tag not in ("svg",):
                self.links.append(v)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        # <line/>, <rect/>: nothing to balance
        for k, v in attrs:
            if k in ("href", "src"):
                self.links.append(v)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


page = open(os.path.join(d, "index.html"), encoding="utf-8").read()
c = Checker()
c.feed(page)
c.close()
ok(page.startswith("<!DOCTYPE html>"), "index.html is an HTML5 document")
ok(not c.errors and not c.stack, "index.html tags are balanced",
   "\n".join(c.errors) + f"\nopen at end: {c.stack}")
svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
ok(len(svgs) == c.svgs and svgs, f"{len(svgs)} inline figures found")
bad = []
for s in svgs:
    try:
        root = ET.fromstring(s)
        if not root.tag.endswith("svg"):
            bad.append("root is " + root.tag)
    except ET.ParseError as e:
        bad.append(str(e))
ok(not bad, "every inline figure is valid SVG", "\n".join(bad))
files = [f for f in os.listdir(d) if f.endswith(".svg")]
bad = []
for f in files:
    try:
        ET.parse(os.path.join(d, f))
    except ET.ParseError as e:
        bad.append(f"{f}: {e}")
ok(files and not bad, f"{len(files)} SVG files beside report.md parse", "\n".join(bad))
ok(re.search(r"https?://", "".join(re.findall(r'(?:src|href)="[^"]*"', page))) is None
   or all(l.startswith(("#", "https://")) or os.path.exists(os.path.join(d, l)) for l in c.links),
   "no link leaves the folder except documentation links", c.links)
outside = [l for l in c.links if not (l.startswith("#") or l.startswith("https://")
                                      or os.path.exists(os.path.join(d, l)))]
ok(not outside, "every local link points to a file in the report folder", outside)
ok("<script" not in page and "@import" not in page, "no scripts or imported styles")

results = json.load(open(os.path.join(d, "results.json")))
ok(isinstance(results, dict) and "experiments" in results, "results.json parses")

numbers = set()


def collect(v):
    if isinstance(v, bool):
        return
    if isinstance(v, (int, float)):
        numbers.add(float(v))
    elif isinstance(v, str):
        for m in re.findall(r"\d+(?:\.\d+)?", v):
            numbers.add(float(m))
    elif isinstance(v, list):
        for x in v:
            collect(x)
    elif isinstance(v, dict):
        for x in v.values():
            collect(x)


collect(results)
UNITS = {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}
md = open(os.path.join(d, "report.md"), encoding="utf-8").read()
missing = []
for line in md.splitlines():
    if line.startswith(("#", "![", "*", "[")) and not line.startswith("**"):
        continue
    for m in re.finditer(r"(?<![\w.-])(\d+(?:\.\d+)?)(?: (KiB|MiB|GiB))?(?![\w.])", line):
        v = float(m.group(1)) * UNITS.get(m.group(2) or "B", 1)
        if v not in numbers and not any(abs(v - x) <= max(1, x * 0.05) and m.group(2)
                                        for x in numbers):
            missing.append(f"{m.group(0)!r} in: {line[:100]}")
ok(not missing, "every number in report.md is in results.json", "\n".join(missing))
print(f"1..{n}")
sys.exit(1 if failed else 0)
