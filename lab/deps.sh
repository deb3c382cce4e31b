#!/bin/sh
# deps.sh — install, when missing, every Debian package heaplab needs: the
# toolchain and libraries it builds with, what its tests use, the reference
# tools it compares against, and the other allocators.
set -u

PKGS="build-essential pkg-config clang llvm libbpf-dev bpftool libseccomp-dev
systemtap-sdt-dev libelf-dev zlib1g-dev
strace bpftrace heaptrack linux-perf valgrind
libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
perl python3 xz-utils util-linux procps gcc"

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "heaplab: missing Debian packages:$missing" >&2
	echo "heaplab: run 'make deps' as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "heaplab: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 &&
apt-get install -y -qq --no-install-recommends $missing >&2 || {
	echo "heaplab: apt-get failed installing:$missing" >&2
	exit 1
}
