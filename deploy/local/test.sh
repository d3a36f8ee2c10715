#!/usr/bin/env bash
# The project's test command (README, .ci/run): starts the real services the
# tests need, then runs every Go test with the race detector. Under CI=true a
# test whose service is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A PostgreSQL server of this run's own, stopped and removed at the end.
COGNITOSYNC_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cognitosync-test-pg.XXXXXX")
export COGNITOSYNC_PG_DIR
trap 'deploy/local/services.sh stop-postgres; rm -rf "$COGNITOSYNC_PG_DIR"' EXIT
eval "$(deploy/local/services.sh)"
go vet ./...
# -race also turns on checkptr, which checks every unsafe.Pointer step;
# modernc.org's SQLite is C translated to Go and takes such steps in every
# row it reads, so checkptr made SQLite tests several times slower (the
# stream log's Watermill suite came near its 45 s read timeouts on a loaded
# machine). The race detector stays on everywhere; checkptr stays on for
# every package but modernc's.
go test -race -gcflags='modernc.org/...=-d=checkptr=0' -count=1 -timeout 20m ./... "$@"
