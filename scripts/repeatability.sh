#!/usr/bin/env bash
# How far this machine reproduces a run: the same configurations, same seed, same schedule,
# run for real N times, the configurations alternated within each pass so that they share the
# same stretch of time. Nothing is simulated. Each metric's spread over identical runs is the
# floor under any prediction's error here: a simulator cannot be closer to a run than the run
# is to itself.
#   scripts/repeatability.sh [OUT_DIR]
# Environment: MODEL (shufflenet_v2_x0_5), DEVICE (cpu), METER (modelled:idle=10W,busy=30W),
# THREADS (1), CONFIGS ("16:greedy:32 32:fixed:8 16:timeout:8:100ms": RATE:POLICY each), N (5:
# passes), REQUESTS (1200), SEED (1: every run's), BUILD (build), PIN (a CPU list for taskset).
# Arrivals are jittered (F = 0.2), as in scripts/validate.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/repeatability}"
configs="${CONFIGS:-16:greedy:32 32:fixed:8 16:timeout:8:100ms}"
passes="${N:-5}"
if [ -e "$out/runs.jsonl" ]; then
  echo "repeatability.sh: $out already holds runs; give a new OUT_DIR" >&2
  exit 2
fi
mkdir -p "$out"
source scripts/validation-runs.sh  # the same runs as scripts/validate.sh: real_run
for pass in $(seq 1 "$passes"); do
  for config in $configs; do
    real_run "${config%%:*}" "${config#*:}" "${SEED:-1}" "${REQUESTS:-1200}" "$out"
    echo "pass $pass: $config done" >&2
  done
done
"${PYTHON:-python3}" - "$out/runs.jsonl" <<'PY'
import json, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["rate_hz"], r["policy"])].append(r)
metrics = (("J/image", lambda r: r["energy"]["per_image_j"], 5.0, "{:.4f}"),
           ("p99", lambda r: r["latency_s"]["p99"] * 1e3, 10.0, "{:.1f} ms"),
           ("service p90", lambda r: r["service_s"]["p90"] * 1e3, None, "{:.1f} ms"))
print("Identical runs (same seed, same schedule), in the order they ran. Spread: (max - min) / mean.")
print("Off the others: each run against the mean of the other runs of its configuration, as if they")
print("were a perfect prediction of it; how many of those miss the issue's target, and the worst.\n")
print("| rate | policy | metric | runs | spread | off the others: misses | worst |")
print("|---|---|---|---|---|---|---|")
for (rate, policy), rs in runs.items():
    for name, get, target, form in metrics:
        v = [get(r) for r in rs]
        m = sum(v) / len(v)
        off = [(x - (sum(v) - x) / (len(v) - 1)) / ((sum(v) - x) / (len(v) - 1)) * 100 for x in v] if len(v) > 1 else []
        worst = max(off, key=abs) if off else float("nan")
        misses = f"{sum(abs(o) > target for o in off)} of {len(off)} over {target:g} %" if target else "-"
        print(f"| {rate:g} | {policy} | {name} | " + ", ".join(form.format(x) for x in v) +
              f" | {(max(v) - min(v)) / m * 100:.1f} % | {misses} | {worst:+.1f} % |")
PY
