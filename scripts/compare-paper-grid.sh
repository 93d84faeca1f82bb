#!/usr/bin/env bash
# Field-for-field comparison of two greenbatch builds on the study's whole grid, simulated:
#   scripts/compare-paper-grid.sh OLD_GREENBATCH NEW_GREENBATCH [WORK_DIR]
# Each build profiles five synthetic models (virtual clock, modelled meter: exact and instant),
# the two sets of profiles are compared, then each build simulates configs/paper.toml
# (100 configurations, 819,200 requests) from the OLD build's profiles, and every record is
# compared key by key, as is one run's per-request CSV. Fields that say when and by what build
# a record was made (started_utc, host, tool_version, git_rev, created_utc) are left out; keys
# only one side has are listed. Exits 1 on any difference in the fields both sides have.
set -euo pipefail
old="$1"
new="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"
models=(
  "synthetic:base=2ms,per_item=300us"
  "synthetic:base=8ms,per_item=2ms"
  "synthetic:base=1ms,per_item=100us,switch_at=16,per_item_from=50us"
  "synthetic:base=20ms,per_item=5ms"
  "synthetic:base=15ms,per_item=3ms,drift=0.01"
)
profiles=()
for side in old new; do
  bin="${!side}"
  for i in "${!models[@]}"; do
    "$bin" profile --model "${models[$i]}" --clock virtual --meter modelled:idle=40W,busy=$((120 + 20 * i))W \
      --rounds 2 --out "$work/$side-profile-$i.json" >/dev/null
    [ "$side" = old ] && profiles+=("$work/old-profile-$i.json")
  done
done
list="$(IFS=,; echo "${profiles[*]}")"
for side in old new; do
  bin="${!side}"
  rm -rf "$work/$side-sim"
  "$bin" simulate --profile "$list" --sweep "$root/configs/paper.toml" --out "$work/$side-sim" >/dev/null 2>&1
  "$bin" simulate --profile "${profiles[2]}" --rate 64 --policy timeout:16:30ms --arrivals poisson --requests 4096 \
    --out "$work/$side-one" --requests-out "$work/$side-requests.csv" >/dev/null 2>&1
done
"${PYTHON:-/usr/bin/python3}" - "$work" "${#models[@]}" <<'EOF'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
SKIP = {"started_utc", "host", "tool_version", "git_rev", "created_utc"}
diffs, added, removed = [], set(), set()
def compare(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            if k in SKIP: continue
            if k not in b: removed.add(k); continue
            if k not in a: added.add(k); continue
            compare(a[k], b[k], f"{where}.{k}")
    elif a != b:
        diffs.append(f"{where}: {a!r} != {b!r}")
for i in range(n):
    compare(json.load(open(f"{work}/old-profile-{i}.json")), json.load(open(f"{work}/new-profile-{i}.json")), f"profile {i}")
old = [json.loads(l) for l in open(f"{work}/old-sim/runs.jsonl")]
new = [json.loads(l) for l in open(f"{work}/new-sim/runs.jsonl")]
if len(old) != len(new): diffs.append(f"{len(old)} records against {len(new)}")
for i, (a, b) in enumerate(zip(old, new)):
    compare(a, b, f"record {i}")
same_csv = open(f"{work}/old-requests.csv").read() == open(f"{work}/new-requests.csv").read()
if not same_csv: diffs.append("the per-request CSVs differ")
print(f"{n} profiles and {len(old)} simulated records compared, and one run's per-request CSV "
      f"({sum(1 for _ in open(work + '/old-requests.csv')) - 1} requests)")
print("keys only the new build writes:", ", ".join(sorted(added)) or "none")
print("keys only the old build writes:", ", ".join(sorted(removed)) or "none")
print("differences in the fields both write:", len(diffs))
for d in diffs[:20]: print("  " + d)
sys.exit(1 if diffs else 0)
EOF
