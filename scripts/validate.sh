#!/usr/bin/env bash
# Validates the simulator against real runs: profiles a model, runs a set of configurations for
# real, profiles it again, simulates the same configurations from each profile, and prints the
# error of each metric.
#   scripts/validate.sh [OUT_DIR]
# Environment: MODEL (shufflenet_v2_x0_5), DEVICE (cpu), METER (modelled:idle=10W,busy=30W on a
# machine without a readable sensor; rapl or nvml where there is one), RATES ("16 32"),
# POLICIES ("fixed:4 fixed:8 greedy:32 timeout:8:100ms"), REQUESTS (400), REPS (3: each
# configuration runs REPS times for real and is simulated with the same seeds; the means are
# compared, and the real runs' own spread is printed beside them), THREADS (1: LibTorch's CPU
# intra-op threads; see docs/measurements/simulator.md for why one), MIN_WINDOW (6s: how long
# the profile measures each batch size back to back, and each idle time), ROUNDS (3: the
# profile's rounds over the sizes), IDLE_ORDER (steady: the profile's --idle-order), SIM_SEEDS (20: each configuration is simulated with seeds 1 to
# SIM_SEEDS, which include the real runs' seeds, and the mean taken: the prediction's expected
# value, not one more noisy draw), SMOOTHING (simulate's --idle-smoothing), BUILD (build),
# SIM_ONLY (1: keep OUT_DIR's profiles and real runs, simulate and compare again: to try
# simulator settings against runs already measured).
# Two predictions are compared with the real runs: from the profile taken before them (what a
# user does), and bracketed, the mean of the predictions from the profiles before and after
# them (the simulator's own error with the machine's drift over the runs averaged out, as an
# instrument is calibrated before and after a measurement). The drift between the two profiles
# is printed too.
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
rounds="${ROUNDS:-3}"
idle_order="${IDLE_ORDER:-steady}"
smoothing="${SMOOTHING:-0.5}"
sim_seeds="${SIM_SEEDS:-20}"
gb="./${BUILD:-build}/greenbatch"
mkdir -p "$out"
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"
profile() {
  "$gb" profile --model "$model" --device "$device" --threads "$threads" --meter "$meter" --batch-sizes 1,2,4,8,16,32 \
    --min-window "$min_window" --rounds "$rounds" --idle-order "$idle_order" --warmup-batches 16 --warmup-batch-size 8 --out "$1"
}
if [ "${SIM_ONLY:-0}" != 1 ]; then
profile "$out/profile.json"
for seed in $(seq 1 "$reps"); do
  for rate in $rates; do
    for policy in $policies; do
      "$gb" run --model "$model" --device "$device" --threads "$threads" --meter "$meter" --rate "$rate" --arrivals jitter:0.2 --seed "$seed" \
        --policy "$policy" --requests "$requests" --warmup-batches 16 --warmup-batch-size 8 --out "$out/real" >/dev/null
    done
  done
done
profile "$out/profile-after.json"
fi
rm -rf "$out/sim-profile" "$out/sim-profile-after"
for seed in $(seq 1 "$sim_seeds"); do
  for p in profile profile-after; do
    "$gb" simulate --profile "$out/$p.json" --rate "${rates// /,}" --arrivals jitter:0.2 --policy "${policies// /,}" --seed "$seed" \
      --requests "$requests" --idle-smoothing "$smoothing" --out "$out/sim-$p" >/dev/null
  done
done
"${PYTHON:-python3}" - "$out" <<'PY'
import json, sys
from collections import defaultdict
out = sys.argv[1]
def load(path):
    groups = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        groups[(r["rate_hz"], r["policy"])].append(r)
    return groups
real = load(f"{out}/real/runs.jsonl")
before, after = load(f"{out}/sim-profile/runs.jsonl"), load(f"{out}/sim-profile-after/runs.jsonl")
mean = lambda xs: sum(xs) / len(xs)
def err(a, b):
    return (a - b) / b * 100 if b else float("nan")
energy = lambda rs: mean([r["energy"]["per_image_j"] for r in rs])
p99 = lambda rs: mean([r["latency_s"]["p99"] for r in rs])

# The machine's drift over the runs: each size's median service, after against before.
pb, pa = (json.load(open(f"{out}/{p}.json")) for p in ("profile", "profile-after"))
drift = ", ".join(f"{b['batch_size']}: {err(a['service_s']['median'], b['service_s']['median']):+.1f} %"
                  for b, a in zip(pb["points"], pa["points"]))
print(f"drift of the median service time from the profile before the runs to the one after: {drift}\n")
print("| rate | policy | runs | J/image real | before: sim | error | bracketed: sim | error "
      "| p99 real (spread) | before: sim | error | bracketed: sim | error |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
worst = defaultdict(float)
for key, rs in real.items():
    e_r, p_r = energy(rs), p99(rs)
    e_b, p_b = energy(before[key]), p99(before[key])
    e_k, p_k = (e_b + energy(after[key])) / 2, (p_b + p99(after[key])) / 2
    errs = {"energy before": err(e_b, e_r), "energy bracketed": err(e_k, e_r),
            "p99 before": err(p_b, p_r), "p99 bracketed": err(p_k, p_r)}
    for k, v in errs.items():
        worst[k] = max(worst[k], abs(v))
    p_real = [r["latency_s"]["p99"] for r in rs]
    spread = f"{min(p_real)*1e3:.1f}..{max(p_real)*1e3:.1f}"
    print(f"| {key[0]:g} | {key[1]} | {len(rs)} | {e_r:.4g} | {e_b:.4g} | {errs['energy before']:+.2f} % | {e_k:.4g} | "
          f"{errs['energy bracketed']:+.2f} % | {p_r*1e3:.1f} ms ({spread}) | {p_b*1e3:.1f} ms | {errs['p99 before']:+.1f} % | "
          f"{p_k*1e3:.1f} ms | {errs['p99 bracketed']:+.1f} % |")
for how in ("before", "bracketed"):
    print(f"\n{how}: worst energy error {worst['energy ' + how]:.2f} % (target 5 %), "
          f"worst p99 error {worst['p99 ' + how]:.1f} % (target 10 %)", end="")
print()
PY
