#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and measures a batching comparison.
# For now the model is synthetic (service time 2 ms + 0.1 ms per image) with a modelled power
# meter; it runs on the real clock, so it takes about 35 s.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
out="${1:-results/quickstart}"
for policy in fixed:16 greedy:128 timeout:16:50ms; do
  ./build/greenbatch run --model synthetic:base=2ms,per_item=100us --rate 64 --arrivals jitter:0.2 \
    --policy "$policy" --requests 768 --meter modelled:idle=50W,busy=150W --out "$out"
done
echo "results: $out/runs.jsonl and $out/runs.csv"
