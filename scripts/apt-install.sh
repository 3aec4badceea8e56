# Sourced: apt_install PACKAGE... installs Debian packages, as root or through passwordless sudo.
# Prints why and returns non-zero when it cannot (no apt-get, not root, no sudo).

apt_install() {
    local sudo=""
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "cannot install $*: apt-get is not available on this system" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            echo "cannot install $*: not root and no passwordless sudo; run: sudo apt-get install -y $*" >&2
            return 1
        fi
    fi
    # A fresh machine has no package lists yet: update only when the install needs it.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "$@"; }
}

# missing_php_modules MODULE:PACKAGE...: prints, one a line, the Debian package of each PHP
# module that `php -m` does not list (every one of them when there is no php yet).
missing_php_modules() {
    local modules="" pair
    if command -v php >/dev/null 2>&1; then
        modules=$(php -m)
    fi
    for pair in "$@"; do
        grep -qx "${pair%%:*}" <<<"$modules" || echo "${pair#*:}"
    done
}

# install_for WHO PACKAGE...: installs the packages (none given: nothing to do), or exits 1
# saying that WHO needs them.
install_for() {
    local who="$1"
    shift
    [ $# -eq 0 ] && return 0
    echo "${who^} need $*; installing Debian's packages" >&2
    if ! apt_install "$@"; then
        echo "error: $* missing and could not be installed (reason above); $who need them" >&2
        exit 1
    fi
}
