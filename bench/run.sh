#!/usr/bin/env bash
# Runs the comparison benchmarks COUNT times (default 10), then prints
# benchstat's summary and the ratios to the floor, all from this one run.
# Usage: bash bench/run.sh [COUNT] [BENCHTIME]
set -euo pipefail
cd "$(dirname "$0")"
count=${1:-10}
benchtime=${2:-1s}
out=$(mktemp)
go test -run '^$' -bench . -benchtime "$benchtime" -count "$count" . | tee "$out" >/dev/null
echo "## benchstat"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out" || echo "(benchstat unavailable)"
echo
echo "## Ratios to the floor (medians of $count runs)"
go run ./ratios < "$out"
echo
echo "go: $(go version | cut -d' ' -f3-); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); cores: $(nproc)"
rm -f "$out"
