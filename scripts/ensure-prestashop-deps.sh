#!/usr/bin/env bash
# The module's tests on a real PrestaShop (tests/prestashop/) need a private MariaDB, Debian's
# PHP with PrestaShop's extensions, and composer (psgdpr 2.x's autoload); install what is missing.
set -euo pipefail
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"

packages=()
command -v php >/dev/null 2>&1 || packages+=(php-cli)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || packages+=(mariadb-server)
command -v composer >/dev/null 2>&1 || packages+=(composer)
mapfile -t -O "${#packages[@]}" packages < <(missing_php_modules \
    pdo_mysql:php-mysql curl:php-curl gd:php-gd intl:php-intl zip:php-zip dom:php-xml \
    mbstring:php-mbstring)
install_for "the real-PrestaShop tests" "${packages[@]}"
