#!/bin/bash
# trace-overhead.sh — what tracing costs, side by side in one run (issue 6):
# four workloads under plain execution and each tracer. A ratio is the
# wall time of the whole traced run, until its output file is closed, over
# the untraced run, medians of HEAPLAB_BENCH_RUNS rounds (default 5) for
# ls -lR and fork+exec and of twice that plus one for malloc-heavy and
# start-up: a run of those takes a quarter of a second or less, and one
# such run moves by 10-15% here from one to the next even on a quiet
# machine, so they need more rounds for the same spread of the median.
# For heaplab the events recorded come from the last round's trace_end,
# the events lost (dropped) are summed over all rounds.
#
#   malloc-heavy  mt_target heavy 2000000 (2M malloc/free pairs, brk and
#                 mmap traffic, threshold pinned at 128 KiB)
#   ls -lR        ls -lR /usr/share
#   fork+exec     300 x fork+exec of ls from sh
#   start-up      /bin/true
#
# HEAPLAB_BENCH_WORKLOADS and HEAPLAB_BENCH_TOOLS (comma-separated names as
# in the table, e.g. "malloc-heavy" and "heaplab ptrace,heaplab ebpf all")
# narrow the run; plain always runs, the ratios need it.
#
# strace --seccomp-bpf records the memory syscalls only: "heaplab ptrace
# syscalls" (--events syscalls, no call tap) is the like-for-like column for
# it; "heaplab ptrace" records the allocator calls too. "heaplab ebpf all
# hlt" records everything as -f hlt (compact binary, rendered later with
# heaplab trace -i) instead of jsonl.
#
# Needs root for the eBPF columns (heaplab ebpf, bpftrace, perf trace);
# a tool that is missing or fails shows "n/a". Speed is never asserted.
set -u
: "${HEAPLAB_BUILD:=$(cd "$(dirname "$0")/../../.." && pwd)/build}"
B=$HEAPLAB_BUILD
HL=$B/heaplab
RUNS=${HEAPLAB_BENCH_RUNS:-5}
# rounds WORKLOAD: how many rounds it runs (see the top).
rounds() {
	case $1 in
	malloc-heavy | start-up) echo $((2 * RUNS + 1)) ;;
	*) echo "$RUNS" ;;
	esac
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/heaplab-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
MEM=brk,mmap,munmap,mremap,madvise,mprotect
BPFT='tracepoint:syscalls:sys_enter_brk,tracepoint:syscalls:sys_enter_mmap,
tracepoint:syscalls:sys_enter_munmap,tracepoint:syscalls:sys_enter_mremap,
tracepoint:syscalls:sys_enter_madvise,tracepoint:syscalls:sys_enter_mprotect
{ @[probe] = count(); }'

workloads=("malloc-heavy" "ls -lR" "fork+exec" "start-up")
# Each workload is one command without quoting, so every tool takes it as is.
cat >"$TMP/ls-lR" <<'SH'
#!/bin/sh
exec ls -lR /usr/share >/dev/null 2>&1
SH
cat >"$TMP/forkexec" <<'SH'
#!/bin/sh
for i in $(seq 300); do /bin/ls / >/dev/null; done
SH
chmod +x "$TMP/ls-lR" "$TMP/forkexec"
wl_cmd() {
	case $1 in
	malloc-heavy) echo "$B/tests/ebpf/mt_target heavy 2000000" ;;
	"ls -lR") echo "$TMP/ls-lR" ;;
	fork+exec) echo "$TMP/forkexec" ;;
	start-up) echo "/bin/true" ;;
	esac
}
tools=(plain strace "perf trace" bpftrace heaptrack "heaplab ptrace" "heaplab ptrace syscalls" "heaplab ebpf syscalls" "heaplab ebpf all" "heaplab ebpf all hlt")
# keep LIST NAME...: the names that are in the comma-separated LIST.
keep() {
	local list=",$1," n
	shift
	for n in "$@"; do
		[[ $list == *",$n,"* ]] && printf '%s\n' "$n"
	done
}
if [ -n "${HEAPLAB_BENCH_WORKLOADS:-}" ]; then
	mapfile -t workloads < <(keep "$HEAPLAB_BENCH_WORKLOADS" "${workloads[@]}")
fi
if [ -n "${HEAPLAB_BENCH_TOOLS:-}" ]; then
	mapfile -t tools < <(keep "plain,$HEAPLAB_BENCH_TOOLS" "${tools[@]}")
fi
tool_cmd() {	# TOOL OUTFILE CMD
	local out=$2 cmd=$3
	case $1 in
	plain) echo "$cmd" ;;
	strace) echo "strace -f --seccomp-bpf -qq -e trace=memory -o $out $cmd" ;;
	"perf trace") echo "perf trace -e $MEM -o $out -- $cmd" ;;
	bpftrace)	# -c wants an ELF program: scripts go through sh
		case $cmd in "$TMP"/*) cmd="/bin/sh $cmd" ;; esac
		echo "bpftrace -q -o $out -e '$BPFT' -c \"$cmd\"" ;;
	heaptrack) echo "heaptrack -o $out $cmd" ;;
	"heaplab ptrace") echo "$HL trace -e ptrace -f jsonl -o $out -- $cmd" ;;
	"heaplab ptrace syscalls") echo "$HL trace -e ptrace --events syscalls -f jsonl -o $out -- $cmd" ;;
	"heaplab ebpf syscalls") echo "$HL trace -e ebpf --events syscalls -f jsonl -o $out -- $cmd" ;;
	"heaplab ebpf all") echo "$HL trace -e ebpf -f jsonl -o $out -- $cmd" ;;
	"heaplab ebpf all hlt") echo "$HL trace -e ebpf -f hlt -o $out -- $cmd" ;;
	esac
}

now() { date +%s%N; }

# One timed run; prints seconds, or nothing when the tool failed.
run_once() {
	local tool=$1 wl=$2 out=$TMP/out t0 t1
	rm -rf "$TMP"/out* "$TMP"/last_end
	local cmd
	cmd=$(tool_cmd "$tool" "$out" "$(wl_cmd "$wl")")
	# Let the previous run's BPF links finish going away: the kernel
	# frees them after RCU grace periods, and an attach that comes
	# before that waits for them (5-18 ms here back to back, 0.5 ms
	# after a pause), a cost no single trace pays.
	sleep 0.3
	t0=$(now)
	if ! bash -c "$cmd" >/dev/null 2>"$TMP/err" </dev/null; then
		[ "$tool" = plain ] || return 0
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
	case $tool in
	*hlt) "$HL" trace -i "$out" -f jsonl -o - 2>/dev/null | tail -1 >"$TMP/last_end" ;;
	heaplab*) tail -1 "$out" >"$TMP/last_end" ;;
	esac
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# Rounds: each round runs every tool once, so that a drift of the machine's
# speed during the run (other jobs, the CPU's clock) weighs on every column
# alike; the median of each tool's rounds is taken afterwards.
declare -A base times events lost failed
nrounds=
printf '%-14s' "workload"
for t in "${tools[@]}"; do printf ' | %-23s' "$t"; done
printf '\n'
for wl in "${workloads[@]}"; do
	run_once plain "$wl" >/dev/null	# warm the page cache
	n=$(rounds "$wl")
	for _ in $(seq "$n"); do
		for t in "${tools[@]}"; do
			[ -z "${failed[$t]:-}" ] || continue
			s=$(run_once "$t" "$wl")
			if [ -z "$s" ]; then
				failed[$t]=1
				continue
			fi
			times[$t]="${times[$t]:-} $s"
			if [[ $t == heaplab* ]]; then
				read -r ev dr < <(python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).read()); print(e["events"], e["dropped"])' "$TMP/last_end" 2>/dev/null)
				if [ -n "${dr:-}" ]; then
					events[$t]=$ev
					[ "${lost[$t]:-}" = "?" ] ||
						lost[$t]=$((${lost[$t]:-0} + dr))
				else	# no trace_end to read: the count is unknown
					lost[$t]="?"
				fi
			fi
		done
	done
	printf '%-14s' "$wl"
	for t in "${tools[@]}"; do
		if [ -n "${failed[$t]:-}" ] || [ -z "${times[$t]:-}" ]; then
			printf ' | %-23s' "n/a"
			continue
		fi
		m=$(printf '%s\n' ${times[$t]} | median)
		if [ "$t" = plain ]; then
			base[$wl]=$m
			cell="${m}s"
		elif [ "$wl" = start-up ]; then
			cell="${m}s"
		else
			cell=$(awk -v a="$m" -v b="${base[$wl]}" 'BEGIN { printf "%.2fx", a / b }')
			[ -n "${events[$t]:-}" ] &&
				cell="$cell (${events[$t]} ev, ${lost[$t]} lost)"
		fi
		printf ' | %-23s' "$cell"
	done
	printf '\n'
	nrounds="${nrounds:+$nrounds, }$wl $n"
	unset times events lost failed
	declare -A times events lost failed
done
echo "(wall time of the traced run over plain, median of the rounds ($nrounds); heaplab: events recorded"
echo " in the last round, lost in all rounds; start-up: the absolute seconds matter more than"
echo " the ratio to /bin/true)"
