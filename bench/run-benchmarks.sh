#!/usr/bin/env bash
# Builds greenbatch's benchmarks (RelWithDebInfo, the project default; BUILD_TYPE=Release to
# change) and runs all three, as recorded in docs/measurements/core-harness.md:
#   bench_harness (pipeline throughput), bench_rate_accuracy (real clock), bench_memory (peak RSS).
# Usage: bench/run-benchmarks.sh [BUILD_DIR [CMAKE_ARGS...]]
#   BUILD_DIR defaults to build (relative to the current directory); CMAKE_ARGS go to the
#   configure step, e.g. -DGREENBATCH_BUILD_TESTS=OFF for a folder used only for benchmarks.
# Exits non-zero if any benchmark fails its target. Run it on an otherwise idle machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
shift || true

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DGREENBATCH_BUILD_BENCH=ON "$@"
cmake --build "$build" --target bench_harness bench_rate_accuracy bench_memory

status=0
for b in bench_harness bench_rate_accuracy bench_memory; do
  echo
  echo "== $b"
  "$build/bench/$b" || status=1
done
exit "$status"
