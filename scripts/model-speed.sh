#!/usr/bin/env bash
# Images per second and milliseconds per batch for models at batch sizes 1 to 128, measured
# through `greenbatch run` with every request already waiting (batches back to back), cached
# preprocessing. Writes a Markdown table to OUT (default: stdout) and the raw runs to
# results/model-speed/.
#
#   DEVICE=cuda BUILD=build-gpu PYTHON=python3 scripts/model-speed.sh docs/measurements/models-h100.md
#
# Environment: DEVICE (cpu), MODELS (the study's five), BATCH_SIZES (1 2 4 8 16 32 64 128),
# BATCHES (batches measured per size, 20), BUILD (build folder, build), PYTHON (/usr/bin/python3;
# on a GPU machine the Python whose torch wheel the build used).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/dev/stdout}"
device="${DEVICE:-cpu}"
models="${MODELS:-alexnet densenet121 shufflenet_v2_x0_5 vit_b_16 convnext_base}"
sizes="${BATCH_SIZES:-1 2 4 8 16 32 64 128}"
batches="${BATCHES:-20}"
build="${BUILD:-build}"
python="${PYTHON:-/usr/bin/python3}"
results="results/model-speed/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
for m in $models; do
  [ -f "models/$m.pt" ] || "$python" scripts/export_models.py "$m" >&2
  for b in $sizes; do
    "./$build/greenbatch" run --model "$m" --device "$device" --rate 1e9 --policy "fixed:$b" \
      --requests $((b * batches)) --warmup-batches 5 --warmup-batch-size "$b" --out "$results" >&2 ||
      echo "model-speed: $m at batch $b failed (recorded in $results/runs.jsonl)" >&2
  done
done
"$python" - "$results/runs.jsonl" "$device" "$batches" >"$out" <<'PY'
import json, sys
path, device, batches = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(line) for line in open(path)]
sizes = sorted({int(r["policy"].split(":")[1]) for r in rows})
models = list(dict.fromkeys(r["model"] for r in rows))
b0 = rows[0]["backend"]
print(f"Device: {device} ({b0.get('device_name') or b0.get('cpu_model', '')}), LibTorch {b0['libtorch_version']}, "
      f"{b0['threads']} CPU threads, host {rows[0]['host']}, {rows[0]['started_utc']}.")
print(f"Each cell: images per second / milliseconds per batch, over {batches} back-to-back batches "
      "(duration from the first arrival to the last completion, divided by the batches).\n")
print("| model | " + " | ".join(f"batch {s}" for s in sizes) + " |")
print("|---" * (len(sizes) + 1) + "|")
for m in models:
    cells = []
    for s in sizes:
        r = next((r for r in rows if r["model"] == m and r["policy"] == f"fixed:{s}"), None)
        if r is None or r.get("error"):
            cells.append("failed" if r else "")
        else:
            cells.append(f"{r['throughput_rps']:.1f} / {r['duration_s'] / r['batches'] * 1e3:.2f}")
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
