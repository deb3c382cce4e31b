#!/bin/sh
# screenshot.sh DIR PNG — the report as a real browser shows it: headless
# Chromium renders DIR/index.html into PNG (kept in build/, out of the
# repository). Chromium is installed here, for `make report` only, when
# missing and root; otherwise this says what to do and leaves the report be.
set -u
dir=$1
png=$2
if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "heaplab: chromium is not installed, no screenshot of the" \
		     "report (as root: apt-get install chromium)" >&2
		exit 0
	fi
	echo "heaplab: installing chromium to look at the report" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 ||
		{ echo "heaplab: could not install chromium" >&2; exit 1; }
fi
profile=$(mktemp -d "${TMPDIR:-/tmp}/heaplab-chromium.XXXXXX")
trap 'rm -rf "$profile"' EXIT
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
	--no-first-run --disable-background-networking \
	--disable-component-update --disable-sync \
	--user-data-dir="$profile" --window-size=1200,6000 \
	--screenshot="$png" "file://$(cd "$dir" && pwd)/index.html" \
	>/dev/null 2>&1
if [ -s "$png" ]; then
	echo "heaplab: the report as Chromium renders it: $png" >&2
else
	echo "heaplab: chromium did not render $dir/index.html" >&2
	exit 1
fi
