#!/usr/bin/env bash
# Everything a borrowed GPU machine checks, in one go (about 6 minutes on an H100 with 16 cores):
# builds greenbatch against the torch wheel's CUDA LibTorch while the study's five models are
# exported, prints `greenbatch info`, checks two CUDA error paths, measures the five models at
# batch sizes 1 to 128 (scripts/model-speed.sh), then runs the energy check (scripts/gpu-check.sh).
# Without a GPU it runs on the CPU with the tests' fake NVML, to test the script:
#   DEVICE=cpu MODELS=tiny_cnn PYTHON=/usr/bin/python3 REQUESTS=64 SPEED_METER=none \
#   METER=nvml:gpu=0 GREENBATCH_NVML_LIBRARY=build/tests/libnvidia-ml-fake.so bash scripts/gpu-session.sh
# Last, one run with a power trace (TRACE_MODEL, default vit_b_16, at 64/s under fixed:32).
# Everything lands in OUT_DIR (default results/gpu-session): log.txt, info.txt, models.md,
# gpu-check.md and results.tar.gz (the runs.jsonl files, the sweep files and the trace).
# CHECK_MODELS and CHECK_POLICIES narrow the energy check.
#
#   OUT_DIR=$OUT DEPS_PREFIX=.gpudeps/usr bash scripts/gpu-session.sh
#
# DEPS_PREFIX: a folder holding the Debian packages' headers and libraries (dpkg -x of
# libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9 libtomlplusplus-dev libtomlplusplus3
# libjpeg62-turbo-dev libjpeg62-turbo), for a machine that has LibTorch but not these.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-results/gpu-session}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee -a "$out/log.txt") 2>&1
python="${PYTHON:-python3}"
build="${BUILD:-build-gpu}"
export MODELS="${MODELS:-alexnet densenet121 shufflenet_v2_x0_5 vit_b_16 convnext_base}"
device="${DEVICE:-cuda}"
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date -u +%T) $*"; }
stamp "machine"
nvidia-smi -L || true
g++ --version | head -1; cmake --version | head -1; nproc
"$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda)'

stamp "export the five models (in the background) and build"
mkdir -p models
("$python" scripts/export_models.py $MODELS >"$out/export.log" 2>&1; echo "export exit status $?" >>"$out/export.log") &
export_pid=$!
t0=$(date +%s)
if ! PYTHON="$python" bash scripts/build-cuda.sh "$build"; then
  stamp "build failed"; wait "$export_pid"; cat "$out/export.log"; exit 1
fi
stamp "built in $(($(date +%s) - t0)) s"
wait "$export_pid"
tail -8 "$out/export.log"

stamp "info"
"./$build/greenbatch" info | tee "$out/info.txt"

stamp "CUDA error paths (each must print one clear line and exit non-zero)"
"./$build/greenbatch" run --model "${MODELS%% *}" --device cuda:7 --requests 8 --rate 100 --policy fixed:4; echo "exit $?"
"./$build/greenbatch" run --model "${MODELS%% *}" --device "$device" --meter nvml:gpu=9 --requests 8 --rate 100 --policy fixed:4; echo "exit $?"

stamp "model speed"
DEVICE="$device" BUILD="$build" PYTHON="$python" METER="${SPEED_METER:-nvml}" RESULTS=results/gpu-session/speed \
  timeout "${SPEED_LIMIT_S:-150}" bash scripts/model-speed.sh "$out/models.md"
cat "$out/models.md"

stamp "energy check"
MODELS="${CHECK_MODELS:-$MODELS}" POLICIES="${CHECK_POLICIES:-fixed:16 fixed:128 greedy:128}" \
  DEVICE="$device" OUT_DIR=results/gpu-session/check SKIP_BUILD=1 BUILD="$build" PYTHON="$python" REQUESTS="${REQUESTS:-1024}" \
  timeout "${CHECK_LIMIT_S:-360}" bash scripts/gpu-check.sh >/dev/null
cp results/gpu-session/check/gpu-check.md "$out/gpu-check.md"
cat "$out/gpu-check.md"

stamp "power trace"
trace_model="${TRACE_MODEL:-vit_b_16}"
"./$build/greenbatch" run --model "$trace_model" --device "$device" --rate 64 --policy "${TRACE_POLICY:-fixed:32}" \
  --requests "${TRACE_REQUESTS:-512}" --meter "${METER:-nvml}" --idle-window 2s --warmup-batches 64 \
  --out results/gpu-session/trace --power-trace results/gpu-session/trace/power.csv
tar -czf "$out/results.tar.gz" results/gpu-session/speed results/gpu-session/check results/gpu-session/trace \
  models/*.json 2>/dev/null
stamp "done"
