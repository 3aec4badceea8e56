#!/usr/bin/env bash
# Create the project's virtualenv with Python 3.11: scripts/make-venv.sh PYTHON VENV_DIR
# Debian ships venv/ensurepip as a separate package; install it when it is missing.
set -euo pipefail

python=${1:-python3.11}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found. Install Python 3.11 (Debian: apt-get install -y python3.11 python3.11-venv)" >&2
    exit 1
fi

if "$python" -m venv "$venv" 2>/dev/null; then
    exit 0
fi
rm -rf "$venv"

echo "$python cannot create a virtualenv (Debian's venv module is missing); installing it" >&2
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"
apt_install python3.11-venv || apt_install python3-venv || {
    echo "error: could not install python3.11-venv; install it, then run make again" >&2
    exit 1
}
"$python" -m venv "$venv"
