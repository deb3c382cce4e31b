#!/bin/bash
# Every teaching allocator serves real programs: ls, sort and python3 under
# LD_PRELOAD print exactly what they print with glibc's malloc. Also: what
# each library exports, and how HEAPLAB_OPTIONS mistakes are reported.
. "$(dirname "$0")/../../../lab/tests/tap.sh"

# A few MB of lines in no particular order, for sort.
awk 'BEGIN { srand(42); for (i = 0; i < 150000; i++)
	printf "%08x %s line %d\n", int(rand() * 4294967295),
		substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 22) + 1, 5), i }' >"$TMP/lines"

# A python3 workload that allocates for real: dicts and lists that grow,
# strings of every size, json both ways, regexes, and large bytes objects
# (above phase 6's mmap threshold) made and dropped.
cat >"$TMP/work.py" <<'EOF'
import collections, json, re
words = [("w%d" % (i * 7919 % 100003)) * (1 + i % 5) for i in range(100000)]
counts = collections.Counter(w[:4] for w in words)
lengths = {w: len(w) for w in words}
text = json.dumps(lengths)
back = json.loads(text)
print(len(words), len(counts), len(text), sum(back.values()), counts.most_common(3))
print(len(re.findall(r"w1\d+", " ".join(words[:30000]))))
print(sum(len(bytes(1000 * (i % 300))) for i in range(300)))
EOF

# The commands the project's smoke test runs, and the ones above. Each runs
# under bash -c, so bash itself runs on the phase too.
cmds=(
	"ls -l /usr/bin"
	"sort -r /etc/services"
	"python3 -c 'import json; print(len(json.dumps(list(range(100000)))))'"
	"sort $TMP/lines"
	"sort -t' ' -k2,2 -k1,1r $TMP/lines"
	"python3 $TMP/work.py"
)

# Output (stdout and stderr) and exit status, as one fingerprint.
run() {
	local out rc
	out=$(timeout 60 bash -c "$1" 2>&1)
	rc=$?
	printf '%s\nexit %s\n' "$(printf '%s' "$out" | md5sum)" "$rc"
}

want=()
for i in "${!cmds[@]}"; do
	want[$i]=$(run "${cmds[$i]}")
done

exports="aligned_alloc calloc free heaplab_phase_dump heaplab_phase_idea heaplab_phase_name heaplab_phase_stats heaplab_phase_walk malloc malloc_usable_size memalign posix_memalign pvalloc realloc valloc"

for n in 1 2 3 4 5 6; do
	so=$B/phases/libphase$n.so
	if ! test -f "$so"; then
		ok 1 "$so is built"
		continue
	fi
	got=$(nm -D --defined-only "$so" | awk '{ print $3 }' | sort | tr '\n' ' ')
	is "${got% }" "$exports" "phase$n exports the malloc API and heaplab_phase_* only"

	maps=$(LD_PRELOAD=$so cat /proc/self/maps)
	like "$maps" "libphase$n\.so" "phase$n is loaded by LD_PRELOAD"
	maps=$("$HEAPLAB" run -a phase$n -- cat /proc/self/maps)
	like "$maps" "$B/phases/libphase$n\.so" "heaplab run -a phase$n preloads it"

	for i in "${!cmds[@]}"; do
		got=$(LD_PRELOAD=$so run "${cmds[$i]}")
		is "$got" "${want[$i]}" "phase$n: \`${cmds[$i]/$TMP/\$TMP}\` as with glibc"
	done
done

# HEAPLAB_OPTIONS: a bad value is named on stderr and the default kept;
# keys for other allocators are ignored silently.
err=$(HEAPLAB_OPTIONS=fit=worst LD_PRELOAD=$B/phases/libphase3.so /bin/true 2>&1)
is "$err" "heaplab phase3: HEAPLAB_OPTIONS: ignoring 'fit=worst': fit is first or best" \
	"phase3: a bad fit is named"
err=$(HEAPLAB_OPTIONS=mmap_threshold=12q LD_PRELOAD=$B/phases/libphase6.so /bin/true 2>&1)
like "$err" "^heaplab phase6: HEAPLAB_OPTIONS: ignoring 'mmap_threshold=12q': mmap_threshold is a size" \
	"phase6: a bad mmap_threshold is named"
err=$(HEAPLAB_OPTIONS=mmap_threshold=99999999999999999999999 LD_PRELOAD=$B/phases/libphase6.so /bin/true 2>&1)
like "$err" "ignoring 'mmap_threshold=9+'" "phase6: an mmap_threshold that overflows is refused"
for n in 1 3 6; do
	err=$(HEAPLAB_OPTIONS=arena_max=2,,tcache=0 LD_PRELOAD=$B/phases/libphase$n.so /bin/true 2>&1)
	is "$err" "" "phase$n: other allocators' options pass silently"
done
out=$(HEAPLAB_OPTIONS=fit=best,mmap_threshold=4k LD_PRELOAD=$B/phases/libphase6.so \
	bash -c "sort -r /etc/services" 2>&1 | md5sum)
is "$out" "$(sort -r /etc/services | md5sum)" "phase6 with fit=best and a 4 KiB threshold: sort as with glibc"

done_testing
