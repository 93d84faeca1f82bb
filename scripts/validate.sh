#!/usr/bin/env bash
# Validates the simulator against real runs: profiles a model, then runs a set of
# configurations for real and simulated, and prints the error of each metric.
#   scripts/validate.sh [OUT_DIR]
# Environment: MODEL (shufflenet_v2_x0_5), DEVICE (cpu), METER (modelled:idle=10W,busy=30W on a
# machine without a readable sensor; rapl or nvml where there is one), RATES ("16 32"),
# POLICIES ("fixed:4 fixed:8 greedy:32 timeout:8:100ms"), REQUESTS (400), REPS (3: each
# configuration runs REPS times for real and is simulated with the same seeds; the means are
# compared, and the real runs' own spread is printed beside them), THREADS (1: LibTorch's CPU
# intra-op threads; see docs/measurements/simulator.md for why one), MIN_WINDOW (6s: how long
# the profile measures each batch size back to back, and each idle time), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/validate}"
model="${MODEL:-shufflenet_v2_x0_5}"
device="${DEVICE:-cpu}"
meter="${METER:-modelled:idle=10W,busy=30W}"
rates="${RATES:-16 32}"
policies="${POLICIES:-fixed:4 fixed:8 greedy:32 timeout:8:100ms}"
requests="${REQUESTS:-400}"
reps="${REPS:-3}"
threads="${THREADS:-1}"
min_window="${MIN_WINDOW:-6s}"
gb="./${BUILD:-build}/greenbatch"
mkdir -p "$out"
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"
"$gb" profile --model "$model" --device "$device" --threads "$threads" --meter "$meter" --batch-sizes 1,2,4,8,16,32 --min-window "$min_window" \
  --warmup-batches 16 --warmup-batch-size 8 --out "$out/profile.json"
for seed in $(seq 1 "$reps"); do
  for rate in $rates; do
    for policy in $policies; do
      "$gb" run --model "$model" --device "$device" --threads "$threads" --meter "$meter" --rate "$rate" --arrivals jitter:0.2 --seed "$seed" \
        --policy "$policy" --requests "$requests" --warmup-batches 16 --warmup-batch-size 8 --out "$out/real" >/dev/null
      "$gb" simulate --profile "$out/profile.json" --rate "$rate" --arrivals jitter:0.2 --policy "$policy" --seed "$seed" \
        --requests "$requests" --out "$out/sim" >/dev/null 2>&1
    done
  done
done
"${PYTHON:-python3}" - "$out/real/runs.jsonl" "$out/sim/runs.jsonl" <<'PY'
import json, sys
from collections import defaultdict
def load(path):
    groups = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        groups[(r["rate_hz"], r["policy"])].append(r)
    return groups
real, sim = load(sys.argv[1]), load(sys.argv[2])
mean = lambda xs: sum(xs) / len(xs)
def err(a, b):
    return (a - b) / b * 100 if b else float("nan")
print("| rate | policy | runs | avg batch real/sim | J/image real | sim | error | p99 real (spread) | sim | error | mean latency error |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
worst = {"energy": 0.0, "p99": 0.0}
for key, rs in real.items():
    ss = sim[key]
    e_r, e_s = mean([r["energy"]["per_image_j"] for r in rs]), mean([s["energy"]["per_image_j"] for s in ss])
    p_real = [r["latency_s"]["p99"] for r in rs]
    p_r, p_s = mean(p_real), mean([s["latency_s"]["p99"] for s in ss])
    m_r, m_s = mean([r["latency_s"]["mean"] for r in rs]), mean([s["latency_s"]["mean"] for s in ss])
    b_r, b_s = mean([r["avg_batch_size"] for r in rs]), mean([s["avg_batch_size"] for s in ss])
    ee, pe = err(e_s, e_r), err(p_s, p_r)
    worst["energy"] = max(worst["energy"], abs(ee)); worst["p99"] = max(worst["p99"], abs(pe))
    spread = f"{min(p_real)*1e3:.1f}..{max(p_real)*1e3:.1f}"
    print(f"| {key[0]:g} | {key[1]} | {len(rs)} | {b_r:.2f} / {b_s:.2f} | {e_r:.4g} | {e_s:.4g} | {ee:+.2f} % | "
          f"{p_r*1e3:.1f} ms ({spread}) | {p_s*1e3:.1f} ms | {pe:+.1f} % | {err(m_s, m_r):+.1f} % |")
print(f"\nworst energy error {worst['energy']:.2f} % (target 5 %), worst p99 error {worst['p99']:.1f} % (target 10 %)")
PY
