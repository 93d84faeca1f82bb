#!/usr/bin/env bash
# Images per second and milliseconds per batch for models at batch sizes 1 to 128, measured
# through `greenbatch sweep` with every request already waiting (batches back to back), cached
# preprocessing. Each model is loaded and warmed up once per group of batch sizes (small sizes
# get fewer requests so that every size runs BATCHES batches). Writes a Markdown table to the
# file given (default: stdout) and the raw runs to RESULTS (default results/model-speed/<UTC time>).
#
#   DEVICE=cuda BUILD=build-gpu PYTHON=python3 scripts/model-speed.sh docs/measurements/models-h100.md
#
# Environment: DEVICE (cpu), MODELS (the study's five), BATCH_SIZES (1 2 4 8 16 32 64 128),
# KNOBS (knob sets, space-separated, each as `sweep`'s knobs list takes it: "fp32
# precision=bf16 precision=int8 memory_format=channels_last"; default fp32 alone; int8 exports
# NAME.int8.pt first),
# BATCHES (batches measured per size, 20), METER (none), THREADS (0: every core), HOST_MEMORY
# (cached: see `run --host-memory`), BUILD (build folder, build), PYTHON
# (/usr/bin/python3; on a GPU machine the Python whose torch wheel the build used).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/dev/stdout}"
device="${DEVICE:-cpu}"
models="${MODELS:-alexnet densenet121 shufflenet_v2_x0_5 vit_b_16 convnext_base}"
sizes="${BATCH_SIZES:-1 2 4 8 16 32 64 128}"
batches="${BATCHES:-20}"
meter="${METER:-none}"
threads="${THREADS:-0}"
host_memory="${HOST_MEMORY:-cached}"
build="${BUILD:-build}"
python="${PYTHON:-/usr/bin/python3}"
knobs="${KNOBS:-fp32}"
results="${RESULTS:-results/model-speed/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$results"
int8=""
case " $knobs " in *precision=int8*) int8="--int8" ;; esac
for m in $models; do
  if [ ! -f "models/$m.pt" ] || { [ -n "$int8" ] && [ ! -f "models/$m.int8.pt" ]; }; then
    "$python" scripts/export_models.py $int8 "$m" >&2
  fi
done
toml_list() { printf '"%s",' "$@" | sed 's/,$//'; }
# One sweep per power-of-two-ish group of sizes that share a request count (the largest size
# of the group times BATCHES), so that a model is loaded once per group, not once per size.
small="" large=""
for b in $sizes; do if [ "$b" -le 8 ]; then small="$small $b"; else large="$large $b"; fi; done
for group in "$small" "$large"; do
  [ -n "${group// /}" ] || continue
  max=0; policies=()
  for b in $group; do policies+=("fixed:$b"); [ "$b" -gt "$max" ] && max=$b; done
  cfg="$results/sweep-$max.toml"
  cat >"$cfg" <<TOML
name = "model-speed"
models = [$(toml_list $models)]
rates = [1e9]
arrivals = ["constant"]
policies = [$(toml_list "${policies[@]}")]
knobs = [$(toml_list $knobs)]
requests = $((max * batches))
device = "$device"
meter = "$meter"
threads = $threads
host_memory = "$host_memory"
idle_window = "0s"
warmup_batches = 5
warmup_batch_size = $max
TOML
  "./$build/greenbatch" sweep "$cfg" --out "$results" >&2 ||
    echo "model-speed: the sweep $cfg did not finish (what ran is in $results/runs.jsonl)" >&2
done
"$python" - "$results/runs.jsonl" "$device" >"$out" <<'PY'
import json, sys
path, device = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path)]
sizes = sorted({int(r["policy"].split(":")[1]) for r in rows})
models = list(dict.fromkeys(r["model"] for r in rows))
ok = [r for r in rows if not r.get("error")]
b0 = (ok or rows)[0].get("backend", {})
print(f"Device: {device} ({b0.get('device_name') or b0.get('cpu_model', '')}), LibTorch {b0.get('libtorch_version')}, "
      f"CUDA {b0.get('cuda_version')}, cuDNN {b0.get('cudnn_version')}, {b0.get('threads')} CPU threads, "
      f"BLAS {(b0.get('blas') or {}).get('name', 'not recorded')}, "
      f"host memory {b0.get('host_memory', 'system')}, "
      f"host {rows[0].get('host')}, {rows[0].get('started_utc')}.")
print("Each cell: images per second / milliseconds per batch (the median batch's service time, dispatch to "
      "completion, so that a first call at a new batch shape does not weigh in), over back-to-back batches; "
      "then the energy per image from the meter where the run's window was at least 1 s.\n")
sys.path.insert(0, "scripts")
from knob_tables import knobs_label
def knobs_of(r):
    return knobs_label(r.get("knobs") or {})
rows_of = list(dict.fromkeys((r["model"], knobs_of(r)) for r in rows))
with_knobs = len({k for _, k in rows_of}) > 1
print("| model | " + ("knobs | top-1 vs fp32 | " if with_knobs else "") + " | ".join(f"batch {s}" for s in sizes) + " |")
print("|---" * (len(sizes) + 1 + (2 if with_knobs else 0)) + "|")
for m, k in rows_of:
    cells = []
    mine = [r for r in rows if r["model"] == m and knobs_of(r) == k]
    for s in sizes:
        r = next((r for r in mine if r["policy"] == f"fixed:{s}"), None)
        if r is None or r.get("error"):
            cells.append(f"failed: {r['error']}" if r else "")
            continue
        p50 = r["service_s"]["p50"]
        cell = f"{s / p50:.1f} / {p50 * 1e3:.2f}"
        e = r.get("energy") or {}
        if e.get("measured") and (e.get("window_s") or 0) >= 1.0:
            cell += f" / {e['per_image_j']:.3g} J"
        cells.append(cell)
    lead = f"| {m} | "
    if with_knobs:
        a = next(((r.get("backend") or {}).get("agreement") for r in mine if (r.get("backend") or {}).get("agreement")), None)
        agree = f"{a['top1_same']}/{a['images']}, max logit diff {a['max_abs_logit_diff']:.2g}" if a else "-"
        lead += f"{k} | {agree} | "
    print(lead + " | ".join(cells) + " |")
PY
