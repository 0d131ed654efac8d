#!/usr/bin/env bash
# Runs the comparison benchmarks in PASSES interleaved passes (default 10):
# each pass runs every benchmark once, so the implementations of a group run
# seconds apart and a burst of load on the machine hits a pass, not one
# library. Then it prints, from this one run, the medians of the per-pass
# ratios to the floor with their spread, auth against each library (a tie
# when the per-pass ratios straddle 1), and auth's time minus the raw
# signature check. BENCHTIME is each benchmark's time per pass (default
# 300ms); a full run of 10 passes takes about 6 minutes on 2 cores.
# Usage: bash bench/run.sh [PASSES] [BENCHTIME] [BENCH regexp]
set -euo pipefail
cd "$(dirname "$0")"
passes=${1:-10}
benchtime=${2:-300ms}
pattern=${3:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
for i in $(seq "$passes"); do
  echo "pass $i/$passes" >&2
  "$tmp/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" >>"$tmp/out"
done
echo "## Medians of $passes interleaved passes, -benchtime $benchtime"
echo
go run ./ratios <"$tmp/out"
echo
echo "go: $(go version | cut -d' ' -f3-); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); cores: $(nproc); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
