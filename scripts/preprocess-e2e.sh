#!/usr/bin/env bash
# The study's setting end to end, side by side in one script (issue 19's acceptance): every
# request's JPEG decoded and transformed in the serving path, greedy batches of up to 128, every
# request already waiting (saturation), ShuffleNetV2 x0.5 on the CPU.
#   1. the study's Python loop (../shared/reference/study_loop.py's loop, written out below:
#      Pillow + torchvision per request, eager PyTorch);
#   2. greenbatch run --preprocess per-request (each request decoded and resized by a pool of
#      worker threads as it arrives, normalised into its batch);
#   3. greenbatch run --preprocess cached (the images prepared once: the network alone).
# The three alternate ROUNDS times (default 3), so that a slow spell of a shared machine falls on
# all of them; each prints images per second, and the medians are compared:
#   per-request >= 2 x Python loop, and per-request >= 75 % of cached.
#
#   bash scripts/preprocess-e2e.sh [BUILD]        (BUILD: the LibTorch build folder, default build)
#
# Environment: REQUESTS (512), THREADS (2: LibTorch's intra-op threads, for both), ROUNDS (3),
# PREPROCESS_THREADS (auto), MODEL (shufflenet_v2_x0_5), PYTHON (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
requests="${REQUESTS:-512}"
threads="${THREADS:-2}"
rounds="${ROUNDS:-3}"
prep_threads="${PREPROCESS_THREADS:-auto}"
model="${MODEL:-shufflenet_v2_x0_5}"
python="${PYTHON:-/usr/bin/python3}"
exe="$build/greenbatch"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
bench_ensure_model "$model"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bench_machine_line
bench_blas_line
echo "# $model, $requests requests all waiting, greedy:128, $threads intra-op threads, preprocess threads $prep_threads"

cat >"$work/loop.py" <<'PY'
# The study's loop (study_loop.py), on one model and folder, with the same warm-up as greenbatch's.
import glob, sys, time
import torch, torchvision
from PIL import Image
from torchvision import transforms
n, threads, images, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
paths = sorted(glob.glob(images + "/*.jpg"))
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
model = getattr(torchvision.models, name)().eval()
with torch.no_grad():
    for _ in range(4):
        model(torch.randn(32, 3, 224, 224))
    start = time.perf_counter()
    done = 0
    while done < n:
        b = min(128, n - done)
        x = torch.stack([tf(Image.open(paths[(done + i) % len(paths)]).convert("RGB")) for i in range(b)])
        model(x)
        done += b
    dt = time.perf_counter() - start
print(f"{n / dt:.1f}")
PY

greenbatch_ips() {  # images per second of one greenbatch run (its throughput line)
  "$exe" run --model "$model" --rate 1e9 --requests "$requests" --policy greedy:128 --threads "$threads" \
    --meter none --warmup-batches 4 --warmup-batch-size 32 --out "$work/results" "$@" |
    sed -n 's/.* s, \([0-9.e+]*\) req\/s$/\1/p'
}

declare -a py per cached
for r in $(seq 1 "$rounds"); do
  py+=("$("$python" "$work/loop.py" "$requests" "$threads" data/images "$model")")
  per+=("$(greenbatch_ips --preprocess per-request --preprocess-threads "$prep_threads")")
  cached+=("$(greenbatch_ips --preprocess cached)")
  echo "round $r: python loop ${py[-1]} img/s, greenbatch per-request ${per[-1]} img/s, cached ${cached[-1]} img/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mp=$(median "${py[@]}"); mr=$(median "${per[@]}"); mc=$(median "${cached[@]}")
awk -v p="$mp" -v r="$mr" -v c="$mc" 'BEGIN {
  printf "median: python loop %.1f img/s, per-request %.1f img/s, cached %.1f img/s\n", p, r, c
  printf "per-request / python loop = %.2f (target >= 2): %s\n", r / p, (r >= 2 * p) ? "PASS" : "FAIL"
  printf "per-request / cached = %.1f %% (target >= 75 %%): %s\n", 100 * r / c, (r >= 0.75 * c) ? "PASS" : "FAIL"
}'
