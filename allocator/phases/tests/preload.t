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

# run NAME CMD: CMD's output (stdout and stderr) into $TMP/NAME.out, its exit
# status and time into $TMP/NAME.rc.  Under LD_PRELOAD, timeout and bash
# run on the phase too.
run() {
	local t0=${EPOCHREALTIME//[!0-9]/} rc us

	timeout 60 bash -c "$2" >"$TMP/$1.out" 2>&1
	rc=$?
	us=$((${EPOCHREALTIME//[!0-9]/} - t0))
	printf 'exit %s after %d.%02d s\n' "$rc" $((us / 1000000)) \
		$((us % 1000000 / 10000)) >"$TMP/$1.rc"
	if [ $rc -gt 128 ]; then
		echo "(signal $(kill -l $((rc - 128))))" >>"$TMP/$1.rc"
	fi
}

# same NAME WANT DESCRIPTION: NAME's output and exit status are WANT's; if
# not, says which command, both statuses and times, and how the outputs
# differ, so that a failure explains itself.
same() {
	local got want

	got=$(cut -d' ' -f1-2 "$TMP/$1.rc")
	want=$(cut -d' ' -f1-2 "$TMP/$2.rc")
	cmp -s "$TMP/$1.out" "$TMP/$2.out" && [ "$got" = "$want" ]
	ok $? "$3" && return
	diag "command: ${cmds[$4]}"
	diag "with the phase: $(echo $(cat "$TMP/$1.rc")); with glibc: $(echo $(cat "$TMP/$2.rc"))"
	diag "output: $(wc -c <"$TMP/$1.out") bytes, with glibc $(wc -c <"$TMP/$2.out"); diff glibc phase:"
	diff "$TMP/$2.out" "$TMP/$1.out" | head -40 | sed 's/^/#   /'
}

for i in "${!cmds[@]}"; do
	run "want$i" "${cmds[$i]}"
done

# A difference is reported in full: the command, both statuses, the diff.
report=$(cmds=("printf 'a\\nb\\n'; exit 3"); _tap_n=0
	run alike "${cmds[0]}"
	run other "printf 'a\\nc\\n'; kill -KILL \$\$"
	same other alike "differs" 0)
like "$report" "^not ok 1 - differs" "a difference fails the check"
like "$report" "# command: printf 'a.*exit 3" "... names the command"
like "$report" "# with the phase: exit 137 after [0-9.]+ s \\(signal KILL\\); with glibc: exit 3 after" \
	"... gives both exit statuses and times, and the signal"
like "$report" "^#   < b" "... and shows the outputs' diff:"
like "$report" "^#   > c" "... both sides"

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
		LD_PRELOAD=$so run "p$n.$i" "${cmds[$i]}"
		same "p$n.$i" "want$i" "phase$n: \`${cmds[$i]/$TMP/\$TMP}\` as with glibc" "$i"
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
