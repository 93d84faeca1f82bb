#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, exports ShuffleNetV2 x0.5 (one of the
# study's five networks) and runs the sweep configs/quick.toml: the study's jittered request
# stream at 32 and 64 requests/s into the network on the CPU under three batching policies.
# Results: results/quickstart/runs.jsonl and runs.csv, a summary, the report (report.html, next
# to the study's own results) and the recommendation under a 1 s latency target. Resumable:
# running it again skips the runs already done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
out="${1:-results/quickstart}"
model=shufflenet_v2_x0_5
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"
./build/greenbatch sweep configs/quick.toml --out "$out"
./build/greenbatch summarize "$out"
./build/greenbatch recommend "$out" --slo max=1s
./build/greenbatch report "$out" data/study --out "$out/report.html"
echo "results: $out/runs.jsonl and $out/runs.csv; report: $out/report.html"
