#!/usr/bin/env bash
# Steps install-server.sh and install-player.sh share; sourced by them, not run on its own.

# $1: the project folder to install from.
require_root_and_source() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: run as root (sudo $0)" >&2
        exit 1
    fi
    if [ ! -f "$1/pyproject.toml" ] || [ ! -f "$1/constraints.txt" ]; then
        echo "error: $1 has no pyproject.toml and constraints.txt; pass the project folder with --source" >&2
        exit 1
    fi
}

# $1: user name, $2: its home (not created here), $3: what it is for.
ensure_system_user() {
    echo "== user $1"
    if ! id "$1" >/dev/null 2>&1; then
        useradd --system --home-dir "$2" --no-create-home --shell /usr/sbin/nologin --comment "$3" "$1"
    fi
}

# $1: install prefix (the venv goes in $1/venv), $2: project folder, $3: the extra to install.
install_venv() {
    local venv="$1/venv"
    echo "== venv $venv"
    install -d -m 0755 "$1"
    if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
    "$venv/bin/python" -m pip install -q --upgrade pip
    # The versions the tests passed with (constraints.txt), not whatever PyPI has today.
    "$venv/bin/python" -m pip install -q -c "$2/constraints.txt" "$2[$3]"
}
