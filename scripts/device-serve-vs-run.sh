#!/usr/bin/env bash
# Issue 20's serving-path check on a borrowed GPU machine, with real meters, in one go: builds
# greenbatch against the torch wheel's CUDA LibTorch while ShuffleNetV2 x0.5 is exported, then
# runs configs/serve-vs-run.toml through both paths (scripts/sweep-paths.sh: in process, then
# through greenbatch serve driven by greenbatch load), repeated:
#   1. on the GPU, energy from the NVML counter;
#   2. on the CPU (2 intra-op threads, as on the project's 2-core machines), energy from RAPL,
#      when the machine lets RAPL's counters be read (said either way).
# Everything lands in OUT_DIR (default results/device-serve-vs-run): log.txt (the tables) and
# results.tar.gz (both paths' runs.jsonl, the servers' logs and the reports).
#
#   OUT_DIR=$OUT DEBS=.debs REPS=4 bash scripts/device-serve-vs-run.sh
#
# DEBS: a folder of the Debian packages that machine lacks (libcli11-dev nlohmann-json3-dev
# libfmt-dev libfmt9 libtomlplusplus-dev libtomlplusplus3 libjpeg62-turbo-dev libjpeg62-turbo
# libboost1.74-dev, from `apt-get download`), unpacked here into .gpudeps.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-results/device-serve-vs-run}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee -a "$out/log.txt") 2>&1
python="${PYTHON:-python3}"
build="${BUILD:-build-gpu}"
reps="${REPS:-4}"
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date -u +%T) $*"; }
stamp "machine"
nvidia-smi -L || true
nproc
if [ -n "${DEBS:-}" ]; then
  mkdir -p .gpudeps
  for f in "$DEBS"/*.deb; do dpkg -x "$f" .gpudeps; done
  export DEPS_PREFIX=.gpudeps/usr
fi
stamp "export the model (in the background) and build"
mkdir -p models
("$python" scripts/export_models.py shufflenet_v2_x0_5 >"$out/export.log" 2>&1; echo "export exit status $?" >>"$out/export.log") &
export_pid=$!
t0=$(date +%s)
if ! PYTHON="$python" bash scripts/build-cuda.sh "$build" >"$out/build.log" 2>&1; then
  grep -m 20 -B2 -A8 "error" "$out/build.log"; tail -30 "$out/build.log"; stamp "build failed"; exit 1
fi
stamp "built in $(($(date +%s) - t0)) s"
wait "$export_pid"
tail -3 "$out/export.log"
"./$build/greenbatch" info
# What one read of NVML's energy counter and of its power costs here (nvidia-ml-py, when installed).
"$python" - <<'PY' || true
import time
import pynvml
pynvml.nvmlInit()
h = pynvml.nvmlDeviceGetHandleByIndex(0)
for name, f in [("nvmlDeviceGetTotalEnergyConsumption", pynvml.nvmlDeviceGetTotalEnergyConsumption),
                ("nvmlDeviceGetPowerUsage", pynvml.nvmlDeviceGetPowerUsage)]:
    t = []
    for _ in range(20):
        t0 = time.perf_counter(); f(h); t.append(time.perf_counter() - t0)
    t.sort()
    print(f"{name}: median {t[10] * 1e3:.3f} ms, max {t[-1] * 1e3:.3f} ms over 20 calls")
PY
rapl=/sys/class/powercap/intel-rapl:0/energy_uj
if [ -r "$rapl" ] && cat "$rapl" >/dev/null 2>&1; then rapl_ok=1; else rapl_ok=0; fi
echo "RAPL readable: $rapl_ok ($(ls /sys/class/powercap 2>&1 | paste -sd' '))"

stamp "GPU: in process and through serve, NVML counter, $reps repeats"
REPS="$reps" METER=nvml SET='device="cuda"' PYTHON="$python" timeout "${GPU_LIMIT_S:-300}" \
  bash scripts/sweep-paths.sh "$build" configs/serve-vs-run.toml results/dsvr/gpu
if [ "$rapl_ok" = 1 ]; then
  stamp "CPU: in process and through serve, RAPL, $reps repeats"
  REPS="$reps" METER=rapl PYTHON="$python" timeout "${CPU_LIMIT_S:-300}" \
    bash scripts/sweep-paths.sh "$build" configs/serve-vs-run.toml results/dsvr/cpu
fi
tar -czf "$out/results.tar.gz" results/dsvr 2>/dev/null
stamp "done"
