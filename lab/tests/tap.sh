# tap.sh — TAP for heaplab's shell tests (sourced), read by prove.
#
#   ok COND-EXIT-STATUS "description"   e.g.  test -f x; ok $? "x exists"
#   is GOT WANT "description"
#   like GOT REGEX "description"
#   skip "reason"                       only where a thing truly cannot run
#   done_testing
#
# B is the build tree under test (HEAPLAB_BUILD from make, else build/),
# SRC the source root (HEAPLAB_SRC from make).

# The source root: from make, else the git checkout the test sits in.
_tap_root() {
	(cd "$(dirname "$0")" && git rev-parse --show-toplevel 2>/dev/null) ||
		(cd "$(dirname "$0")/../.." && pwd)
}
: "${HEAPLAB_SRC:=$(_tap_root)}"
: "${HEAPLAB_BUILD:=$HEAPLAB_SRC/build}"
SRC=$HEAPLAB_SRC
B=$HEAPLAB_BUILD
HEAPLAB=$B/heaplab
_tap_n=0
_tap_failed=0

# Returns the check's own status, so that `ok $? "..." || diagnostics`
# prints them exactly when the check failed.
ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
		return 0
	fi
	echo "not ok $_tap_n - $2"
	_tap_failed=$((_tap_failed + 1))
	return 1
}

is() {
	[ "$1" = "$2" ]
	local rc=$?
	ok $rc "$3"
	[ $rc -eq 0 ] || printf '# got:  %s\n# want: %s\n' "$1" "$2"
	return $rc
}

like() {
	printf '%s' "$1" | grep -Eq -- "$2"
	local rc=$?
	ok $rc "$3"
	[ $rc -eq 0 ] || printf '# got:  %s\n# want match: %s\n' "$(printf '%s' "$1" | head -5)" "$2"
	return $rc
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $1"
}

diag() { echo "# $*"; }

# field FILE EXPR: prints the Python expression EXPR over the JSON document
# in FILE, bound to d. FIELD_PRELUDE (Python statements) runs first, with
# by(LIST, KEY="allocator") to index a list of objects by a member, e.g.
# FIELD_PRELUDE='r = by(d["runs"])'.
field() {
	python3 -c 'import json, sys
def by(xs, key="allocator"):
	return {x[key]: x for x in xs}
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
print(eval(sys.argv[2]))' "$1" "$2" "${FIELD_PRELUDE:-}"
}

done_testing() {
	echo "1..$_tap_n"
	[ $_tap_failed -eq 0 ]
	exit
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/heaplab-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
