#!/usr/bin/env bash
# greenbatch load's pace against greenbatch serve's null model (issue 21's accuracy targets):
# at RATES (default 1000 and 10000 requests/s, constant arrivals, DURATION_S seconds of schedule each), the
# achieved send rate against the scheduled one (target: within 0.1 %), the send lateness p50/p99
# (target at 1,000/s: p99 at most 200 us) and every request's outcome.
#
#   bash scripts/load-bench.sh [BUILD]      (BUILD: a build folder with greenbatch, default build)
#
# Environment: RATES ("1000 10000"), DURATION_S (10), CONNECTIONS (64), PYTHON (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
rates="${RATES:-1000 10000}"
seconds="${DURATION_S:-10}"
connections="${CONNECTIONS:-64}"
python="${PYTHON:-/usr/bin/python3}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
exe="$build/greenbatch"
bench_setup_work
ulimit -n "$(ulimit -Hn)"

bench_machine_line
echo "# greenbatch serve --model synthetic --policy greedy:128 --meter none; greenbatch load --input null, constant arrivals, $seconds s each, $connections connections"
bench_start_serve "$build" "$work/server.log" 30 --model synthetic --policy greedy:128 --meter none --idle-window 0s \
  --max-queue 100000 --out "$work/serve"
port=$bench_port

printf "%-10s %-10s %-16s %-12s %-14s %-14s %-14s %s\n" rate requests "achieved rate" "rate error" "send late p50" \
  "send late p99" "latency p99" statuses
for rate in $rates; do
  n=$("$python" -c "print(int($rate * $seconds) + 1)")
  "$exe" load "http://127.0.0.1:$port" --model synthetic --input null --rate "$rate" --requests "$n" \
    --connections "$connections" --meter none --idle-window 0s --out "$work/load$rate" >/dev/null
  "$python" - "$work/load$rate/runs.jsonl" "$rate" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
rate = float(sys.argv[2])
late, lat = r["send_late_s"], r["latency_s"]
err = (r["achieved_rate_hz"] - rate) / rate * 100
cells = [f"{rate:g}", str(r["requests"]), f"{r['achieved_rate_hz']:.3f}", f"{err:+.4f} %", f"{late['p50']*1e6:.1f} us",
         f"{late['p99']*1e6:.1f} us", f"{lat['p99']*1e3:.3f} ms"]
print("".join(c.ljust(w) for c, w in zip(cells, [11, 11, 17, 13, 15, 15, 15])) + json.dumps(r["statuses"], sort_keys=True))
PY
done
