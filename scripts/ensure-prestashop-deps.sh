#!/usr/bin/env bash
# The module's tests on a real PrestaShop (tests/prestashop/) need a private MariaDB, Debian's
# PHP with PrestaShop's extensions, and composer (psgdpr 2.x's autoload); install what is missing.
set -euo pipefail

packages=()
command -v php >/dev/null 2>&1 || packages+=(php-cli)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || packages+=(mariadb-server)
command -v composer >/dev/null 2>&1 || packages+=(composer)
if command -v php >/dev/null 2>&1; then
    modules=$(php -m)
    for pair in pdo_mysql:php-mysql curl:php-curl gd:php-gd intl:php-intl zip:php-zip dom:php-xml mbstring:php-mbstring; do
        grep -qx "${pair%%:*}" <<<"$modules" || packages+=("${pair#*:}")
    done
else
    packages+=(php-mysql php-curl php-gd php-intl php-zip php-xml php-mbstring)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

echo "The real-PrestaShop tests need ${packages[*]}; installing Debian's packages" >&2
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"
if ! apt_install "${packages[@]}"; then
    echo "error: ${packages[*]} missing and could not be installed (reason above); the real-PrestaShop tests need them" >&2
    exit 1
fi
