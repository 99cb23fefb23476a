#!/usr/bin/env bash
# Installs the signage player on Debian / Raspberry Pi OS: system user, venv in /opt,
# config file, systemd unit. Safe to run again to upgrade: an existing config is kept.
#
# usage: sudo deploy/install-player.sh [--source DIR] [--no-start] [--broker-ca FILE]
#   --source DIR      the project checkout or sdist to install (default: this script's repo)
#   --no-start        install and enable, but do not start (e.g. before `signage-player enroll`)
#   --broker-ca FILE  the CA certificate (PEM) that signed the broker's TLS certificate, when it is
#                     a private CA or the server installer's self-signed one (docs/operations.md)
set -euo pipefail
# shellcheck disable=SC1091  # checked on its own by the tests
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
START=1
BROKER_CA=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --source) SOURCE="$2"; shift 2 ;;
        --no-start) START=0; shift ;;
        --broker-ca) BROKER_CA="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

PREFIX=/opt/signage-player
VENV="$PREFIX/venv"
CONF_DIR=/etc/signage
CONF="$CONF_DIR/player.toml"
CA_FILE="$CONF_DIR/broker-ca.pem"
STATE_DIR=/var/lib/signage-player
UNIT=/etc/systemd/system/signage-player.service
USER_NAME=signage

require_root_and_source "$SOURCE"
if [ -n "$BROKER_CA" ] && ! grep -q -- "-----BEGIN CERTIFICATE-----" "$BROKER_CA" 2>/dev/null; then
    echo "error: --broker-ca $BROKER_CA is not a readable PEM certificate" >&2
    exit 1
fi

echo "== system packages"
# libfribidi0: Pillow's bundled raqm loads it at run time; without it Khmer is not shaped.
# libsdl2 comes inside the pygame wheel; fonts come from the Python font packages, except Lao and
# Simplified Chinese, which only Debian packages (found through fontconfig: fonts/fonts.toml).
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip libfribidi0 ca-certificates fontconfig fonts-noto-core \
    fonts-noto-cjk >/dev/null

ensure_system_user "$USER_NAME" "$STATE_DIR" "signage player"
for group in video render; do
    if getent group "$group" >/dev/null; then usermod -a -G "$group" "$USER_NAME"; fi
done

install_venv "$PREFIX" "$SOURCE" player

echo "== state dir $STATE_DIR"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"

echo "== config $CONF"
install -d -m 0755 "$CONF_DIR"
if [ -n "$BROKER_CA" ]; then
    # Public data, but only root may replace what the player trusts.
    install -m 0644 -o root -g root "$BROKER_CA" "$CA_FILE"
    echo "broker CA installed as $CA_FILE"
fi
CA_LINE="# ca_file = \"$CA_FILE\""
if [ -e "$CA_FILE" ]; then CA_LINE="ca_file = \"$CA_FILE\""; fi
if [ -e "$CONF" ]; then
    echo "keeping existing $CONF"
    if [ -e "$CA_FILE" ] && ! grep -q '^ca_file' "$CONF"; then
        echo "note: add ca_file = \"$CA_FILE\" under [broker] in $CONF to use the installed CA"
    fi
else
    # Readable by the player, writable by root only; holds no secrets (those come from enrolment).
    install -m 0640 -o root -g "$USER_NAME" /dev/null "$CONF"
    cat >"$CONF" <<TOML
# Border-gate signage player settings. Env vars SIGNAGE_PLAYER_<NAME> override these
# (nested: SIGNAGE_PLAYER_WINDOW__WIDTH=960).
state_dir = "/var/lib/signage-player"
# window | framebuffer | png | null
output = "window"
heartbeat_period_s = 30
min_free_disk_mb = 200

[window]
# The region of the HDMI output that the LED sending card captures.
x = 0
y = 0
width = 1920
height = 1080

[framebuffer]
device = "/dev/fb0"
x = 0
y = 0

[blanking]
# Off-hours: argv lists run without a shell, e.g. ["vcgencmd", "display_power", "0"].
off_command = []
on_command = []

[screenshot]
period_s = 300
thumbnail_width = 320

[broker]
# Border links carry the broker password: a plain mqtt:// broker address is refused.
require_tls = true
# The CA that signed the broker's certificate, if it is not a public one (install with --broker-ca);
# unset, the system trust store decides.
$CA_LINE
TOML
fi

echo "== systemd unit"
install -m 0644 "$SOURCE/deploy/signage-player.service" "$UNIT"
systemctl daemon-reload
systemctl enable signage-player.service >/dev/null
if [ "$START" -eq 1 ]; then
    systemctl restart signage-player.service
    echo "started; follow it with: journalctl -u signage-player -f"
else
    echo "installed and enabled; start with: systemctl start signage-player"
fi
echo "next: sudo -u $USER_NAME $VENV/bin/signage-player check"
