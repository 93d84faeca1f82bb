#!/usr/bin/env bash
# greenbatch serve's HTTP path with the null model (issue 20's speed targets), measured with wrk:
#   1. 64 keep-alive connections, a small JSON body (bench/serve/infer.lua): inferences per
#      second (target: at least 30,000 on a 2-core machine) and wrk's p50/p99 latency;
#   2. 1,000 concurrent keep-alive connections held for the whole test: every response a 200,
#      no socket error (wrk's "Socket errors" line is absent when there are none).
# The server's own lifetime record (latency from arrival to answer, batches) is printed too.
#
#   bash scripts/serve-bench.sh [BUILD]      (BUILD: a build folder with greenbatch, default build)
#
# Environment: DURATION (10s), POLICY (greedy:128), WRK_THREADS (1: wrk and the server share the
# machine's cores; the server runs one io thread and one inference thread).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
duration="${DURATION:-10s}"
policy="${POLICY:-greedy:128}"
wrk_threads="${WRK_THREADS:-1}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
bench_setup_work
ulimit -n "$(ulimit -Hn)"  # wrk's 1,000 connections need more descriptors than the usual 1024

bench_machine_line
echo "# greenbatch serve --model synthetic --policy $policy --meter none; wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $wrk_threads thread(s), $duration"

start_server() {
  bench_start_serve "$build" "$work/server.log" 30 --model synthetic --policy "$policy" --meter none --idle-window 0s \
    --max-queue 100000 --out "$work/out"
  port=$bench_port
}
stop_server() {
  kill -TERM "$bench_server_pid"
  wait "$bench_server_pid" || { echo "the server exited with an error" >&2; exit 1; }
  bench_server_pid=""
  sed -n '/appended to/d; s/^  /  server: /p' "$work/server.log"
}

for connections in 64 1000; do
  start_server
  echo
  echo "## $connections connections"
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" -s bench/serve/infer.lua "http://127.0.0.1:$port" |
    grep -E "requests in|Requests/sec|Socket errors|Non-2xx|responses 400|latency p|connections"
  stop_server
done
