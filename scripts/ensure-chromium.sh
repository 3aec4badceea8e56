#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it when it is not there yet.
set -euo pipefail

for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done

echo "Chromium (needed by the browser tests) is not installed; installing Debian's chromium" >&2
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"
if ! apt_install chromium; then
    echo "error: Chromium is missing and could not be installed (reason above); the browser tests need it" >&2
    exit 1
fi
