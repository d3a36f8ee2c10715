#!/usr/bin/env bash
# Starts the real services the tests talk to, on loopback, installing them if
# this machine lacks them, and prints the environment the tests read.
# Usage: eval "$(deploy/local/services.sh)"
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

# --- PostgreSQL: a throwaway server of the tests' own (initdb into a
# directory of its own, a free loopback port, trust authentication). The
# machine's server, if any, is never touched. The server and its data live in
# $COGNITOSYNC_PG_DIR (default /tmp/cognitosync-postgres-<uid>, reused by the
# next call); test.sh gives it a fresh directory and stops it afterwards with
# `services.sh stop-postgres`. As root (CI), initdb and the server run as the
# postgres user (or nobody) through setpriv/runuser, since initdb refuses
# root. Binaries are found on PATH, in Debian's /usr/lib/postgresql/*/bin or
# in Homebrew's prefixes on macOS (/opt/homebrew/opt/postgresql@*/bin,
# /usr/local/opt/postgresql@*/bin); CI installs Debian's postgresql package.
PG_DIR=${COGNITOSYNC_PG_DIR:-${TMPDIR:-/tmp}/cognitosync-postgres-$(id -u)}
PG_DIR=${PG_DIR%/}

pg_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) \
    $(ls -d /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin 2>/dev/null | sort -V -r) \
    /opt/homebrew/bin /usr/local/bin; do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

# pg_tool BINDIR NAME: a PostgreSQL client program, from BINDIR or PATH.
pg_tool() {
  if [ -x "$1/$2" ]; then echo "$1/$2"; return; fi
  local d
  d=$(dirname "$(readlink -f "$1/pg_ctl")")
  if [ -x "$d/$2" ]; then echo "$d/$2"; return; fi
  command -v "$2"
}

# as_pg_user CMD...: runs CMD as the user that owns the cluster.
as_pg_user() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$PG_USER" --regid="$PG_GROUP" --clear-groups -- "$@"
  else
    runuser -u "$PG_USER" -- "$@"
  fi
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

start_postgres() {
  local bin
  if ! bin=$(pg_bindir); then
    if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing PostgreSQL from Debian"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq postgresql >&2
      bin=$(pg_bindir)
    else
      log "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install them"
      log "  (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@17) and run this again"
      exit 1
    fi
  fi
  PG_USER=$(id -un) PG_GROUP=$(id -gn)
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then PG_USER=postgres PG_GROUP=$(id -gn postgres); else PG_USER=nobody PG_GROUP=$(id -gn nobody); fi
  fi
  local port
  if [ -f "$PG_DIR/port" ]; then
    port=$(cat "$PG_DIR/port")
    if "$(pg_tool "$bin" pg_isready)" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then PG_PORT=$port; return 0; fi
  fi
  mkdir -p "$PG_DIR"
  chmod 700 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown "$PG_USER:$PG_GROUP" "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "creating a throwaway PostgreSQL cluster in $PG_DIR/data ($bin)"
    as_pg_user "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
      { log "initdb failed:"; cat "$PG_DIR/initdb.log" >&2; exit 1; }
  fi
  for _ in 1 2 3 4 5; do
    port=$(free_port) || break
    if as_pg_user "$bin/pg_ctl" start -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null 2>&1; then
      echo "$port" >"$PG_DIR/port"
      PG_PORT=$port
      "$(pg_tool "$bin" psql)" -h 127.0.0.1 -p "$port" -U postgres -Atqc 'CREATE DATABASE test' postgres >/dev/null 2>&1 || true
      return 0
    fi
  done
  log "PostgreSQL did not start; last lines of $PG_DIR/server.log:"
  tail -n 20 "$PG_DIR/server.log" >&2 || true
  exit 1
}

stop_postgres() {
  local bin
  bin=$(pg_bindir) || return 0
  [ -f "$PG_DIR/data/PG_VERSION" ] || return 0
  PG_USER=$(stat -c %U "$PG_DIR" 2>/dev/null || stat -f %Su "$PG_DIR") PG_GROUP=$(id -gn "$PG_USER")
  as_pg_user "$bin/pg_ctl" stop -D "$PG_DIR/data" -m immediate -w >/dev/null 2>&1 || true
  rm -f "$PG_DIR/port"
}

if [ "${1:-}" = stop-postgres ]; then
  stop_postgres
  exit 0
fi

start_postgres
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/test?sslmode=disable"
log "PostgreSQL ready at $PG_URL (data in $PG_DIR; stop: deploy/local/services.sh stop-postgres)"
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

# --- NATS JetStream (the nats sink's broker), from Debian's nats-server
# (CI installs it), on loopback with JetStream storage and its log in
# $COGNITOSYNC_NATS_DIR (default /tmp/cognitosync-nats-<uid>).
NATS_PORT=${SYNC_NATS_PORT:-4222}
NATS_DIR=${COGNITOSYNC_NATS_DIR:-${TMPDIR:-/tmp}/cognitosync-nats-$(id -u)}

nats_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; }

start_nats() {
  if nats_ready; then return 0; fi
  local bin
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  if [ ! -x "$bin" ]; then
    if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing nats-server from Debian"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq nats-server >&2
    else
      log "nats-server is not installed (Debian: apt-get install nats-server; macOS: brew install nats-server)"
      exit 1
    fi
  fi
  mkdir -p "$NATS_DIR"
  log "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (storage and log in $NATS_DIR)"
  nohup "$bin" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" -l "$NATS_DIR/nats-server.log" >/dev/null 2>&1 </dev/null &
  for _ in $(seq 1 60); do nats_ready && return 0; sleep 0.25; done
  log "nats-server did not start on 127.0.0.1:$NATS_PORT; last lines of $NATS_DIR/nats-server.log:"
  tail -n 20 "$NATS_DIR/nats-server.log" >&2 || true
  exit 1
}

start_nats
log "NATS JetStream ready at nats://127.0.0.1:$NATS_PORT"
printf 'export SYNC_TEST_NATS_URL=%q\n' "nats://127.0.0.1:$NATS_PORT"

# --- The AWS CLI v2 (Debian's awscli) for the black-box test of syncd.
# Another `aws` may come first on PATH (e.g. a pyenv shim of v1): use
# Debian's. CI installs it.
AWS_CLI=${SYNC_TEST_AWS_CLI:-/usr/bin/aws}
if [ ! -x "$AWS_CLI" ] && [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing the AWS CLI from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq awscli >&2
fi
if [ -x "$AWS_CLI" ]; then
  log "AWS CLI: $("$AWS_CLI" --version 2>&1)"
  printf 'export SYNC_TEST_AWS_CLI=%q\n' "$AWS_CLI"
else
  log "no AWS CLI at $AWS_CLI (Debian: apt-get install awscli); its black-box test will skip (fail under CI=true)"
fi

# --- The official AWS SDK for JavaScript credential providers (v2
# CognitoIdentityCredentials, v3 fromCognitoIdentityPool) and the Cognito
# Sync Manager (amazon-cognito-js), pinned in deploy/local/js-clients, for
# the logged-in users' black-box test (syncapi/e2e/js_test.go).
JS_DIR="$LOCAL_DIR/js-clients"
if (cd "$JS_DIR" && node -e '
  const want = require("./package.json").dependencies;
  for (const [name, v] of Object.entries(want))
    if (require("./node_modules/" + name + "/package.json").version !== v) process.exit(1);' 2>/dev/null); then
  printf 'export SYNC_TEST_JS_CLIENTS=%q\n' "$JS_DIR"
elif command -v npm >/dev/null 2>&1; then
  log "installing the AWS SDK for JavaScript clients from deploy/local/js-clients/package-lock.json"
  if npm ci --prefix "$JS_DIR" --no-audit --no-fund --loglevel=error >&2; then
    printf 'export SYNC_TEST_JS_CLIENTS=%q\n' "$JS_DIR"
  else
    log "npm ci of the JavaScript clients failed; their test will skip (fail under CI=true)"
  fi
fi
