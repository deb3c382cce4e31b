#!/bin/sh
# git — `git log -p`, `git log --stat` and `git blame` of 8 files over a
# fixture repository of 400 commits (built once, by the runner's untimed
# warm-up run, under $HEAPLAB_BENCH_DIR). Run as `git.sh SCALE`; the scale
# picks how many commits the logs walk.
set -eu
dir=${HEAPLAB_BENCH_DIR:-${TMPDIR:-/tmp}}/git-fixture
export GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent GIT_AUTHOR_NAME=bench \
	GIT_AUTHOR_EMAIL=bench@heaplab GIT_COMMITTER_NAME=bench \
	GIT_COMMITTER_EMAIL=bench@heaplab

# A fast-import stream: 400 commits, each rewriting a few of 40 files of
# about 300 lines, so that diffs have real work in them.
fixture() {
	tmp=$dir.tmp.$$
	rm -rf "$tmp"
	git init -q -b main "$tmp"
	awk 'BEGIN {
		srand(42)
		for (c = 1; c <= 400; c++) {
			print "commit refs/heads/main"
			print "committer bench <bench@heaplab> " (1700000000 + c * 60) " +0000"
			msg = "commit " c
			print "data " length(msg); print msg
			for (k = 0; k < 3; k++) {
				f = int(rand() * 40)
				body = ""
				for (l = 0; l < 300; l++)
					body = body "line " l " of file " f " rev " (rand() < 0.1 ? c : 0) "\n"
				print "M 644 inline src/file" f ".txt"
				print "data " length(body); printf "%s", body
			}
		}
	}' | git -C "$tmp" fast-import --quiet
	mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
}

[ -d "$dir" ] || fixture
n=$(awk -v s="${1:-1}" 'BEGIN { n = int(s * 400); print (n < 10 ? 10 : n) }')
git -C "$dir" log -p -n "$n" main >/dev/null
git -C "$dir" log --stat -n "$n" main >/dev/null
for f in 1 2 3 4 5 6 7 8; do
	git -C "$dir" blame main -- "src/file$f.txt" >/dev/null
done
