#!/usr/bin/env bash
# Creates (or updates) the PostgreSQL role and database for the signage server, on this host's
# cluster, and prints the SIGNAGE_DATABASE_URL to put in /etc/signage/server.env. Idempotent:
# an existing role gets the new password, an existing database is left as it is.
#
# usage: sudo deploy/postgres/setup.sh [--role NAME] [--database NAME] [--password-file FILE]
#   --password-file FILE  read the password from FILE (default: generate one)
set -euo pipefail

ROLE=signage
DATABASE=signage
PASSWORD_FILE=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --role) ROLE="$2"; shift 2 ;;
        --database) DATABASE="$2"; shift 2 ;;
        --password-file) PASSWORD_FILE="$2"; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (sudo $0)" >&2
    exit 1
fi
# Names go into SQL as identifiers: keep them to plain lowercase words.
for name in "$ROLE" "$DATABASE"; do
    if ! [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
        echo "error: '$name' is not a plain lowercase PostgreSQL name" >&2
        exit 2
    fi
done
if ! command -v psql >/dev/null; then
    echo "error: psql not found; apt-get install postgresql" >&2
    exit 1
fi

if [ -n "$PASSWORD_FILE" ]; then
    PASSWORD="$(tr -d '\n' <"$PASSWORD_FILE")"
else
    # URL-safe, so it can sit in a database URL without escaping.
    PASSWORD="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
fi

as_postgres() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# psql variables (:'pw', :"role") quote the values: no shell text is ever pasted into SQL. The password
# goes in on standard input (a \set line), never on psql's command line, where `ps` would show it.
psql_quoted() {
    local value="${1//\\/\\\\}"
    printf '%s' "${value//\'/\'\'}"
}
{
    printf '%s\n' "\\set pw '$(psql_quoted "$PASSWORD")'"
    cat <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
SQL
} | as_postgres -d postgres -v role="$ROLE"
as_postgres -d postgres -v role="$ROLE" -v db="$DATABASE" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')\gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";
SQL
# PostgreSQL 15+ no longer lets everyone create in public; the owner needs it for migrations.
as_postgres -d "$DATABASE" -v role="$ROLE" <<'SQL'
ALTER SCHEMA public OWNER TO :"role";
SQL

echo "SIGNAGE_DATABASE_URL=postgresql+psycopg://${ROLE}:${PASSWORD}@127.0.0.1:5432/${DATABASE}"
