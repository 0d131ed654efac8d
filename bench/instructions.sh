#!/usr/bin/env bash
# Instructions per operation, counted by valgrind's callgrind: repeatable
# where ns/op on a shared machine is not. Each benchmark runs twice under
# callgrind, N and 2N times (default N=2000); the difference of the two
# totals over N is the cost of one operation, setup cancelled out (the
# bench's keys are the fixed ones in ../testdata). The garbage collector is
# off (GOGC=off): its work depends on timing and would make the counts swing
# by 10 %; what a request leaves to it is in the allocs/op of run.sh.
# Needs valgrind.
# Usage: bash bench/instructions.sh [N] BENCHMARK...   (full names, such as
#        Valid/HS256/auth or Signature/ES256/raw)
set -euo pipefail
cd "$(dirname "$0")"
n=2000
if [[ ${1:-} =~ ^[0-9]+$ ]]; then n=$1; shift; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
count() { # name iterations → instructions
  local re
  re=$(awk -F/ '{printf "^Benchmark%s$", $1; for (i = 2; i <= NF; i++) printf "/^%s$", $i}' <<<"$1")
  GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$tmp/bench.test" -test.run '^$' -test.bench "$re" -test.benchtime "${2}x" 2>&1 >/dev/null |
    sed -n 's/.*Collected : //p' | grep . || { echo "callgrind failed on $1" >&2; exit 1; }
}
printf '| benchmark | instructions/op |\n|---|---:|\n'
for name in "$@"; do
  a=$(count "$name" "$n")
  b=$(count "$name" $((2 * n)))
  printf '| %s | %d |\n' "$name" $(((b - a) / n))
done
