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
go test -race -count=1 -timeout 20m ./... "$@"
