#!/usr/bin/env bash
# Issue 23's GPU part on a borrowed GPU machine, in one go: builds greenbatch against the torch
# wheel's CUDA LibTorch while the study's five networks are exported, then profiles each network
# at batch sizes 1 to 128 (busy back to back, at least MIN_WINDOW per size, energy from NVML's
# counter) under each knob set, most important first, so that a run stopped by its time limit
# still brings back the figures the issue's targets need:
#   1. ShuffleNetV2 and AlexNet under every knob set (the batch-1 / batch-128 target with graphs);
#   2. the other three networks under every knob set;
#   3. two power limits (below the default) on every network, under LIMIT_KNOBS.
# Each profile is written as soon as it is measured; a profile that fails (a knob the model or the
# machine refuses: a power limit without permission, ViT under a precision) is listed with its
# reason. Last, the tables (scripts/knob_tables.py) and `tune` across the knob sets of ShuffleNetV2.
# Everything lands in OUT_DIR (default results/device-knobs): log.txt, knobs.md (the tables),
# profiles/ (one JSON per network and knob set) and failures.txt.
#
#   OUT_DIR=$OUT DEBS=.debs bash scripts/device-knobs.sh
#
# Environment: MODELS (first the targets' two, then the rest), KNOBS (fp32, cuda_graphs,
# precision=fp16+cuda_graphs, precision=bf16+cuda_graphs: sets separated by spaces, a set's knobs
# by '+'), LIMITS (two power limits in watts; default 40 % and 60 % of the GPU's maximum, raised to
# its minimum), LIMIT_KNOBS (cuda_graphs), LIMIT_MODELS (MODELS), BATCH_SIZES (1,2,4,8,16,32,64,128), MIN_WINDOW (1s),
# BUDGET_S (500: no profile starts later, so that a device call of 600 s brings the tables back),
# DEVICE (cuda), METER (nvml), TUNE_MODEL (shufflenet_v2_x0_5: tuned across its knob sets), BUILD (build-gpu; SKIP_BUILD=1 uses it as it is), PYTHON (python3),
# DEBS (a folder of the Debian packages that machine lacks, unpacked into .gpudeps, as
# scripts/device-serve-vs-run.sh says).
# Without a GPU it runs on the CPU, to test the script (knob sets the CPU refuses are listed as
# failures; the power limits on a synthetic model, through the tests' fake NVML, NVML's device 0):
#   DEVICE=cpu MODELS="tiny_cnn synthetic:base=2ms,per_item=1ms" KNOBS="fp32 precision=bf16 cuda_graphs" \
#   LIMITS="250 400" LIMIT_KNOBS=fp32 LIMIT_MODELS=synthetic:base=2ms,per_item=1ms BATCH_SIZES=1,2,4 \
#   TUNE_MODEL=synthetic:base=2ms,per_item=1ms MIN_WINDOW=0.3s METER=nvml:gpu=0 GREENBATCH_NVML_LIBRARY=build/tests/libnvidia-ml-fake.so SKIP_BUILD=1 \
#   BUILD=build PYTHON=/usr/bin/python3 OUT_DIR=results/device-knobs-test bash scripts/device-knobs.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-results/device-knobs}"
mkdir -p "$out/profiles"
out=$(cd "$out" && pwd)
exec > >(tee -a "$out/log.txt") 2>&1
python="${PYTHON:-python3}"
build="${BUILD:-build-gpu}"
device="${DEVICE:-cuda}"
meter="${METER:-nvml}"
models="${MODELS:-shufflenet_v2_x0_5 alexnet densenet121 vit_b_16 convnext_base}"
knob_sets="${KNOBS:-fp32 cuda_graphs precision=fp16+cuda_graphs precision=bf16+cuda_graphs}"
limit_knobs="${LIMIT_KNOBS:-cuda_graphs}"
sizes="${BATCH_SIZES:-1,2,4,8,16,32,64,128}"
window="${MIN_WINDOW:-1s}"
export PYTHONUNBUFFERED=1
started=$(date +%s)
budget="${BUDGET_S:-500}"  # no profile starts after this many seconds: the tables still come back
stamp() { echo "== $(date -u +%T) $*"; }
stamp "machine"
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
nproc

stamp "export the models (in the background) and build"
mkdir -p models
missing=""
for m in $models; do case "$m" in synthetic*) ;; *) [ -f "models/$m.pt" ] || missing="$missing $m" ;; esac; done
export_pid=""
if [ -n "$missing" ]; then
  ("$python" scripts/export_models.py $missing >"$out/export.log" 2>&1; echo "export exit status $?" >>"$out/export.log") &
  export_pid=$!
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  if [ -n "${DEBS:-}" ]; then
    mkdir -p .gpudeps
    for f in "$DEBS"/*.deb; do dpkg -x "$f" .gpudeps; done
    export DEPS_PREFIX=.gpudeps/usr
  fi
  t0=$(date +%s)
  if ! PYTHON="$python" bash scripts/build-cuda.sh "$build" >"$out/build.log" 2>&1; then
    grep -m 20 -B2 -A8 "error" "$out/build.log"; tail -30 "$out/build.log"; stamp "build failed"; exit 1
  fi
  stamp "built in $(($(date +%s) - t0)) s"
fi
[ -z "$export_pid" ] || { wait "$export_pid"; tail -3 "$out/export.log"; }
exe="./$build/greenbatch"
"$exe" info | tee "$out/info.txt"

# One profile: network $1, knob set $2 ('+' between knobs), file name $3.
profile() {
  local m="$1" set="$2" name="$3" args=()
  IFS='+' read -ra parts <<<"$set"
  for k in "${parts[@]}"; do
    case "$k" in
      fp32) ;;
      cuda_graphs) args+=(--cuda-graphs) ;;
      precision=*) args+=(--precision "${k#precision=}") ;;
      memory_format=*) args+=(--memory-format "${k#memory_format=}") ;;
      power_limit=*) args+=(--power-limit "${k#power_limit=}") ;;
      *) echo "device-knobs.sh: unknown knob '$k' in '$set'" >&2; return 2 ;;
    esac
  done
  local file="$out/profiles/$name.json" t0
  t0=$(date +%s)
  if [ $((t0 - started)) -ge "$budget" ]; then
    echo "$m [$set]: not measured (BUDGET_S=$budget s spent)" >>"$out/failures.txt"
    return 0
  fi
  if "$exe" profile --model "$m" --device "$device" --meter "$meter" --batch-sizes "$sizes" --refine 0 \
    --min-window "$window" --idle-window 1s --idle-gaps "" --warmup-batches 8 --warmup-batch-size 32 \
    "${args[@]}" --out "$file" >"$out/profiles/$name.log" 2>&1; then
    stamp "$m [$set]: $(($(date +%s) - t0)) s"
  else
    local why
    why=$(grep -v '^ *$' "$out/profiles/$name.log" | tail -1)
    echo "$m [$set]: $why" >>"$out/failures.txt"
    rm -f "$file"
    stamp "$m [$set] FAILED: $why"
  fi
}
slug() { sed -e 's/+/_/g' -e 's/[=:,]/-/g' <<<"$1"; }
: >"$out/failures.txt"

stamp "knob sets"
first_two=$(awk '{print $1, $2}' <<<"$models")
rest=$(cut -d' ' -f3- -s <<<"$models")
for group in "$first_two" "$rest"; do
  for m in $group; do
    for set in $knob_sets; do profile "$m" "$set" "$(slug "$m").$(slug "$set")"; done
  done
done

stamp "power limits"
limits="${LIMITS:-}"
if [ -z "$limits" ] && command -v nvidia-smi >/dev/null; then
  read -r lo hi < <(nvidia-smi --query-gpu=power.min_limit,power.max_limit --format=csv,noheader,nounits -i 0 |
    tr -d ' W' | tr ',' ' ')
  limits=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { a = 0.4 * hi; b = 0.6 * hi; if (a < lo) a = lo; if (b < lo) b = lo;
    printf "%d %d", a, b }')
  echo "the GPU's power limit range: $lo to $hi W; measured at $limits W"
fi
for w in $limits; do
  for m in ${LIMIT_MODELS:-$models}; do profile "$m" "$limit_knobs+power_limit=$w" "$(slug "$m").$(slug "$limit_knobs")_pl$w"; done
done

stamp "tables"
"$python" scripts/knob_tables.py "$out/profiles" >"$out/knobs.md"
cat "$out/knobs.md"
tune_model="${TUNE_MODEL:-shufflenet_v2_x0_5}"
shuffle=("$out/profiles/$(slug "$tune_model")".*.json)
if [ -e "${shuffle[0]}" ]; then
  # tune across the knob sets (one per profile; the power-limited ones are knob sets too).
  list=$(IFS=,; echo "${shuffle[*]}")
  for rate in 16 128; do
    echo; echo "tune across knobs, $tune_model at $rate/s, p99 <= 200 ms:"
    "$exe" tune --profile "$list" --rate "$rate" --slo p99=200ms --top 5 || true
  done | tee -a "$out/knobs.md"
fi
echo; echo "failures:"; cat "$out/failures.txt"
stamp "done"
