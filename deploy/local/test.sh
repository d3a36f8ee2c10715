#!/usr/bin/env bash
# The project's test command (README, .ci/run): starts the real services the
# tests need, then runs every Go test with the race detector. Under CI=true a
# test whose service is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(deploy/local/services.sh)"
go vet ./...
exec go test -race -count=1 -timeout 20m ./... "$@"
