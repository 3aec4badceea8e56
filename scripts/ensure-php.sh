#!/usr/bin/env bash
# The PrestaShop module's tests run on Debian's PHP and PHPUnit; install what is missing.
set -euo pipefail

packages=()
command -v php >/dev/null 2>&1 || packages+=(php-cli)
command -v phpunit >/dev/null 2>&1 || packages+=(phpunit)
if command -v php >/dev/null 2>&1; then
    modules=$(php -m)
    grep -qx curl <<<"$modules" || packages+=(php-curl)
    grep -qx pdo_sqlite <<<"$modules" || packages+=(php-sqlite3)
    grep -qx mbstring <<<"$modules" || packages+=(php-mbstring)
    grep -qx dom <<<"$modules" || packages+=(php-xml)
else
    packages+=(php-curl php-sqlite3 php-mbstring php-xml)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

echo "The PrestaShop module's tests need ${packages[*]}; installing Debian's packages" >&2
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"
if ! apt_install "${packages[@]}"; then
    echo "error: ${packages[*]} missing and could not be installed (reason above); the PrestaShop module's tests need them" >&2
    exit 1
fi
