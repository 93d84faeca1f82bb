"""An open-loop client for an Open Inference Protocol (KServe v2) server, standard library only.

Sends one request per scheduled arrival, at its scheduled time, whatever the answers before it
(open loop: a slow server meets the same stream), and measures each response time from the
scheduled arrival, never from the moment it was sent (no coordinated omission).

  python3 bench/serve/openloop.py --url http://127.0.0.1:PORT --model NAME --schedule FILE.csv

FILE.csv: a header with an arrival_s column (greenbatch run --requests-out writes one), one row
per request, ascending. Each request is one FP32 [1,3,224,224] tensor in Triton's binary tensor
data (already preprocessed: request i sends --inputs' file i mod their number, as greenbatch run
feeds image i mod 3 of data/images), asking for top1.
Prints one line of JSON: requests, errors, latency percentiles (s), and how late the sends were.
"""
import argparse
import csv
import http.client
import json
import queue
import random
import struct
import sys
import threading
import time
import urllib.parse


def percentile(sorted_values, p):
    """Linear interpolation between closest ranks (numpy's default), as greenbatch's summaries."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--schedule", required=True)
    ap.add_argument("--connections", type=int, default=32, help="keep-alive connections (the most in flight)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--inputs", help="comma-separated files of one float32 [3,224,224] image each (little-endian); "
                                     "request i sends file i mod their number (default: uniform noise)")
    args = ap.parse_args()

    with open(args.schedule, newline="") as f:
        arrivals = [float(row["arrival_s"]) for row in csv.DictReader(f)]
    if not arrivals:
        sys.exit("the schedule is empty")
    u = urllib.parse.urlparse(args.url)
    path = f"/v2/models/{args.model}/infer"
    header = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224],
                                      "parameters": {"binary_data_size": 3 * 224 * 224 * 4}}],
                         "outputs": [{"name": "top1"}]}).encode()
    # A network's speed on a CPU depends on its input (the reference BLAS skips zeros; denormal
    # numbers are slow): to compare with greenbatch run, send the very tensors run feeds it.
    if args.inputs:
        tensors = []
        for name in args.inputs.split(","):
            with open(name, "rb") as f:
                data = f.read()
            if len(data) != 3 * 224 * 224 * 4:
                sys.exit(f"{name}: {len(data)} bytes, not one float32 [3,224,224] image")
            tensors.append(data)
    else:
        rng = random.Random(1)
        tensors = [struct.pack(f"<{3 * 224 * 224}f", *(rng.uniform(-2.0, 2.6) for _ in range(3 * 224 * 224)))]
    bodies = [header + t for t in tensors]
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}

    jobs = queue.Queue()
    results = [None] * len(arrivals)  # (latency_s, sent_late_s, status)
    start = [0.0]

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
        while True:
            i = jobs.get()
            if i is None:
                conn.close()
                return
            scheduled = start[0] + arrivals[i]
            sent = time.perf_counter()
            try:
                conn.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
                status = -1
            results[i] = (time.perf_counter() - scheduled, sent - scheduled, status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    start[0] = time.perf_counter() + 0.2
    for i, a in enumerate(arrivals):
        delay = start[0] + a - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put(i)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(args.timeout + 5)

    ok = sorted(r[0] for r in results if r and r[2] == 200)
    late = sorted(r[1] for r in results if r)
    out = {"requests": len(arrivals), "ok": len(ok), "errors": len(arrivals) - len(ok),
           "latency_s": {"p50": percentile(ok, 50), "p90": percentile(ok, 90), "p99": percentile(ok, 99),
                         "max": ok[-1] if ok else None},
           "send_late_s": {"p50": percentile(late, 50), "p99": percentile(late, 99), "max": late[-1] if late else None}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
