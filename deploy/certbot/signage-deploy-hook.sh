#!/usr/bin/env bash
# Certbot deploy hook: hands a renewed certificate to Mosquitto (players' TLS on 8883) and nginx.
# install-server.sh installs it as /etc/letsencrypt/renewal-hooks/deploy/signage; certbot runs it after
# each successful renewal with RENEWED_LINEAGE=/etc/letsencrypt/live/<name>. It acts only when
# /etc/ssl/signage/fullchain.pem is a link into that lineage (docs/operations.md, "TLS certificates"),
# so other certificates on the host are left alone.
set -euo pipefail

TLS_DIR="${SIGNAGE_TLS_DIR:-/etc/ssl/signage}"
CERTS="${SIGNAGE_MOSQUITTO_CERTS:-/etc/mosquitto/certs}"
GROUP="${SIGNAGE_MOSQUITTO_GROUP:-mosquitto}"
SYSTEMCTL="${SIGNAGE_SYSTEMCTL:-systemctl}"

if [ -z "${RENEWED_LINEAGE:-}" ]; then
    echo "error: RENEWED_LINEAGE is not set; certbot sets it when it runs a deploy hook" >&2
    exit 2
fi
lineage="$(readlink -f "$RENEWED_LINEAGE")"
current="$(readlink -f "$TLS_DIR/fullchain.pem" || true)"
case "$current" in
    "$lineage"/*) ;;
    *) exit 0 ;;  # another certificate on this host
esac

# Mosquitto reads copies it may open as group mosquitto; written beside and renamed, never half-written.
install -m 0640 -o root -g "$GROUP" "$lineage/fullchain.pem" "$CERTS/signage.crt.new"
install -m 0640 -o root -g "$GROUP" "$lineage/privkey.pem" "$CERTS/signage.key.new"
mv -f "$CERTS/signage.crt.new" "$CERTS/signage.crt"
mv -f "$CERTS/signage.key.new" "$CERTS/signage.key"
# A restart, not a reload: Mosquitto 2.0 loads listener certificates at start. Players reconnect by themselves.
"$SYSTEMCTL" restart mosquitto.service
"$SYSTEMCTL" reload nginx.service
echo "signage: renewed certificate from $lineage handed to Mosquitto and nginx"
