#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, exports ShuffleNetV2 x0.5 (one of the
# study's five networks) and replays the study's jittered request stream into it on the CPU
# under three batching policies. Results: results/quickstart/runs.jsonl and runs.csv.
# A machine with an NVIDIA GPU and a CUDA LibTorch can pass DEVICE=cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
out="${1:-results/quickstart}"
model=shufflenet_v2_x0_5
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"
for policy in fixed:8 greedy:128 timeout:8:100ms; do
  ./build/greenbatch run --model "$model" --device "${DEVICE:-cpu}" --rate 64 --arrivals jitter:0.2 \
    --policy "$policy" --requests 640 --warmup-batches 32 --warmup-batch-size 8 --out "$out"
done
echo "results: $out/runs.jsonl and $out/runs.csv"
