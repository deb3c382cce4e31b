#!/bin/sh
# bench.sh BENCH... — what `make bench` runs, with HEAPLAB_BUILD set to the
# build tree. BENCHES holds two kinds of entries:
#   - the allocator harness: $HEAPLAB_BUILD/bench/runner, with its workloads
#     ($HEAPLAB_BUILD/bench/alloc/* and the real-program scripts
#     allocator/bench/real/*.sh), all run together by the runner so that
#     they are measured side by side under every allocator;
#   - any other benchmark executable, run on its own, one after the other.
# The runner's knobs come from the environment (HEAPLAB_BENCH_RUNS,
# HEAPLAB_BENCH_ALLOCS, HEAPLAB_BENCH_SCALE, HEAPLAB_BENCH_ONLY,
# HEAPLAB_BENCH_TIMEOUT) or HEAPLAB_BENCH_ARGS (extra runner options, e.g.
# --markdown). Exits non-zero if anything failed.
set -u
: "${HEAPLAB_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
runner=
workloads=
others=
for b in "$@"; do
	case $b in
	*/bench/runner) runner=$b ;;
	*/bench/alloc/* | allocator/bench/real/* | */allocator/bench/real/*)
		workloads="$workloads $b" ;;
	*) others="$others $b" ;;
	esac
done

rc=0
if [ -n "$workloads" ]; then
	if [ -z "$runner" ]; then
		echo "bench.sh: allocator workloads given but no bench/runner" >&2
		exit 2
	fi
	# shellcheck disable=SC2086 # word splitting wanted: paths have no spaces
	"$runner" ${HEAPLAB_BENCH_ARGS:-} $workloads || rc=1
fi
for b in $others; do
	echo "== $b"
	"$b" || { echo "bench.sh: $b failed" >&2; rc=1; }
done
exit $rc
