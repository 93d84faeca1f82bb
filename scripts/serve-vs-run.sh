#!/usr/bin/env bash
# The serving path's cost for a real network (issue 20): the same jittered schedule replayed
#   1. in process: greenbatch run (the engine's own clock, no HTTP), and
#   2. through greenbatch serve, driven at the scheduled times by an open-loop HTTP client
#      (bench/serve/openloop.py: one keep-alive connection per request in flight, each request
#      one preprocessed FP32 image in binary tensor data, the same three photographs run feeds
#      the network, latency from the scheduled arrival);
# ShuffleNetV2 x0.5 on the CPU, fixed:8 at 32 requests/s (jitter:0.5) by default. ROUNDS rounds
# alternate the two, so that a slow spell of a shared machine falls on both. Prints each round's
# p99s and the median difference, serve minus run (target: at most 2 ms).
#
#   bash scripts/serve-vs-run.sh [BUILD]        (BUILD: the LibTorch build folder, default build)
#
# Environment: MODEL (shufflenet_v2_x0_5), RATE (32), POLICY (fixed:8), ARRIVALS (jitter:0.5),
# REQUESTS (1024), THREADS (2: LibTorch's intra-op threads), ROUNDS (3), METER (none), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
model="${MODEL:-shufflenet_v2_x0_5}"
rate="${RATE:-32}"
policy="${POLICY:-fixed:8}"
arrivals="${ARRIVALS:-jitter:0.5}"
requests="${REQUESTS:-1024}"
threads="${THREADS:-2}"
rounds="${ROUNDS:-3}"
meter="${METER:-none}"
python="${PYTHON:-/usr/bin/python3}"
exe="$build/greenbatch"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
bench_ensure_model "$model"
work=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "# keeping $work"
server=""
cleanup() {
  bench_stop_process "$server"
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

bench_machine_line
bench_blas_line
echo "# $model on the CPU, $threads intra-op threads, $policy, $arrivals at $rate req/s, $requests requests, meter $meter"
# The three photographs of data/images (sorted, as run cycles them), preprocessed by torchvision
# (greenbatch's preprocessing equals it bit for bit): the client sends exactly what run computes.
"$python" - "$work" <<'PY'
import glob, sys
import torch
from PIL import Image
from torchvision import transforms
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
for i, path in enumerate(sorted(glob.glob("data/images/*.jpg"))):
    x = tf(Image.open(path).convert("RGB")).contiguous()
    with open(f"{sys.argv[1]}/image{i}.f32", "wb") as f:
        f.write(x.numpy().astype("<f4").tobytes())
PY
inputs=$(ls "$work"/image*.f32 | sort | paste -sd,)
common=(--model "$model" --policy "$policy" --threads "$threads" --meter "$meter" --idle-window 0s
  --warmup-batches 16 --warmup-batch-size 8)
field() { "$python" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readlines()[-1]); v=r
for k in sys.argv[2].split("."): v=v[k] if v is not None else None
print(v)' "$1" "$2"; }

printf "%-6s %-12s %-14s %-14s %-11s %-12s %-12s %-12s %-12s\n" round "run p99" "serve p99" "serve p99" "serve-run" \
  "run batch" "serve batch" "run J/img" "serve J/img"
printf "%-6s %-12s %-14s %-14s %-11s %-12s %-12s %-12s %-12s\n" "" "(engine)" "(client)" "(server)" "(client)" \
  "(mean)" "(mean)" "" ""
diffs=()
for round in $(seq "$rounds"); do
  seed=$round
  "$exe" run "${common[@]}" --rate "$rate" --arrivals "$arrivals" --requests "$requests" --seed "$seed" \
    --out "$work/run$round" --requests-out "$work/schedule$round.csv" >"$work/run$round.log"
  run_p99=$(field "$work/run$round/runs.jsonl" latency_s.p99)

  "$exe" serve "${common[@]}" --port 0 --out "$work/serve$round" >"$work/serve$round.log" 2>&1 &
  server=$!
  port=$(bench_server_port "$work/serve$round.log" 600)
  "$python" bench/serve/openloop.py --url "http://127.0.0.1:$port" --model "$model" \
    --schedule "$work/schedule$round.csv" --inputs "$inputs" >"$work/client$round.json"
  kill -TERM "$server"
  wait "$server"
  server=""
  client_p99=$("$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0, r; print(r["latency_s"]["p99"])' "$work/client$round.json")
  server_p99=$(field "$work/serve$round/runs.jsonl" latency_s.p99)
  d=$("$python" -c "print(($client_p99 - $run_p99) * 1000)")
  diffs+=("$d")
  ms() { "$python" -c "print(f'{$1*1000:.2f} ms')"; }
  joules() { [ "$1" = None ] && echo "n/a" || "$python" -c "print(f'{$1:.4g}')"; }
  printf "%-6s %-12s %-14s %-14s %-11s %-12s %-12s %-12s %-12s\n" "$round" "$(ms "$run_p99")" "$(ms "$client_p99")" \
    "$(ms "$server_p99")" "$("$python" -c "print(f'{$d:+.2f} ms')")" \
    "$(ms "$(field "$work/run$round/runs.jsonl" service_s.mean)")" \
    "$(ms "$(field "$work/serve$round/runs.jsonl" service_s.mean)")" \
    "$(joules "$(field "$work/run$round/runs.jsonl" energy.per_image_j)")" \
    "$(joules "$(field "$work/serve$round/runs.jsonl" energy.per_image_j)")"
done
echo "median serve - run (p99, client from the schedule): $("$python" -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):+.2f} ms')" "${diffs[@]}")"
