#!/usr/bin/env bash
# Starts the real services the tests talk to, on loopback, installing them if
# this machine lacks them, and prints the environment the tests read.
# Usage: eval "$(deploy/local/services.sh)"
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

PG_URL=${SYNC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

start_postgres() {
  if pg_ready; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
  pg_ready || { log "PostgreSQL did not start"; exit 1; }
}

ensure_database() {
  # trust auth on loopback is how this machine ships; set it up if it is not.
  if ! psql "$PG_URL" -Atc 'select 1' >/dev/null 2>&1; then
    log "creating role/database for tests"
    su postgres -c "psql -Atc \"ALTER USER postgres PASSWORD NULL\"" >&2 || true
    su postgres -c "createdb test" >&2 2>/dev/null || true
    local hba
    hba=$(su postgres -c "psql -Atc 'show hba_file'")
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
      su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
    fi
  fi
  psql "$PG_URL" -Atc 'select 1' >/dev/null || { log "cannot connect to $PG_URL"; exit 1; }
}

start_postgres
ensure_database
log "PostgreSQL ready at $PG_URL"
printf 'export SYNC_TEST_POSTGRES_URL=%q\n' "$PG_URL"
