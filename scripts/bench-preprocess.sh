#!/usr/bin/env bash
# Per-image preprocessing cost, one thread: greenbatch's src/image (bench/bench_preprocess.cpp:
# libjpeg-turbo decode, Pillow's Resize(256) + CenterCrop(224) in fixed point, Normalize by table)
# against Pillow + torchvision in the same run (Image.open(...).convert("RGB"), then Resize(256),
# CenterCrop(224), ToTensor, Normalize with torch.set_num_threads(1)), on the three shipped images
# (data/images/*.jpg) and on generated JPEGs of 320x240 to 1920x1080 (deterministic content,
# quality 90, 4:2:0, saved with Pillow). Prints one table and two PASS/FAIL lines:
#   shipped:   for each shipped image, ours <= 0.5 x theirs (by the median and by the minimum);
#   generated: for each generated image, ours <= theirs, and our cost per extra megapixel
#              (slope from the smallest to the largest generated image) <= theirs: we scale no
#              worse than Pillow. The issue's stricter reading (each generated image's ratio <=
#              the shipped images' mean ratio) is printed as well, for information.
# Exits 1 if a PASS/FAIL line says FAIL. Results are noisy on a busy machine: run it idle.
#
#   scripts/bench-preprocess.sh [BUILD_DIR]      (default build-bench; a lite build, no LibTorch)
#
# Environment: PYTHON (/usr/bin/python3; needs Pillow, torch, torchvision, numpy), REPS (our
# Google Benchmark repetitions, 15), RUNS (Pillow + torchvision timed batches per image, 15),
# MIN_TIME (seconds per repetition or batch, 0.1), CLOCK (wall, or cpu: the process's CPU time on
# both sides, steadier on a busy machine), CMAKE_ARGS (more configure arguments).
# "ours decode" is the whole image's decode (as Pillow's); "ours total" decodes only the part the
# resize reads (jpeg_to_crop), so it can be less than decode + resample+norm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build-bench}"
python="${PYTHON:-/usr/bin/python3}"
reps="${REPS:-15}"
runs="${RUNS:-15}"
min_time="${MIN_TIME:-0.1}"
clock="${CLOCK:-wall}"
case "$clock" in wall | cpu) ;; *) echo "CLOCK must be wall or cpu" >&2; exit 2 ;; esac

if [ ! -f "$build/build.ninja" ]; then
  # shellcheck disable=SC2086  # CMAKE_ARGS is a list of words
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREENBATCH_WITH_TORCH=OFF \
    -DGREENBATCH_BUILD_TESTS=OFF ${CMAKE_ARGS:-} >&2
fi
cmake --build "$build" --target bench_preprocess >&2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/bench.py" <<'PY'
import io, json, statistics, sys, time

CLOCK = time.perf_counter

def generate(folder):
    import numpy as np
    from PIL import Image
    for w, h in ((320, 240), (640, 480), (1280, 720), (1920, 1080)):
        # Smooth colour gradients, rings and a fixed-seed noise: photograph-like entropy.
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = np.hypot(x - w * 0.4, y - h * 0.6)
        noise = np.random.default_rng(w * h).normal(0.0, 12.0, (h, w, 3))
        img = np.stack([128 + 100 * np.sin(x / 37.0) * np.cos(y / 53.0),
                        128 + 90 * np.cos(r / 23.0),
                        255 * x / w * (1 - y / h) + 40 * np.sin((x + y) / 11.0)], axis=-1) + noise
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(
            f"{folder}/generated_{w}x{h}.jpg", quality=90, subsampling=2)

def per_image(fn, runs, min_time):
    """ms per image: `runs` batches of about min_time seconds each; (min, median)."""
    fn()
    n, t = 1, 0.0
    while t < min_time:
        start = CLOCK()
        for _ in range(n):
            fn()
        t = CLOCK() - start
        if t < min_time:
            n *= 2
    times = []
    for _ in range(runs):
        start = CLOCK()
        for _ in range(n):
            fn()
        times.append((CLOCK() - start) / n * 1e3)
    return min(times), statistics.median(times)

def theirs(files, runs, min_time):
    import torch
    import torchvision.transforms as T
    from PIL import Image
    torch.set_num_threads(1)
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    out = {}
    for f in files:
        data = open(f, "rb").read()
        decode = lambda: Image.open(io.BytesIO(data)).convert("RGB")
        out[f] = {"decode": per_image(decode, runs, min_time),
                  "total": per_image(lambda: tf(decode()), runs, min_time)}
    return out

def ours(path, key):
    res = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") != "aggregate" or b["aggregate_name"] not in ("min", "median"):
            continue
        stage, name = b["run_name"].split("/")[:2]
        d = res.setdefault(name, {"width": int(b["width"]), "height": int(b["height"])})
        d.setdefault(stage, {})[b["aggregate_name"]] = b[key]  # ms (Unit kMillisecond)
    return res

def table(files, ours_json, runs, min_time):
    import os, platform, re, torch, torchvision, PIL
    from PIL import features
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    blas = m.group(1) if m else "not stated"
    print(f"CPU: {cpu} ({os.cpu_count()} logical CPUs); load average {os.getloadavg()[0]:.2f}; one thread each side")
    print(f"BLAS: none involved in this path (integer resampling, table or elementwise normalization); "
          f"torch's build says BLAS_INFO={blas}")
    print(f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('jpg')}), torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, Python {platform.python_version()}")
    print(f"clock: {'wall (real) time' if CLOCK is time.perf_counter else 'process CPU time'}; "
          f"ours: Google Benchmark, min and median of the repetitions; theirs: {runs} batches "
          f"of ~{min_time} s, min and median; ms per image; ratio = ours total / theirs total")
    o = ours(ours_json, "real_time" if CLOCK is time.perf_counter else "cpu_time")
    t = theirs(files, runs, min_time)
    head = ("image", "size", "ours decode", "ours resample+norm", "ours total", "theirs decode", "theirs total",
            "ratio")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = []
    for f in files:
        name = os.path.basename(f)
        d, th = o[name], t[f]
        rn = {k: d["resize_crop"][k] + d["normalize"][k] for k in ("min", "median")}
        ratio = {"min": d["total"]["min"] / th["total"][0], "median": d["total"]["median"] / th["total"][1]}
        rows.append((name, d, th, ratio))
        cell = lambda mn, md: f"{md:.3f} ({mn:.3f})"
        print(f"| {name} | {d['width']}x{d['height']} | {cell(d['decode']['min'], d['decode']['median'])} | "
              f"{cell(rn['min'], rn['median'])} | {cell(d['total']['min'], d['total']['median'])} | "
              f"{cell(*th['decode'])} | {cell(*th['total'])} | {ratio['median']:.2f} ({ratio['min']:.2f}) |")
    print("\ncells: median (min) in ms; ratio: of the medians (of the minima); ours decode: the whole "
          "image, ours total: only the part the resize reads\n")
    shipped = [r for r in rows if not r[0].startswith("generated_")]
    gen = [r for r in rows if r[0].startswith("generated_")]
    ok = True
    if shipped:
        worst = max(max(r[3].values()) for r in shipped)
        good = worst <= 0.5
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} shipped images: ours <= 0.5 x theirs "
              f"(worst ratio {worst:.2f}, by median and by min)")
    if len(gen) >= 2:
        mp = lambda r: r[1]["width"] * r[1]["height"] / 1e6
        lo, hi = gen[0], gen[-1]
        slope_ours = (hi[1]["total"]["median"] - lo[1]["total"]["median"]) / (mp(hi) - mp(lo))
        slope_theirs = (hi[2]["total"][1] - lo[2]["total"][1]) / (mp(hi) - mp(lo))
        worst = max(r[3]["median"] for r in gen)
        good = worst <= 1.0 and slope_ours <= slope_theirs
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} generated images scale no worse than Pillow: each ratio <= 1 "
              f"(worst {worst:.2f}) and ms per extra megapixel ours {slope_ours:.2f} <= theirs {slope_theirs:.2f} "
              f"(medians, {lo[0]} to {hi[0]})")
        if shipped:
            mean = statistics.mean(r[3]["median"] for r in shipped)
            print(f"(info) each generated ratio <= the shipped images' mean ratio {mean:.2f}: "
                  f"{'yes' if worst <= mean else 'no'} (worst {worst:.2f})")
    return ok

if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    else:
        runs, min_time, ours_json = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
        if sys.argv[5] == "cpu":
            CLOCK = time.process_time
        sys.exit(0 if table(sys.argv[6:], ours_json, runs, min_time) else 1)
PY

"$python" "$tmp/bench.py" generate "$tmp"
files=("$root"/data/images/*.jpg "$tmp"/generated_320x240.jpg "$tmp"/generated_640x480.jpg
  "$tmp"/generated_1280x720.jpg "$tmp"/generated_1920x1080.jpg)
"$build/bench/bench_preprocess" --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
  --benchmark_out="$tmp/ours.json" --benchmark_out_format=json "${files[@]}" > "$tmp/ours.txt"
echo "command: scripts/bench-preprocess.sh $build   (REPS=$reps RUNS=$runs MIN_TIME=$min_time CLOCK=$clock)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
"$python" "$tmp/bench.py" table "$runs" "$min_time" "$tmp/ours.json" "$clock" "${files[@]}"
