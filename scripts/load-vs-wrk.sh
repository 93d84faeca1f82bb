#!/usr/bin/env bash
# greenbatch load beside wrk (issue 21), against greenbatch serve's null model on this machine:
#   1. Maximum throughput: one server (--model synthetic, --max-queue large); ROUNDS rounds,
#      each wrk (closed loop: CONNECTIONS keep-alive connections, one thread, bench/serve/infer.lua's
#      small JSON request) for DURATION_S seconds, then greenbatch load --input null over the same
#      CONNECTIONS at a constant 1,000,000 requests/s (every request due at once: the pool is
#      never idle), as many requests as wrk answered. Prints each one's 2xx requests per second
#      and load / wrk (target: at least 0.5).
#   2. Coordinated omission: a server whose model stalls once (STALL_MODEL, by default 1 s at
#      the first batch 2 s or more after its first), greenbatch load at CO_RATE requests/s for
#      CO_SECONDS (open loop, latency from each scheduled time): its p50/p99/max and how many
#      requests were scheduled during the stall. Then a fresh server, the same stall, and wrk
#      for the same time over CO_CONNECTIONS connections (one thread each) with
#      bench/serve/raw-latency.lua. A closed loop sends its next request only when an answer
#      comes, so the stall delays its few requests in flight and the requests it would have sent
#      meanwhile are never sent: the p99 of what it measured (raw) hides the stall. wrk 4 then
#      corrects its histogram after the run (back-filling each long sample at the mean
#      interval); its corrected p99 estimates what load measures.
#
#   bash scripts/load-vs-wrk.sh [BUILD]      (BUILD: a build folder with greenbatch, default build)
#
# Environment: CONNECTIONS (64), DURATION_S (5), ROUNDS (3), STALL_MODEL
# (synthetic:base=1ms,stall=1s@2s), CO_RATE (200), CO_SECONDS (6), CO_CONNECTIONS (1), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
connections="${CONNECTIONS:-64}"
seconds="${DURATION_S:-5}"
rounds="${ROUNDS:-3}"
stall_model="${STALL_MODEL:-synthetic:base=1ms,stall=1s@2s}"
co_rate="${CO_RATE:-200}"
co_seconds="${CO_SECONDS:-6}"
co_connections="${CO_CONNECTIONS:-1}"
python="${PYTHON:-/usr/bin/python3}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
exe="$build/greenbatch"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
bench_setup_work
ulimit -n "$(ulimit -Hn)"

serve_args=(--meter none --idle-window 0s --max-queue 100000)
stop_server() {
  bench_stop_process "$bench_server_pid"
  bench_server_pid=""
}
# The last record of a load run's runs.jsonl, one field ("latency_s.p99").
field() {
  "$python" -c 'import json, sys
v = json.loads(open(sys.argv[1]).readlines()[-1])
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$1" "$2"
}
# greenbatch load against the running server, bounded in time: load URL OUTDIR ARGS...
run_load() {
  local out=$1
  shift
  timeout 300 "$exe" load "http://127.0.0.1:$bench_port" --model synthetic --input null --meter none \
    --idle-window 0s --out "$out" "$@" >/dev/null
}
# wrk against the running server, bounded in time: wrk_run THREADS CONNECTIONS SECONDS SCRIPT
wrk_run() {
  timeout $(($3 + 60)) wrk -t"$1" -c"$2" -d"$3s" -s "$4" "http://127.0.0.1:$bench_port"
}

bench_machine_line
echo "# greenbatch serve --model synthetic (null model, no BLAS involved); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo
echo "## maximum throughput: $connections connections, one thread each tool, ${seconds} s each, $rounds rounds (wrk, then load)"
bench_start_serve "$build" "$work/server.log" 30 --model synthetic "${serve_args[@]}" --out "$work/serve"
printf "%-6s %-14s %-14s %-10s %s\n" round "wrk req/s" "load req/s" "load/wrk" "load statuses"
ratios=()
for round in $(seq "$rounds"); do
  wrk_rps=$(wrk_run 1 "$connections" "$seconds" bench/serve/infer.lua | awk '/^Requests\/sec:/ {print $2}')
  [ -n "$wrk_rps" ] || { echo "wrk printed no Requests/sec" >&2; exit 1; }
  n=$("$python" -c "print(max(1000, int(float('$wrk_rps') * $seconds)))")
  run_load "$work/load$round" --rate 1000000 --requests "$n" --connections "$connections"
  load_rps=$(field "$work/load$round/runs.jsonl" throughput_rps)
  ratio=$("$python" -c "print(f'{$load_rps / $wrk_rps:.2f}')")
  ratios+=("$ratio")
  printf "%-6s %-14.0f %-14.0f %-10s %s\n" "$round" "$wrk_rps" "$load_rps" "$ratio" \
    "$(field "$work/load$round/runs.jsonl" statuses | tr -d "'{} ")"
done
stop_server
echo "median load/wrk: $("$python" -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}")"

echo
echo "## coordinated omission: --model $stall_model, ${co_seconds} s"
n=$("$python" -c "print(int($co_rate * $co_seconds) + 1)")
bench_start_serve "$build" "$work/server.log" 30 --model "$stall_model" "${serve_args[@]}" --out "$work/serve-co1"
run_load "$work/co" --rate "$co_rate" --requests "$n" --connections 1000 --requests-out "$work/co.csv"
stop_server
"$python" - "$work/co/runs.jsonl" "$work/co.csv" "$stall_model" "$co_rate" <<'PY'
import csv, json, re, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
rows = list(csv.DictReader(open(sys.argv[2])))
value, unit = re.search(r"stall=([\d.]+)(ns|us|ms|s)@", sys.argv[3]).groups()
stall_s = float(value) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
sched = [float(x["scheduled_s"]) for x in rows]
lat = [float(x["done_s"]) - float(x["scheduled_s"]) for x in rows if x["status"].startswith("2")]
late = [float(x["done_s"]) - float(x["scheduled_s"]) for x in rows]
first = next((i for i, x in enumerate(late) if x >= stall_s / 2), None)
during = 0 if first is None else sum(sched[first] <= s < sched[first] + stall_s for s in sched)
l = r["latency_s"]
print(f"load  (open loop, {sys.argv[4]}/s): {len(rows)} requests, {r['statuses']['2xx']} x 2xx; latency from the schedule "
      f"p50 {l['p50']*1e3:.1f} ms, p99 {l['p99']*1e3:.1f} ms, max {l['max']*1e3:.1f} ms; "
      f"{during} requests scheduled during the stall, {sum(x >= 0.1 for x in lat)} waited 100 ms or more")
PY
bench_start_serve "$build" "$work/server.log" 30 --model "$stall_model" "${serve_args[@]}" --out "$work/serve-co2"
wrk_run "$co_connections" "$co_connections" "$co_seconds" bench/serve/raw-latency.lua >"$work/wrk-co.txt"
stop_server
"$python" - "$work/wrk-co.txt" "$co_connections" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
n = re.search(r"(\d+) requests in", t).group(1)
raw = dict(re.findall(r"raw latency (p50|p99|max): ([\d.]+) ms", t))
fixed = dict(re.findall(r"^latency (p99): ([\d.]+) ms", t, re.M))
print(f"wrk   (closed loop, {sys.argv[2]} connection(s)): {n} requests; latency from each send, as measured "
      f"p50 {float(raw['p50']):.1f} ms, p99 {float(raw['p99']):.1f} ms, max {float(raw['max']):.1f} ms; "
      f"wrk's corrected p99 {float(fixed['p99']):.1f} ms")
PY
