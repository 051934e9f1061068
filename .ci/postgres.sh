#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the registry tests and print its URL.
#
#   eval "$(.ci/postgres.sh)"    # exports CHILDGUARD_TEST_PG_URL
#
# Installs Debian's postgresql if missing, starts (or creates) a cluster on 127.0.0.1:5432,
# sets a password for the `childguard` role and creates the `childguard_test` database.
# Diagnostics go to stderr; the only line on stdout is the export.
set -euo pipefail
PORT="${CHILDGUARD_PG_PORT:-5432}"
DB="childguard_test"
ROLE="childguard"
PASS="childguard-test"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
fi

VER="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main"' | grep -q .; then
  $SUDO pg_createcluster "$VER" main --port "$PORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  $SUDO pg_ctlcluster "$VER" main start >&2
fi

psql_su() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -p "$PORT" "$@"
  else
    sudo -u postgres psql -v ON_ERROR_STOP=1 -q -p "$PORT" "$@"
  fi
}
for _ in $(seq 1 30); do
  if psql_su -c 'select 1' >/dev/null 2>&1; then break; fi
  sleep 1
done
if [ -z "$(psql_su -tAc "select 1 from pg_roles where rolname = '$ROLE'")" ]; then
  psql_su -c "create role $ROLE login createdb password '$PASS'" >&2
else
  psql_su -c "alter role $ROLE login createdb password '$PASS'" >&2
fi
if [ -z "$(psql_su -tAc "select 1 from pg_database where datname = '$DB'")" ]; then
  psql_su -c "create database $DB owner $ROLE" >&2
fi
URL="postgresql+psycopg://$ROLE:$PASS@127.0.0.1:$PORT/$DB"
echo "export CHILDGUARD_TEST_PG_URL='$URL'"
