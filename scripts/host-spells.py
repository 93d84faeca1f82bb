#!/usr/bin/env python3
"""Whether this machine's slow spells come from inside it.

Runs a model's batch of one every 50 ms on one CPU for a while (LibTorch, one thread: the
validation's setting) and, from another CPU, samples every 100 ms what the kernel shows of
the machine: each CPU's busy and steal time, function-call and rescheduling interrupts (TLB
shootdowns and cross-CPU wake-ups), page faults, and the CPU time of kernel threads named
kdamond (DAMON, which some virtual machines run to reclaim memory). Then it compares the
2-second stretches in which most batches ran slow (over 1.35 times the median) with the rest.

  /usr/bin/python3 scripts/host-spells.py [MODEL.pt] [SECONDS] [OUT_DIR]

Needs python3-torch and two CPUs. Where a spell shows no more steal, interrupts, faults, or work
on the other CPU than the quiet stretches, its cause is outside what this machine's kernel sees.
"""
import multiprocessing as mp
import os
import statistics as st
import sys
import time


def sampler(seconds, path, cpu):
    os.sched_setaffinity(0, {cpu})
    kd = [p for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/comm").read().startswith("kdamond")]

    def kdamond_ticks():
        total = 0
        for p in kd:
            try:
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                total += int(f[11]) + int(f[12])
            except OSError:
                pass
        return total

    with open(path, "w") as out:
        end = time.time() + seconds
        while time.time() < end:
            row = {"t": time.time(), "kdamond": kdamond_ticks()}
            for line in open("/proc/stat"):
                f = line.split()
                if f[0].startswith("cpu") and f[0] != "cpu":
                    v = [int(x) for x in f[1:9]]
                    row[f[0] + " busy"] = v[0] + v[1] + v[2] + v[4] + v[5] + v[6]
                    row[f[0] + " steal"] = v[7]
            for line in open("/proc/interrupts"):
                f = line.split()
                if f and f[0] in ("CAL:", "RES:"):
                    row[f[0][:3] + " irqs"] = sum(int(x) for x in f[1:1 + os.cpu_count()])
            for line in open("/proc/vmstat"):
                k, v = line.split()
                if k in ("pgfault", "pgmajfault"):
                    row[k] = int(v)
            out.write(repr(row) + "\n")
            out.flush()
            time.sleep(0.1)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else "models/shufflenet_v2_x0_5.pt"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 240
    out = sys.argv[3] if len(sys.argv) > 3 else "results/host-spells"
    if os.cpu_count() < 2:
        sys.exit("host-spells.py: needs two CPUs, one to serve and one to watch")
    os.makedirs(out, exist_ok=True)
    os.sched_setaffinity(0, {0})
    watch = mp.Process(target=sampler, args=(seconds + 2, f"{out}/machine.txt", os.cpu_count() - 1))
    watch.start()  # before torch is imported: the watcher is a plain process
    import torch
    torch.set_num_threads(1)
    m = torch.jit.load(model).eval()
    x = torch.randn(1, 3, 224, 224)
    served = []
    with torch.no_grad():
        for _ in range(20):
            m(x)
        end = time.time() + seconds
        while time.time() < end:
            time.sleep(0.05)
            t, p0 = time.time(), time.perf_counter()
            m(x)
            served.append((t, (time.perf_counter() - p0) * 1e3))
    watch.join()
    with open(f"{out}/service.txt", "w") as f:
        f.writelines(f"{t:.4f} {ms:.3f}\n" for t, ms in served)
    import ast
    rows = [ast.literal_eval(line) for line in open(f"{out}/machine.txt")]
    med = st.median(ms for _, ms in served)
    t0 = served[0][0]
    bins = {}
    for t, ms in served:
        bins.setdefault(int((t - t0) // 2), []).append(ms)
    deltas = {}
    for a, b in zip(rows, rows[1:]):
        d = deltas.setdefault(int((b["t"] - t0) // 2), {})
        for k in b:
            if k != "t":
                d[k] = d.get(k, 0) + b[k] - a[k]
    slow = {k for k, v in bins.items() if sum(ms > 1.35 * med for ms in v) > len(v) / 2}
    print(f"{len(served)} batches of one over {seconds:g} s: median {med:.2f} ms; "
          f"{len(slow)} of {len(bins)} 2-second stretches slow (most batches over {1.35 * med:.1f} ms)")
    keys = sorted(next(iter(deltas.values())))
    print("\nper 2-second stretch, mean change | in slow stretches | in the others")
    for k in keys:
        ins = [deltas[b].get(k, 0) for b in deltas if b in slow]
        outs = [deltas[b].get(k, 0) for b in deltas if b not in slow]
        fmt = lambda xs: f"{st.mean(xs):9.1f}" if xs else "        -"
        print(f"  {k:14s} {fmt(ins)} {fmt(outs)}")
    print("\n(busy and steal in clock ticks of 10 ms; the serving CPU's busy time grows with its slower batches)")


if __name__ == "__main__":
    main()
