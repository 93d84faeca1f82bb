#!/usr/bin/env bash
# Issue 22: how adaptive and the best static policy hold up when the machine is slower than its
# profile (simulate --slowdown, tune --slowdown), in the simulator only. For each factor F:
#   - adaptive (planning with the profile as measured) on the machine F times slower;
#   - tune's best static policy for the profile as measured (what a user tuned on a faster day
#     deploys), on the same slower machine;
#   - tune's best static policy for the slower machine itself (tune --slowdown xF): the best
#     static policy that meets the target there, the fair comparison at equal attainment.
# Prints one Markdown table: p99, 10 s windows meeting the target and energy per image of each.
#
#   bash scripts/adaptive-slowdown.sh [BUILD] [OUT]     (default build, results/adaptive-slowdown)
#
# Environment: PROFILE (docs/measurements/adaptive/shufflenet-cpu-openblas.profile.json), LOAD
# (steps:16@30s,128@30s,32@30s: adaptive-real.sh's), TARGET (p99=200ms), FACTORS
# (1 1.1 1.2 1.3 1.5 2), SEED (1), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
out="${2:-results/adaptive-slowdown}"
exe="$build/greenbatch"
python="${PYTHON:-/usr/bin/python3}"
profile="${PROFILE:-docs/measurements/adaptive/shufflenet-cpu-openblas.profile.json}"
load="${LOAD:-steps:16@30s,128@30s,32@30s}"
target="${TARGET:-p99=200ms}"
factors="${FACTORS:-1 1.1 1.2 1.3 1.5 2}"
seed="${SEED:-1}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
rm -rf "$out"
mkdir -p "$out"
best_static() { bench_best_static "$build" "$profile" "$load" "$target" --seed "$seed" "$@" 2>/dev/null; }
static=$(best_static)
[ -n "$static" ] || { echo "adaptive-slowdown.sh: no static policy meets $target on the profile" >&2; exit 1; }
adaptive="adaptive:$target,profile=$profile"
echo "# $load, target $target, seed $seed; profile $profile; tuned on the profile: $static" >&2
for f in $factors; do
  retuned=$(best_static --slowdown "x$f")
  if [ -z "$retuned" ]; then
    echo "adaptive-slowdown.sh: no static policy meets $target at x$f: left out" >&2
    continue
  fi
  "$exe" simulate --profile "$profile" --arrivals "$load" --policy "$adaptive,$static,$retuned" --seed "$seed" \
    --slowdown "x$f" --out "$out/x$f" >/dev/null 2>&1
  echo "$f $static $retuned" >>"$out/factors.txt"
done
"$python" - "$out" "$target" "$adaptive" <<'PY'
import json, re, sys
out, target, adaptive = sys.argv[1:4]
v, unit = re.fullmatch(r"[a-z0-9]+=([0-9.]+)(ms|s|us)", target).groups()
limit = float(v) * {"s": 1, "ms": 1e-3, "us": 1e-6}[unit]
def fig(r):
    w = [x for x in r["windows"] if x["requests"]]
    met = sum(x["p99_s"] <= limit for x in w)
    return f"{r['latency_s']['p99'] * 1e3:.0f} ms, {met}/{len(w)}, {r['energy']['per_image_j']:.4f}"
print("| slower by | adaptive: p99, windows met, J/image | tuned on the profile | tuned for the slower machine | adaptive against it |")
print("|---|---|---|---|---|")
for line in open(f"{out}/factors.txt"):
    f, static, retuned = line.split()
    runs = {}
    for l in open(f"{out}/x{f}/runs.jsonl"):
        r = json.loads(l)
        runs.setdefault(r["policy"], r)
    a, s, t = runs[adaptive], runs[static], runs[retuned]
    ea, et = a["energy"]["per_image_j"], t["energy"]["per_image_j"]
    print(f"| x{f} | {fig(a)} | `{static}`: {fig(s)} | `{retuned}`: {fig(t)} | {(ea - et) / et * 100:+.2f} % |")
PY
