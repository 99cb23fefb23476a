# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/run-local: installs what is missing, nothing more.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIGNAGE_VENV:-$REPO_ROOT/.venv}"

_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_apt_updated=0
apt_install() {
    # Debian/Ubuntu only; a second call reuses the package lists of the first.
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing system packages ($*) and no apt-get here: install them by hand" >&2
        exit 1
    fi
    if [ "$_apt_updated" -eq 0 ]; then
        _sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
        _apt_updated=1
    fi
    echo "installing system packages: $*"
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" >/dev/null
}

find_pg_bin() {
    # Debian keeps the server binaries out of PATH, one folder per major version.
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
    return 1
}

ensure_system_packages() {
    # $@: which groups are needed: python, broker, postgres, browser, deploy, reports
    local want=()
    local group
    for group in "$@"; do
        case "$group" in
            python)
                command -v python3 >/dev/null 2>&1 || want+=(python3)
                python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || want+=(python3-venv)
                # The renderer's Lao and Simplified Chinese fonts (fonts/fonts.toml) have no PyPI
                # package: Debian's, found by family through fontconfig.
                command -v fc-match >/dev/null 2>&1 || want+=(fontconfig)
                fc-list 'Noto Sans Lao' 2>/dev/null | grep -q . || want+=(fonts-noto-core)
                fc-list 'Noto Sans CJK SC' 2>/dev/null | grep -q . || want+=(fonts-noto-cjk)
                ;;
            broker)
                command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
                ;;
            postgres)
                find_pg_bin >/dev/null 2>&1 || want+=(postgresql)
                ;;
            browser)
                [ -x /usr/bin/chromium ] || want+=(chromium)
                ;;
            reports)
                # WeasyPrint (the server's PDF reports) loads Pango and HarfBuzz's subsetter with
                # ctypes: Debian's libraries, not pip's. pdftotext/pdftoppm read the PDFs back.
                local lib
                for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils; do
                    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "ok installed" || want+=("$lib")
                done
                ;;
            deploy)
                # The deploy scripts are linted and the shipped nginx site is run by the tests.
                command -v shellcheck >/dev/null 2>&1 || want+=(shellcheck)
                command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
                ;;
        esac
    done
    if [ "${#want[@]}" -gt 0 ]; then apt_install "${want[@]}"; fi
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
        echo "error: Python >= 3.11 is needed, found $(python3 --version)" >&2; exit 1; }
}

ensure_venv() {
    # $1: the extras to install, e.g. "server,player,dev"
    local extras="$1"
    local stamp="$VENV/.installed-$extras"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    # Reinstall only when pyproject.toml or the pinned versions changed since the last install.
    if [ ! -f "$stamp" ] || [ "$REPO_ROOT/pyproject.toml" -nt "$stamp" ] \
            || [ "$REPO_ROOT/constraints.txt" -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -c "$REPO_ROOT/constraints.txt" -e "$REPO_ROOT[$extras]"
        touch "$stamp"
    fi
}
