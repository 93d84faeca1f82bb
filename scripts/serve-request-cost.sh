#!/usr/bin/env bash
# What one request costs on greenbatch serve's path, the model aside: a synthetic model that
# takes no time (fixed:1), driven by greenbatch load at a low rate with each kind of request body:
# null (a small JSON FP32 [1,4]) and tensor (one preprocessed image, FP32 [1,3,224,224] in binary
# tensor data: 602 KB). Prints, per kind, the client's send lateness and the time from send to
# complete answer (p50, p99): HTTP, parsing, queueing and answer, both sides on this machine.
#
#   bash scripts/serve-request-cost.sh [BUILD]     (default build; RATE 50, REQUESTS 300)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
exe="$build/greenbatch"
rate="${RATE:-50}"
requests="${REQUESTS:-300}"
source scripts/bench-lib.sh
bench_require_greenbatch "$build"
bench_setup_work
bench_machine_line
bench_start_serve "$build" "$work/serve.log" 30 --model synthetic:base=0s,per_item=0s --policy fixed:1 \
  --meter none --out "$work/serve"
port=$bench_port
for input in null tensor; do
  "$exe" load "http://127.0.0.1:$port" --model synthetic --rate "$rate" --requests "$requests" --input "$input" \
    --meter none --idle-window 0s --out "$work/$input" --requests-out "$work/$input.csv" >/dev/null
done
"${PYTHON:-/usr/bin/python3}" - "$work" <<'PY'
import csv, sys
def q(v, p):
    v = sorted(v)
    return v[int(p * (len(v) - 1))]
for kind in ["null", "tensor"]:
    rows = [r for r in csv.DictReader(open(f"{sys.argv[1]}/{kind}.csv")) if r["status"] == "200"]
    late = [(float(r["sent_s"]) - float(r["scheduled_s"])) * 1e3 for r in rows]
    rt = [(float(r["done_s"]) - float(r["sent_s"])) * 1e3 for r in rows]
    print(f"{kind:<7} {len(rows)} answered: send lateness p50 {q(late, .5):.3f} p99 {q(late, .99):.3f} ms; "
          f"send to answer p50 {q(rt, .5):.3f} p99 {q(rt, .99):.3f} ms")
PY
