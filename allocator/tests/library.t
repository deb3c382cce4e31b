#!/bin/bash
# libheaplab.so as a shared object: it exports exactly the API, each kernel
# request has its USDT probe, and only the OS layer talks to the kernel.
. "$(dirname "$0")/../../lab/tests/tap.sh"

LIB=$B/libheaplab.so
syms=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TWiV]$/ { print $3 }' | sort | tr '\n' ' ')
want="__libc_calloc __libc_free __libc_malloc __libc_memalign __libc_pvalloc __libc_realloc __libc_valloc aligned_alloc calloc free heaplab_dump heaplab_stats mallinfo mallinfo2 malloc malloc_info malloc_stats malloc_trim malloc_usable_size mallopt memalign posix_memalign pvalloc realloc reallocarray valloc "
is "$syms" "$want" "exports the malloc family, the __libc_* aliases and the heaplab API, nothing else"

notes=$(readelf -n "$LIB")
for p in sbrk mmap munmap mremap madvise mprotect heap_grow heap_trim mmap_threshold arena_new heap_new heap_free; do
	printf '%s\n' "$notes" | grep -A1 'Provider: heaplab' | grep -qx "    Name: $p"
	ok $? "USDT probe heaplab:$p"
done

# Only os.c calls the kernel for memory.
calls=$(grep -lE '\b(sbrk|mmap|munmap|mremap|madvise|mprotect)\(' "$SRC"/allocator/*.c | xargs -n1 basename | tr '\n' ' ')
is "$calls" "os.c " "only allocator/os.c calls sbrk/mmap/munmap/mremap/madvise/mprotect"

# The kernel directly, not libc's wrappers (os.c): a wrapper's page of libc
# would be resident in every process that preloads us. sbrk stays libc's
# (libc keeps the break), clock_gettime too (a vDSO read).
imports=" $(nm -D --undefined-only "$LIB" | awk '{ sub(/@.*/, "", $2); print $2 }' | tr '\n' ' ')"
wrappers=
for f in mmap munmap mremap madvise mprotect mincore syscall sysconf getrandom \
	pthread_mutex_lock pthread_mutex_unlock pthread_mutex_init; do
	case "$imports " in *" $f "*) wrappers="$wrappers$f " ;; esac
done
is "$wrappers" "" "takes no system call wrapper or mutex from libc"

readelf -d "$LIB" | grep -q 'Flags:.*NODELETE'
ok $? "linked with -z nodelete"
needed=$(readelf -d "$LIB" | awk '/NEEDED/ { print $NF }' | tr '\n' ' ')
is "$needed" "[libc.so.6] " "needs nothing but libc"

done_testing
