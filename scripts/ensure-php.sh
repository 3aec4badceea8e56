#!/usr/bin/env bash
# The PrestaShop module's tests run on Debian's PHP and PHPUnit; install what is missing.
set -euo pipefail
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"

packages=()
command -v php >/dev/null 2>&1 || packages+=(php-cli)
command -v phpunit >/dev/null 2>&1 || packages+=(phpunit)
mapfile -t -O "${#packages[@]}" packages < <(missing_php_modules \
    curl:php-curl pdo_sqlite:php-sqlite3 mbstring:php-mbstring dom:php-xml)
install_for "the PrestaShop module's tests" "${packages[@]}"
