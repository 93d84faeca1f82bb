#!/usr/bin/env bash
# The simulator's validation (scripts/validate.sh) on a borrowed GPU machine's CPU cores, idle
# and with next to no steal time, unlike this project's shared 2-vCPU build machines, where the
# host's slow spells decide the p99 of batches of one. Its first run found that CPU's service
# times widely spread all the same (docs/measurements/simulator.md). Sized to about 8.5 minutes on the H100 machine's CPU, to fit one device call:
#
#   OUT_DIR=$OUT DEPS_PREFIX=.gpudeps/usr bash scripts/device-validate.sh
#
# Builds greenbatch against the torch wheel's LibTorch (scripts/build-cuda.sh; SKIP_BUILD=1 and
# BUILD=DIR to use a build already there) while ShuffleNetV2 is exported, records the machine
# (CPU, cores, load, steal time before and after), then runs validate.sh on the CPU pinned to
# one core (PIN, default 3) with the modelled meter. Its settings can be overridden as for
# validate.sh; the defaults here: REQUESTS 400, REPS 1, AFTER 0 (one profile, before the runs),
# RATES "16 32", MIN_WINDOW 3s, ROUNDS 12. Measured there on 2026-11-27: build and export 63 s,
# the profile 4 min 13 s, the eight runs 2 min 44 s; a second profile after the runs (AFTER=1)
# did not fit a 560 s call. Everything lands in OUT_DIR (default results/device-validate):
# log.txt, machine.txt, validate.md (the script's tables) and the profile and runs under
# validate/, each written as soon as it is measured.
#
# To try it without a device: SKIP_BUILD=1 BUILD=build PYTHON=/usr/bin/python3 REQUESTS=40 \
#   MIN_WINDOW=1s ROUNDS=1 RATES=64 POLICIES="fixed:4 greedy:32" PIN=0 bash scripts/device-validate.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-results/device-validate}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee -a "$out/log.txt") 2>&1
python="${PYTHON:-python3}"
build="${BUILD:-build-gpu}"
stamp() { echo "== $(date -u +%T) $*"; }
steal() { awk '/^cpu /{print "steal ticks " $9 ", iowait ticks " $6}' /proc/stat; }

stamp "machine"
{
  lscpu | grep -E "^(Model name|CPU\(s\)|Thread|Core|Socket|Hypervisor)" || true
  echo "nproc $(nproc)"
  echo "load $(cat /proc/loadavg)"
  steal
} | tee "$out/machine.txt"

stamp "export shufflenet_v2_x0_5 and build"
mkdir -p models
[ -f models/shufflenet_v2_x0_5.pt ] || "$python" scripts/export_models.py shufflenet_v2_x0_5 >"$out/export.log" 2>&1 &
export_pid=$!
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  t0=$(date +%s)
  if ! PYTHON="$python" bash scripts/build-cuda.sh "$build" >"$out/build.log" 2>&1; then
    tail -30 "$out/build.log"; stamp "build failed"; exit 1
  fi
  stamp "built in $(($(date +%s) - t0)) s"
fi
if ! wait "$export_pid" || [ ! -f models/shufflenet_v2_x0_5.pt ]; then
  cat "$out/export.log" 2>/dev/null; stamp "export failed"; exit 1
fi
"./$build/greenbatch" info | head -20

stamp "validate"
t0=$(date +%s)
MODEL=shufflenet_v2_x0_5 DEVICE=cpu BUILD="$build" PYTHON="$python" PIN="${PIN:-3}" \
  REQUESTS="${REQUESTS:-400}" REPS="${REPS:-1}" AFTER="${AFTER:-0}" RATES="${RATES:-16 32}" MIN_WINDOW="${MIN_WINDOW:-3s}" \
  ROUNDS="${ROUNDS:-12}" bash scripts/validate.sh "$out/validate" | tee "$out/validate.md"
status=${PIPESTATUS[0]}
stamp "validate exit status $status, $(($(date +%s) - t0)) s"
{ echo "after: load $(cat /proc/loadavg)"; steal; } | tee -a "$out/machine.txt"
exit "$status"
