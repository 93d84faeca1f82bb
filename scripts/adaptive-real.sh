#!/usr/bin/env bash
# Issue 22's real runs: ShuffleNetV2 x0.5 on the CPU under a shortened steps: load, the adaptive
# policy (with the CPU profile) and the best static policy tune finds for that load, each run N
# times for real (alternated within each pass, same seed, same schedule), then simulated from
# the profile. Prints per policy: the real runs' energy per image (each, mean, spread), the 10 s
# windows meeting the target, the simulated figure and whether it lies inside the 95 %
# prediction interval of one more real run (mean +- t * s * sqrt(1 + 1/n)).
#
#   bash scripts/adaptive-real.sh [BUILD] [OUT]     (default build, results/adaptive-real)
#
# Environment: LOAD (steps:16@30s,128@30s,32@30s), TARGET (p99=200ms), N (3), PROFILE
# (docs/measurements/adaptive/shufflenet-cpu.profile.json), METER (modelled:idle=20,busy=65: the
# profile's), THREADS (2: the profile's), STATIC (default: tune's best for the load), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
out="${2:-results/adaptive-real}"
exe="$build/greenbatch"
python="${PYTHON:-/usr/bin/python3}"
load="${LOAD:-steps:16@30s,128@30s,32@30s}"
target="${TARGET:-p99=200ms}"
passes="${N:-3}"
profile="${PROFILE:-docs/measurements/adaptive/shufflenet-cpu.profile.json}"
meter="${METER:-modelled:idle=20,busy=65}"
threads="${THREADS:-2}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
bench_ensure_model shufflenet_v2_x0_5
if [ -e "$out/real/runs.jsonl" ]; then
  echo "adaptive-real.sh: $out already holds runs; give a new OUT" >&2
  exit 2
fi
mkdir -p "$out/real"
static="${STATIC:-}"
[ -n "$static" ] || static=$(bench_best_static "$build" "$profile" "$load" "$target")
adaptive="adaptive:$target,profile=$profile"
bench_machine_line
bench_blas_line
echo "# $load, target $target, $passes passes; adaptive: $adaptive; best static (tune): $static"
for pass in $(seq 1 "$passes"); do
  for policy in "$adaptive" "$static"; do
    "$exe" run --model shufflenet_v2_x0_5 --threads "$threads" --arrivals "$load" --policy "$policy" \
      --meter "$meter" --idle-window 0s --warmup-batches 32 --warmup-batch-size 8 --seed 1 \
      --out "$out/real" >/dev/null
    echo "pass $pass: $policy done" >&2
  done
done
rm -rf "$out/simulated"
"$exe" simulate --profile "$profile" --arrivals "$load" --policy "$adaptive,$static" --seed 1 \
  --out "$out/simulated" >/dev/null 2>&1
"$python" - "$out/real/runs.jsonl" "$out/simulated/runs.jsonl" "$target" <<'PY'
import json, re, statistics, sys
from collections import defaultdict
v, unit = re.fullmatch(r"[a-z0-9]+=([0-9.]+)(ms|s|us)", sys.argv[3]).groups()
limit = float(v) * {"s": 1, "ms": 1e-3, "us": 1e-6}[unit]
sys.path.insert(0, "scripts")
from pi95 import pi95_half_width
def load(path):
    runs = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        runs[r["policy"]].append(r)
    return runs
real, sim = load(sys.argv[1]), load(sys.argv[2])
def windows(r):
    w = [x for x in r["windows"] if x["requests"]]
    return sum(x["p99_s"] <= limit for x in w), len(w)
print("| policy | real J/image (each) | mean | spread | windows meeting | simulated J/image | in the 95 % PI of one more run | p99 real / simulated |")
print("|---|---|---|---|---|---|---|---|")
means = {}
for policy, rs in real.items():
    e = [r["energy"]["per_image_j"] for r in rs]
    m = statistics.mean(e)
    means[policy] = m
    half = pi95_half_width(e) if len(e) > 1 else 0
    met = [windows(r) for r in rs]
    sr = sim[policy][0]
    se = sr["energy"]["per_image_j"]
    print(f"| `{policy}` | {', '.join(f'{x:.4f}' for x in e)} | {m:.4f} | {(max(e) - min(e)) / m * 100:.1f} % | "
          f"{', '.join(f'{a}/{b}' for a, b in met)} | {se:.4f} ({(se - m) / m * 100:+.1f} %) | "
          f"{'yes' if abs(se - m) <= half else 'no'} (+-{half / m * 100:.1f} %) | "
          f"{statistics.mean(r['latency_s']['p99'] for r in rs) * 1e3:.1f} / {sr['latency_s']['p99'] * 1e3:.1f} ms |")
pols = list(means)
if len(pols) == 2:
    a, b = pols
    print(f"\nmeasured: {a} {(means[a] - means[b]) / means[b] * 100:+.2f} % against {b}")
PY
