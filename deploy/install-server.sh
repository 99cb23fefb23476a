#!/usr/bin/env bash
# Installs the signage server on Debian 12 / Ubuntu 22.04+: PostgreSQL (local, unless given a
# URL), Mosquitto with TLS + dynamic security, nginx with TLS, the venv in /opt, systemd units
# for the API workers, the single scheduler and the nightly backup. Safe to run again to
# upgrade: existing settings, keys, certificates and databases are kept.
#
# usage: sudo deploy/install-server.sh --server-name HOST [--database-url URL] [--workers N]
#                                      [--source DIR] [--no-start]
#   --server-name HOST   the name players and browsers use (TLS certificates, MQTT public URL)
#   --database-url URL   an existing PostgreSQL (default: install one here and create the role)
#   --workers N          API worker processes (default: number of CPUs, at most 8)
#   --source DIR         the project checkout or sdist to install (default: this script's repo)
#   --no-start           install and enable, but do not (re)start the services
set -euo pipefail
# shellcheck disable=SC1091  # checked on its own by the tests
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_NAME=""
DATABASE_URL=""
WORKERS=""
START=1
while [ "$#" -gt 0 ]; do
    case "$1" in
        --server-name) SERVER_NAME="$2"; shift 2 ;;
        --database-url) DATABASE_URL="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --source) SOURCE="$2"; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

PREFIX=/opt/signage-server
VENV="$PREFIX/venv"
CONF_DIR=/etc/signage
ENV_FILE="$CONF_DIR/server.env"
DATA_DIR=/var/lib/signage
BROKER_DIR="$DATA_DIR/broker"
DYNSEC="$BROKER_DIR/dynamic-security.json"
TLS_DIR=/etc/ssl/signage
USER_NAME=signage

require_root_and_source "$SOURCE"
if ! [[ "$SERVER_NAME" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]]; then
    echo "error: --server-name HOST is required (a DNS name or address, e.g. signage.binhphuoc.gov.vn)" >&2
    exit 2
fi
if [ -z "$WORKERS" ]; then
    WORKERS="$(nproc)"
    if [ "$WORKERS" -gt 8 ]; then WORKERS=8; fi
fi
if ! [[ "$WORKERS" =~ ^[1-9][0-9]?$ ]]; then
    echo "error: --workers must be a number from 1 to 99, not '$WORKERS'" >&2
    exit 2
fi

echo "== system packages"
# libpango/libpangoft2/libharfbuzz-subset: WeasyPrint's PDF reports (docs/reports.md).
# fontconfig + fonts-noto-core/-cjk: the previews' Lao and Simplified Chinese fonts (fonts/fonts.toml).
packages=(python3 python3-venv python3-pip libfribidi0 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
          ca-certificates openssl acl nginx mosquitto fontconfig fonts-noto-core fonts-noto-cjk)
if [ -z "$DATABASE_URL" ] && [ ! -e "$ENV_FILE" ]; then packages+=(postgresql); fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

ensure_system_user "$USER_NAME" "$DATA_DIR" "signage server"

install_venv "$PREFIX" "$SOURCE" server
# nginx serves the package's static files directly; the link follows upgrades.
STATIC="$("$VENV/bin/python" -c 'import pathlib, signage_server; print(pathlib.Path(signage_server.__file__).parent / "static")')"
ln -sfn "$STATIC" "$PREFIX/static"
install -d -m 0755 "$PREFIX/docs"
cp -f "$SOURCE"/docs/*.md "$PREFIX/docs/"
install -m 0755 "$SOURCE/deploy/signage-server.sh" /usr/local/bin/signage-server

echo "== data dir $DATA_DIR"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$DATA_DIR"
# The broker's dynsec state lives in the data dir (so backups hold the screens' accounts) but
# belongs to mosquitto, which may only pass through the server's folder, not list it.
install -d -m 0700 -o mosquitto -g mosquitto "$BROKER_DIR"
setfacl -m u:mosquitto:--x "$DATA_DIR"

echo "== settings $ENV_FILE"
install -d -m 0755 "$CONF_DIR"
if [ -e "$ENV_FILE" ]; then
    echo "keeping existing $ENV_FILE"
else
    if [ -z "$DATABASE_URL" ]; then
        systemctl enable --now postgresql >/dev/null
        DATABASE_URL="$("$SOURCE/deploy/postgres/setup.sh" | sed -n 's/^SIGNAGE_DATABASE_URL=//p')"
    fi
    MQTT_PASSWORD="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    install -m 0640 -o root -g "$USER_NAME" /dev/null "$ENV_FILE"
    cat >"$ENV_FILE" <<ENV
# Border-gate signage server settings (read by every signage-* unit). docs/operations.md.
SIGNAGE_DATA_DIR=$DATA_DIR
SIGNAGE_DATABASE_URL=$DATABASE_URL
# The server's own broker account (dynsec admin), on the loopback listener.
SIGNAGE_MQTT_URL=mqtt://signage-server:$MQTT_PASSWORD@127.0.0.1:1883
# What enrolled players are told to connect to: TLS on 8883.
SIGNAGE_MQTT_PUBLIC_URL=mqtts://$SERVER_NAME:8883
SIGNAGE_WORKERS=$WORKERS
SIGNAGE_MAX_UPLOAD_BYTES=52428800
# SIGNAGE_SECRET_KEY unset: generated once into $DATA_DIR/secret_key (and backed up).
# Do not set SIGNAGE_RUN_SCHEDULER here: the units set it (API workers off, scheduler on).
ENV
fi

echo "== TLS certificate $TLS_DIR"
install -d -m 0755 "$TLS_DIR"
if [ ! -e "$TLS_DIR/fullchain.pem" ]; then
    # A stand-in until the real certificate is installed: nginx and mosquitto need one to start.
    echo "no certificate yet: generating a self-signed one for $SERVER_NAME (replace it, see docs/operations.md)"
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=$SERVER_NAME" \
        -addext "subjectAltName=DNS:$SERVER_NAME" \
        -keyout "$TLS_DIR/privkey.pem" -out "$TLS_DIR/fullchain.pem" 2>/dev/null
    chmod 0600 "$TLS_DIR/privkey.pem"
fi

echo "== mosquitto"
PLUGIN="$(find /usr/lib -name mosquitto_dynamic_security.so -print -quit)"
if [ -z "$PLUGIN" ]; then
    echo "error: mosquitto's dynamic-security plugin not found; Mosquitto 2.0 or newer is needed" >&2
    exit 1
fi
install -d -m 0750 -o root -g mosquitto /etc/mosquitto/certs
install -m 0640 -o root -g mosquitto "$TLS_DIR/fullchain.pem" /etc/mosquitto/certs/signage.crt
install -m 0640 -o root -g mosquitto "$TLS_DIR/privkey.pem" /etc/mosquitto/certs/signage.key
# Debian's mosquitto.conf stays the package's (dpkg keeps upgrading it); ours is a conf.d file.
if [ -e /etc/mosquitto/mosquitto.conf.dpkg-orig ]; then
    # Installers before this one replaced it and kept the original aside: put the original back.
    mv -f /etc/mosquitto/mosquitto.conf.dpkg-orig /etc/mosquitto/mosquitto.conf
fi
if ! grep -Eq '^[[:space:]]*include_dir[[:space:]]+/etc/mosquitto/conf.d/?[[:space:]]*$' /etc/mosquitto/mosquitto.conf; then
    echo "error: /etc/mosquitto/mosquitto.conf does not include /etc/mosquitto/conf.d; add the line" \
         "'include_dir /etc/mosquitto/conf.d' (Debian's own file has it)" >&2
    exit 1
fi
install -d -m 0755 /etc/mosquitto/conf.d
sed "s|@DYNSEC_PLUGIN@|$PLUGIN|" "$SOURCE/deploy/mosquitto/signage.conf" >/etc/mosquitto/conf.d/signage.conf.new
chmod 0644 /etc/mosquitto/conf.d/signage.conf.new
mv -f /etc/mosquitto/conf.d/signage.conf.new /etc/mosquitto/conf.d/signage.conf
if [ ! -e "$DYNSEC" ]; then
    # First install (or a lost broker state): the server's admin account, everything else denied.
    # The password comes from the env file, so a re-created state matches the server's settings.
    (
        umask 077
        # shellcheck disable=SC2016  # $-strings here are Python, not shell
        "$VENV/bin/python" - "$ENV_FILE" "$DYNSEC" <<'PY'
import json, sys
from urllib.parse import unquote, urlsplit
from signage_server.transport.broker import initial_dynsec_config
url = next(line.split("=", 1)[1].strip() for line in open(sys.argv[1], encoding="utf-8")
           if line.startswith("SIGNAGE_MQTT_URL="))
parts = urlsplit(url)
config = initial_dynsec_config(unquote(parts.username or ""), unquote(parts.password or ""))
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(config, out, indent=1)
PY
    )
    chown mosquitto:mosquitto "$DYNSEC"
    chmod 0600 "$DYNSEC"
fi
systemctl enable mosquitto >/dev/null
# A certificate renewed by certbot reaches Mosquitto too (the hook acts only on the signage lineage).
install -d -m 0755 /etc/letsencrypt/renewal-hooks/deploy
install -m 0755 "$SOURCE/deploy/certbot/signage-deploy-hook.sh" /etc/letsencrypt/renewal-hooks/deploy/signage

echo "== nginx"
install -d -m 0755 /var/www/acme
sed "s|@SERVER_NAME@|$SERVER_NAME|g" "$SOURCE/deploy/nginx/signage.conf" >/etc/nginx/sites-available/signage
ln -sfn /etc/nginx/sites-available/signage /etc/nginx/sites-enabled/signage
nginx -t -q
systemctl enable nginx >/dev/null

echo "== systemd units"
for unit in signage-server.service signage-scheduler.service signage-backup.service signage-backup.timer; do
    install -m 0644 "$SOURCE/deploy/$unit" "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable signage-server.service signage-scheduler.service signage-backup.timer >/dev/null

if [ "$START" -eq 1 ]; then
    systemctl restart mosquitto
    # The API unit migrates the schema (ExecStartPre) before the scheduler starts.
    systemctl restart signage-server.service
    systemctl restart signage-scheduler.service
    systemctl start signage-backup.timer
    systemctl reload nginx
    echo "started; follow with: journalctl -u signage-server -u signage-scheduler -f"
else
    echo "installed and enabled; start with: systemctl restart mosquitto signage-server signage-scheduler nginx"
fi
echo "next: create the first admin: sudo signage-server create-user admin --role admin"
