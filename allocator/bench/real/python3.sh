#!/bin/sh
# python3 — a CPython workload that allocates the way Python programs do:
# dicts of strings, lists of tuples, sorting, JSON out and back in, and
# bigger objects that go past pymalloc (512 bytes) to malloc itself.
# Run as `python3.sh SCALE` by the bench runner.
set -eu
scale=${1:-1}
# Debian's interpreter where there is one: a pyenv shim would time bash too.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
exec "$py" - "$scale" <<'PY'
import json, sys
n = max(2000, int(float(sys.argv[1]) * 100000))
d = {}
for i in range(n):
    d["key-%d" % i] = ("value %d " % (i * 7)) * (1 + i % 9)
rows = [(v[:12], k, len(v)) for k, v in d.items()]
rows.sort()
blob = json.dumps({"rows": rows[: n // 2], "big": [str(i) * 60 for i in range(n // 4)]})
back = json.loads(blob)
words = " ".join(d.values()).split()
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
assert len(back["rows"]) == n // 2 and len(counts) > 0
print("ok", len(rows), len(counts))
PY
