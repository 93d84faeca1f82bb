#!/usr/bin/env bash
# The study's grid through both paths (issue 21): an experiment file swept in greenbatch's process,
# then again with mode = "serve" (a greenbatch serve per model and policy on 127.0.0.1, driven by
# greenbatch load over HTTP), into OUT/in-process and OUT/serve; one report of both
# (OUT/report.html, its section 7 sets them side by side) and a table printed here: per
# configuration, the average batch, J/image and p99 latency of each path and the served path's
# difference. Both sweeps resume: running it again runs only what is missing.
#
#   bash scripts/sweep-paths.sh [BUILD] [FILE] [OUT]
#     BUILD: the LibTorch build folder (default build); FILE: default configs/quick.toml;
#     OUT: default results/sweep-paths.
#
# Environment: METER (modelled:idle=20,busy=65: the same meter on both paths, so that their energy
# figures compare; the CPU has no readable RAPL on this project's machines), REPS (1: repetitions),
# SET (more settings, spaces between, each KEY=VALUE as --set takes it: SET='device="cuda" threads=4'),
# PYTHON.
# With repetitions, each path's J/image and p99 come with their range over the repeats, and the
# served mean is checked against the in-process repeats: inside their range, and inside the 95 %
# prediction interval of one more in-process run (mean +- t * s * sqrt(1 + 1/n)).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
file="${2:-configs/quick.toml}"
out="${3:-results/sweep-paths}"
meter="${METER:-modelled:idle=20,busy=65}"
reps="${REPS:-1}"
python="${PYTHON:-/usr/bin/python3}"
exe="$build/greenbatch"
sets=(--set "meter=\"$meter\"" --set "repetitions=$reps")
for kv in ${SET:-}; do sets+=(--set "$kv"); done
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
bench_ensure_model shufflenet_v2_x0_5

bench_machine_line
bench_blas_line
echo "# $exe sweep $file ${sets[*]} [--set mode=serve]"
"$exe" sweep "$file" "${sets[@]}" --out "$out/in-process"
"$exe" sweep "$file" "${sets[@]}" --set mode=serve --out "$out/serve"
"$exe" report "$out/in-process" "$out/serve" --out "$out/report.html" >&2
"$python" - "$out/in-process/runs.jsonl" "$out/serve/runs.jsonl" <<'PY'
import json, statistics, sys
def load(path):
    groups = {}
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("error") or not r.get("latency_s"):
            continue
        key = (r["model"], r["arrivals"], r["rate_hz"], r["policy"])
        groups.setdefault(key, []).append(r)
    return groups
run, serve = load(sys.argv[1]), load(sys.argv[2])
def mean(rs, f):
    v = [f(r) for r in rs if f(r) is not None]
    return statistics.mean(v) if v else None
energy = lambda r: (r.get("energy") or {}).get("per_image_j")
p99 = lambda r: r["latency_s"]["p99"]
batch = lambda r: r.get("avg_batch_size")
sys.path.insert(0, "scripts")
from pi95 import pi95_half_width
def pct(a, b):
    return f"{(b - a) / a * 100:+.1f} %" if a and b is not None else "-"
def fmt(v, spec):
    return "-" if v is None else format(v, spec)
def spread(rs, f, scale=1.0):
    v = [f(r) * scale for r in rs if f(r) is not None]
    return f"{min(v):.4g}-{max(v):.4g}" if len(v) > 1 else "-"
def verdict(rs, value, f):
    """Where the served mean lies against the in-process repeats: in their range, in the 95 %
    prediction interval of one more run."""
    v = [f(r) for r in rs if f(r) is not None]
    if len(v) < 2 or value is None:
        return "-"
    m = statistics.mean(v)
    half = pi95_half_width(v)
    return (f"{'in' if min(v) <= value <= max(v) else 'out of'} range, "
            f"{'in' if abs(value - m) <= half else 'out of'} PI +-{half / m * 100:.1f} %")
print(f"{'model':<20} {'rate':>5} {'policy':<16} {'n':>3} {'batch run/serve':>16} {'J/image run/serve':>20} {'diff':>8} "
      f"{'p99 ms run/serve':>20} {'diff':>8}")
spreads = []
for key in sorted(run):
    if key not in serve:
        continue
    a, b = run[key], serve[key]
    ea, eb, la, lb = mean(a, energy), mean(b, energy), mean(a, p99), mean(b, p99)
    print(f"{key[0]:<20} {key[2]:>5g} {key[3]:<16} {min(len(a), len(b)):>3} "
          f"{fmt(mean(a, batch), '.3g'):>7} / {fmt(mean(b, batch), '<6.3g')} "
          f"{fmt(ea, '.4f'):>9} / {fmt(eb, '<8.4f')} {pct(ea, eb):>8} "
          f"{fmt(la and la * 1e3, '.1f'):>9} / {fmt(lb and lb * 1e3, '<8.1f')} {pct(la, lb):>8}")
    if len(a) > 1 or len(b) > 1:
        spreads.append((key, a, b, eb))
if spreads:
    print()
    print("repeat spread (min-max over the repeats) and where the served mean lies against the in-process repeats")
    for key, a, b, eb in spreads:
        print(f"{key[0]} {key[2]:g}/s {key[3]}: J/image run {spread(a, energy)}, serve {spread(b, energy)}: "
              f"served mean {verdict(a, eb, energy)}; p99 ms run {spread(a, p99, 1e3)}, serve {spread(b, p99, 1e3)}")
PY
echo "# report: $out/report.html"
