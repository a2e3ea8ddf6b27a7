#!/usr/bin/env bash
# install-chromium.sh installs Debian's chromium package, the real headless
# browser that tests/console_test.go drives (through chromedp) against the
# console of a running `wisp demo`.
#
# It is idempotent: when a chromium binary is already on the machine it only
# prints its path. The only line on stdout is that path, so
#   WISP_CHROMIUM="$(scripts/install-chromium.sh)"
# works; progress and errors go to stderr. Installing needs root (or sudo)
# and Debian's package archive; nothing is downloaded from anywhere else.
set -euo pipefail

die() { echo "install-chromium: $*" >&2; exit 1; }

find_chromium() {
	local c
	for c in "${WISP_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
		if [[ -n "$c" && -x "$c" ]]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

if bin="$(find_chromium)"; then
	echo "$bin"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
	die "chromium is not installed and apt-get is not available; install a Chromium build and set WISP_CHROMIUM to its path"

sudo=""
if [[ "$(id -u)" != 0 ]]; then
	command -v sudo >/dev/null 2>&1 || die "installing chromium needs root: run as root or install sudo"
	sudo="sudo"
fi

echo "install-chromium: installing Debian's chromium package (takes a minute)" >&2
export DEBIAN_FRONTEND=noninteractive
# A stale or missing package list makes the install fail with "no
# installation candidate": refresh it first.
$sudo apt-get update -qq >&2 || die "apt-get update failed; check the machine's access to the Debian archive"
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 ||
	die "apt-get install chromium failed; see the messages above"

bin="$(find_chromium)" || die "chromium was installed but no binary is at /usr/bin/chromium"
echo "$bin"
