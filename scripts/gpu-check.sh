#!/usr/bin/env bash
# Energy check on a machine with an NVIDIA GPU (about 5 minutes on an H100 with the build, 1024
# requests a run): builds against the torch wheel's CUDA LibTorch (DEPS_PREFIX: see
# scripts/gpu-session.sh), exports the study's five models, then runs each model at 64
# requests/s under fixed:16, fixed:128 and greedy:128 in one sweep (idle power measured before
# each run) with the NVML energy counter, each run also reporting the 10 ms sampled figures
# (averaged and instant power). Writes $OUT_DIR/gpu-check.md (a table) and the raw runs.jsonl.
# Results: docs/measurements/gpu-h100.md.
# Check: over windows longer than 10 s, the counter and the instant sampling agree within 5 %.
#
#   OUT_DIR=$OUT bash scripts/gpu-check.sh
#
# Without a GPU the same flow runs on the CPU with the tests' fake NVML, to test the script:
#   DEVICE=cpu METER=nvml:gpu=0 GREENBATCH_NVML_LIBRARY=build/tests/libnvidia-ml-fake.so \
#   MODELS=tiny_cnn REQUESTS=64 SKIP_BUILD=1 bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-results/gpu-check}"
device="${DEVICE:-cuda}"
meter="${METER:-nvml}"
models="${MODELS:-alexnet densenet121 shufflenet_v2_x0_5 vit_b_16 convnext_base}"
policies="${POLICIES:-fixed:16 fixed:128 greedy:128}"
requests="${REQUESTS:-1024}"   # 16 s at 64/s: over the 10 s the check needs, and 15 runs fit the time
python="${PYTHON:-python3}"
build="${BUILD:-build-gpu}"
mkdir -p "$out"
[ -n "${SKIP_BUILD:-}" ] || PYTHON="$python" bash scripts/build-cuda.sh "$build"
"./$build/greenbatch" info | tee "$out/info.txt"
for m in $models; do
  [ -f "models/$m.pt" ] || "$python" scripts/export_models.py "$m"
done
toml_list() { printf '"%s",' "$@" | sed 's/,$//'; }
# One sweep: each model is loaded and warmed up once, then runs its policies; idle power is
# measured before every run (the first one before anything ran on the GPU).
cat >"$out/gpu-check.toml" <<TOML
name = "gpu-check"
models = [$(toml_list $models)]
rates = [64]
arrivals = ["constant"]
policies = [$(toml_list $policies)]
requests = $requests
device = "$device"
meter = "$meter"
idle_window = "${IDLE_WINDOW:-3s}"
warmup_batches = 64
warmup_batch_size = 32
TOML
"./$build/greenbatch" sweep "$out/gpu-check.toml" --out "$out" ||
  echo "gpu-check: the sweep did not finish (what ran is in $out/runs.jsonl)" >&2
"$python" - "$out/runs.jsonl" >"$out/gpu-check.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| model | policy | avg batch | window s | idle W | counter J/img | sampled (avg) J/img | sampled (instant) J/img | instant vs counter | p99 latency s | peak W |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
bad = []
for r in rows:
    e = r.get("energy") or {}  # null for a run that never started
    if not e.get("measured"):
        print(f"| {r['model']} | {r['policy']} | | | | not measured: {e.get('reason') or r.get('error')} | | | | | |")
        continue
    cc = e.get("cross_check") or {}
    n = r["completed"]
    inst = cc.get("instant_joules")
    diff = (inst - e["joules"]) / e["joules"] * 100 if inst else None
    if diff is not None and e["window_s"] > 10 and abs(diff) > 5:
        bad.append(f"{r['model']} {r['policy']}: {diff:+.1f} %")
    f = lambda v, d=4: "" if v is None else f"{v:.{d}g}"
    print(f"| {r['model']} | {r['policy']} | {r['avg_batch_size']:.2f} | {e['window_s']:.1f} | {f(e.get('idle_power_w'))} | {f(e['per_image_j'])} | "
          f"{f(cc.get('per_image_j'))} | {f(inst / n if inst else None)} | {'' if diff is None else f'{diff:+.1f} %'} | "
          f"{r['latency_s']['p99']:.4f} | {f(e.get('peak_power_w'))} |")
idle = next((r["energy"]["idle_power_w"] for r in rows if (r.get("energy") or {}).get("idle_power_w")), None)
print(f"\nIdle power before the first run: {idle} W. Check (windows over 10 s, instant sampling within 5 % of the counter): "
      + ("PASS" if not bad else "FAIL: " + "; ".join(bad)))
PY
cat "$out/gpu-check.md"
