#!/bin/sh
# gcc — the compiler driver, cc1 and as compiling the bench runner at -O2
# (every child inherits the preloaded allocator). At a scale below 1, -O0.
# Run as `gcc.sh SCALE` by the bench runner.
set -eu
src=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mktemp "${TMPDIR:-/tmp}/heaplab-bench-gcc.XXXXXX")
trap 'rm -f "$out"' EXIT
opt=-O2
case ${1:-1} in 0.*|.*) opt=-O0 ;; esac
gcc $opt -g -std=gnu11 -D_GNU_SOURCE -I"$src" -c "$src/allocator/bench/runner.c" -o "$out"
