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

# --- Kinesis: kinesalite for volume, kinesis-local (kinesis-mock)
# for resharding and ChildShards. Both are pinned in deploy/local/package.json
# and run in memory on loopback; logs go to /tmp.
LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KINESALITE_PORT=${SYNC_KINESALITE_PORT:-4567}
KINESIS_MOCK_PORT=${SYNC_KINESIS_MOCK_PORT:-4568}
KINESIS_MOCK_TLS_PORT=${SYNC_KINESIS_MOCK_TLS_PORT:-4569} # its default TLS port is 4567, kinesalite's

# kinesis_ready PORT: any HTTP answer (kinesalite and kinesis-mock both reply
# MissingAuthenticationTokenException to an unsigned request) means it serves.
kinesis_ready() {
  node -e '
    const req = require("http").request({host: "127.0.0.1", port: +process.argv[1], method: "POST",
      headers: {"X-Amz-Target": "Kinesis_20131202.ListStreams", "Content-Type": "application/x-amz-json-1.1"},
      timeout: 1000}, res => process.exit(res.statusCode > 0 ? 0 : 1));
    req.on("error", () => process.exit(1));
    req.on("timeout", () => { req.destroy(); process.exit(1); });
    req.end("{}");' "$1" 2>/dev/null
}

install_kinesis() {
  command -v node >/dev/null 2>&1 || { log "node is not installed (kinesalite needs Node.js)"; exit 1; }
  # Installed at the versions package.json pins? (node_modules may be stale.)
  if (cd "$LOCAL_DIR" && node -e '
    const want = require("./package.json").dependencies;
    for (const [name, v] of Object.entries(want))
      if (require("./node_modules/" + name + "/package.json").version !== v) process.exit(1);' 2>/dev/null); then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { log "npm is not installed"; exit 1; }
  log "installing kinesalite and kinesis-local from deploy/local/package-lock.json"
  npm ci --prefix "$LOCAL_DIR" --no-audit --no-fund --loglevel=error >&2 ||
    { log "npm ci failed"; exit 1; }
}

# wait_kinesis NAME PORT LOG PID
wait_kinesis() {
  for _ in $(seq 1 240); do
    kinesis_ready "$2" && return 0
    kill -0 "$4" 2>/dev/null || break
    sleep 0.25
  done
  log "$1 did not start on 127.0.0.1:$2; last lines of $3:"
  tail -n 20 "$3" >&2 || true
  exit 1
}

start_kinesalite() {
  if kinesis_ready "$KINESALITE_PORT"; then return 0; fi
  local logf=/tmp/cognitosync-kinesalite.log
  log "starting kinesalite on 127.0.0.1:$KINESALITE_PORT (log $logf)"
  # No --path: in memory. 0 ms state changes: new streams are ACTIVE at once.
  # The default account limit of 10 shards would stop a test run after a few
  # streams (Watermill's suite creates one per test).
  # kinesalite 3.3.3 rethrows a request's 'error' event, and Node 20 emits one
  # ("aborted", ECONNRESET) whenever a client drops a connection with a request
  # in flight (a cancelled context): that would kill the server mid-run. The
  # wrapper swallows exactly that error and lets every other one crash it.
  nohup node -e '
    process.on("uncaughtException", e => {
      if (e && e.code === "ECONNRESET" && e.message === "aborted") return;
      console.error(e); process.exit(1);
    });
    require(process.argv[1]); // cli.js reads its flags from process.argv.slice(2)
  ' "$LOCAL_DIR/node_modules/kinesalite/cli.js" \
    --host 127.0.0.1 --port "$KINESALITE_PORT" \
    --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000000 >"$logf" 2>&1 </dev/null &
  wait_kinesis kinesalite "$KINESALITE_PORT" "$logf" $!
}

start_kinesis_mock() {
  if kinesis_ready "$KINESIS_MOCK_PORT"; then return 0; fi
  local logf=/tmp/cognitosync-kinesis-local.log
  log "starting kinesis-local on 127.0.0.1:$KINESIS_MOCK_PORT (log $logf)"
  # It reads server.json (its TLS certificate) from the working directory.
  (cd "$LOCAL_DIR/node_modules/kinesis-local" &&
    KINESIS_MOCK_PLAIN_PORT=$KINESIS_MOCK_PORT KINESIS_MOCK_TLS_PORT=$KINESIS_MOCK_TLS_PORT \
    CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms SPLIT_SHARD_DURATION=0ms \
    MERGE_SHARDS_DURATION=0ms UPDATE_SHARD_COUNT_DURATION=0ms SHARD_LIMIT=100000 LOG_LEVEL=WARN \
    exec nohup node main.js >"$logf" 2>&1 </dev/null) &
  wait_kinesis kinesis-local "$KINESIS_MOCK_PORT" "$logf" $!
}

install_kinesis
start_kinesalite
log "kinesalite ready at http://127.0.0.1:$KINESALITE_PORT"
start_kinesis_mock
log "kinesis-local ready at http://127.0.0.1:$KINESIS_MOCK_PORT"
printf 'export SYNC_TEST_KINESIS_ENDPOINT=%q\n' "http://127.0.0.1:$KINESALITE_PORT"
printf 'export SYNC_TEST_KINESIS_MOCK_ENDPOINT=%q\n' "http://127.0.0.1:$KINESIS_MOCK_PORT"

# --- NATS JetStream (the nats sink's broker), from Debian's
# nats-server, on loopback with JetStream storage in /var/lib/nats-server.
NATS_PORT=${SYNC_NATS_PORT:-4222}

nats_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; }

start_nats() {
  if nats_ready; then return 0; fi
  if [ ! -x /usr/sbin/nats-server ]; then
    log "installing nats-server from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq nats-server >&2
  fi
  mkdir -p /var/lib/nats-server
  log "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (log /var/log/nats-server.log)"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd /var/lib/nats-server -l /var/log/nats-server.log >&2
  for _ in $(seq 1 60); do nats_ready && return 0; sleep 0.25; done
  log "nats-server did not start on 127.0.0.1:$NATS_PORT; last lines of /var/log/nats-server.log:"
  tail -n 20 /var/log/nats-server.log >&2 || true
  exit 1
}

start_nats
log "NATS JetStream ready at nats://127.0.0.1:$NATS_PORT"
printf 'export SYNC_TEST_NATS_URL=%q\n' "nats://127.0.0.1:$NATS_PORT"
