.PHONY: test run build bench fuzz

# Starts PostgreSQL (installing it if missing) and runs every test.
test:
	deploy/local/test.sh

# Runs syncd on the embedded default: SQLite in ./data, on 127.0.0.1:8080.
run:
	go run ./cmd/syncd --pool us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861

# Builds syncd, worker and lambda into bin/, stamped with VERSION (--version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/cognitosync/cognitosync/internal/buildinfo.version=$(VERSION)" -o bin/ ./cmd/...

# Benchmarks with their same-run baselines (see README).
bench:
	eval "$$(deploy/local/services.sh)" && go test -run '^$$' -bench . -benchtime 3s ./...

# Runs every fuzz target (each func Fuzz* in a _test.go) for FUZZTIME each;
# new corpus entries that fail land in the package's testdata/fuzz.
FUZZTIME ?= 20s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' .); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$(dirname $$f) $$t for $(FUZZTIME)"; \
	    go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
	  done; \
	done
