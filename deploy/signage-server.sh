#!/bin/sh
# /usr/local/bin/signage-server: the admin command with the production settings. Run by root it
# drops to the signage user, so files it creates (secret key, signing key) stay readable by the
# service; backup and restore stay root, to read the broker's state and restore file owners.
export SIGNAGE_ENV_FILE=/etc/signage/server.env
BIN=/opt/signage-server/venv/bin/signage-server
case "${1:-}" in
    backup|restore) ;;
    *)
        if [ "$(id -u)" -eq 0 ]; then
            exec runuser -u signage -- "$BIN" "$@"
        fi
        ;;
esac
exec "$BIN" "$@"
