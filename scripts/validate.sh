#!/usr/bin/env bash
# Validates the simulator against real runs: profiles a model, then runs a set of
# configurations for real and simulated, and prints the error of each metric.
#   scripts/validate.sh [OUT_DIR]
# Environment: MODEL (shufflenet_v2_x0_5), DEVICE (cpu), METER (modelled:idle=10W,busy=30W on a
# machine without a readable sensor; rapl or nvml where there is one), RATES ("16 32"),
# POLICIES ("fixed:4 fixed:8 greedy:32 timeout:8:100ms"), REQUESTS (400), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/validate}"
model="${MODEL:-shufflenet_v2_x0_5}"
device="${DEVICE:-cpu}"
meter="${METER:-modelled:idle=10W,busy=30W}"
rates="${RATES:-16 32}"
policies="${POLICIES:-fixed:4 fixed:8 greedy:32 timeout:8:100ms}"
requests="${REQUESTS:-400}"
gb="./${BUILD:-build}/greenbatch"
mkdir -p "$out"
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"
"$gb" profile --model "$model" --device "$device" --meter "$meter" --batch-sizes 1,2,4,8,16,32 --min-window 2s \
  --warmup-batches 16 --warmup-batch-size 8 --out "$out/profile.json"
for rate in $rates; do
  for policy in $policies; do
    "$gb" run --model "$model" --device "$device" --meter "$meter" --rate "$rate" --arrivals jitter:0.2 \
      --policy "$policy" --requests "$requests" --warmup-batches 16 --warmup-batch-size 8 --out "$out/real" >/dev/null
    "$gb" simulate --profile "$out/profile.json" --rate "$rate" --arrivals jitter:0.2 --policy "$policy" \
      --requests "$requests" --out "$out/sim" >/dev/null 2>&1
  done
done
"${PYTHON:-python3}" - "$out/real/runs.jsonl" "$out/sim/runs.jsonl" <<'PY'
import json, sys
real = [json.loads(l) for l in open(sys.argv[1])]
sim = {(r["rate_hz"], r["policy"]): r for r in (json.loads(l) for l in open(sys.argv[2]))}
def err(a, b):
    return (a - b) / b * 100 if b else float("nan")
print("| rate | policy | avg batch real/sim | J/image real | sim | error | p99 real | sim | error | mean latency error |")
print("|---|---|---|---|---|---|---|---|---|---|")
worst = {"energy": 0.0, "p99": 0.0}
for r in real:
    s = sim[(r["rate_hz"], r["policy"])]
    ee = err(s["energy"]["per_image_j"], r["energy"]["per_image_j"])
    pe = err(s["latency_s"]["p99"], r["latency_s"]["p99"])
    me = err(s["latency_s"]["mean"], r["latency_s"]["mean"])
    worst["energy"] = max(worst["energy"], abs(ee)); worst["p99"] = max(worst["p99"], abs(pe))
    print(f"| {r['rate_hz']:g} | {r['policy']} | {r['avg_batch_size']:.2f} / {s['avg_batch_size']:.2f} | "
          f"{r['energy']['per_image_j']:.4g} | {s['energy']['per_image_j']:.4g} | {ee:+.2f} % | "
          f"{r['latency_s']['p99']*1e3:.1f} ms | {s['latency_s']['p99']*1e3:.1f} ms | {pe:+.1f} % | {me:+.1f} % |")
print(f"\nworst energy error {worst['energy']:.2f} % (target 5 %), worst p99 error {worst['p99']:.1f} % (target 10 %)")
PY
