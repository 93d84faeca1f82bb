#!/usr/bin/env python3
"""Issue 23's tables from a folder of profiles (greenbatch profile, one per network and knob set):

1. per network, energy per image and milliseconds per batch (median service) by knob set and
   batch size, with each knob set's top-1 agreement with fp32 and the batch-1 / largest-batch
   ratio of energy per image;
2. the target: batch-1 energy per image at most 3x the largest batch's for ShuffleNetV2 and
   AlexNet with CUDA graphs;
3. energy per image against the power limit (the profiles measured with one).

    python3 scripts/knob_tables.py DIR > knobs.md
"""
import json
import pathlib
import sys


def knobs_label(k):
    parts = [k.get("precision") or "fp32"]
    if (k.get("memory_format") or "contiguous") != "contiguous":
        parts.append(k["memory_format"])
    if k.get("cuda_graphs"):
        parts.append("graphs")
    if k.get("power_limit_w"):
        parts.append(f"{k['power_limit_w']:g} W")
    return " ".join(parts)


def load(folder):
    profiles = []
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        p = json.loads(path.read_text())
        backend = p.get("backend") or {}
        knobs = dict(backend.get("knobs") or {})
        # A synthetic model's backend has no knobs, only the power limit's facts.
        if not knobs.get("power_limit_w") and (backend.get("power_limit") or {}).get("requested_w"):
            knobs["power_limit_w"] = backend["power_limit"]["requested_w"]
        points = {int(x["batch_size"]): x for x in p.get("points", [])}
        profiles.append({"model": p.get("model"), "device": p.get("device"), "knobs": knobs,
                         "label": knobs_label(knobs), "base": knobs_label(dict(knobs, power_limit_w=None)),
                         "agreement": backend.get("agreement"), "points": points, "backend": backend,
                         "meter": p.get("meter"), "host": p.get("host"), "created": p.get("created_utc")})
    return profiles


def per_image(pt):
    e = pt.get("energy_per_image_j")
    return e if isinstance(e, (int, float)) else None


def cell(pt):
    ms = pt["service_s"]["median"] * 1e3
    e = per_image(pt)
    return (f"{e:.3g} J / " if e is not None else "") + f"{ms:.2f} ms"


def agreement(a):
    if not a:
        return "(fp32)"
    return f"{a.get('top1_same', '?')}/{a.get('images', '?')}, max logit diff {a.get('max_abs_logit_diff', float('nan')):.2g}"


def ratio(pr):
    """Energy per image at the smallest size over the largest's (None without both)."""
    sizes = sorted(pr["points"])
    if len(sizes) < 2:
        return None
    lo, hi = per_image(pr["points"][sizes[0]]), per_image(pr["points"][sizes[-1]])
    return lo / hi if lo is not None and hi else None


def main():
    profiles = load(sys.argv[1])
    if not profiles:
        print("no profiles")
        return 1
    first = profiles[0]
    b = first["backend"]
    print(f"Device {first['device']} ({b.get('device_name') or b.get('cpu_model', '')}), LibTorch "
          f"{b.get('libtorch_version')}, CUDA {b.get('cuda_version')}, meter {first['meter']}, host {first['host']}, "
          f"{first['created']}. Each cell: energy per image (the meter, batches back to back over at least the "
          "profile's window) / milliseconds per batch (median).\n")
    models = list(dict.fromkeys(p["model"] for p in profiles))
    for m in models:
        mine = [p for p in profiles if p["model"] == m]
        sizes = sorted({s for p in mine for s in p["points"]})
        print(f"### {m}\n")
        print("| knobs | top-1 vs fp32 | " + " | ".join(f"batch {s}" for s in sizes) + " | J/image b1 / b"
              f"{sizes[-1]} |")
        print("|---" * (len(sizes) + 3) + "|")
        for p in mine:
            r = ratio(p)
            print(f"| {p['label']} | {agreement(p['agreement'])} | "
                  + " | ".join(cell(p["points"][s]) if s in p["points"] else "" for s in sizes)
                  + f" | {f'{r:.1f}x' if r else '-'} |")
        print()
    print("### The target: batch-1 energy per image at most 3x the largest batch's, with CUDA graphs\n")
    print("| network | knobs | J/image batch 1 | J/image largest batch | ratio | met |")
    print("|---|---|---|---|---|---|")
    for m in ("shufflenet_v2_x0_5", "alexnet"):
        for p in profiles:
            if p["model"] != m or p["knobs"].get("power_limit_w"):
                continue
            sizes = sorted(p["points"])
            r = ratio(p)
            if r is None:
                continue
            lo, hi = per_image(p["points"][sizes[0]]), per_image(p["points"][sizes[-1]])
            graphs = bool(p["knobs"].get("cuda_graphs"))
            print(f"| {m} | {p['label']} | {lo:.4g} | {hi:.4g} (batch {sizes[-1]}) | {r:.1f}x | "
                  f"{('yes' if r <= 3 else 'no') if graphs else '(without graphs)'} |")
    limited = [p for p in profiles if p["knobs"].get("power_limit_w")]
    if limited:
        print("\n### Energy per image against the power limit\n")
        print("| network | knobs | power limit | J/image b1 | J/image b16 | J/image largest | ms per largest batch |")
        print("|---|---|---|---|---|---|---|")
        for m in models:
            same = [p for p in profiles if p["model"] == m]
            bases = list(dict.fromkeys(p["base"] for p in same if p["knobs"].get("power_limit_w")))
            for base in bases:
                rows = [q for q in same if q["base"] == base]
                rows.sort(key=lambda q: -(q["knobs"].get("power_limit_w") or float("inf")))
                for q in rows:
                    pts = q["points"]
                    sizes = sorted(pts)
                    limit = q["knobs"].get("power_limit_w")
                    e = [per_image(pts[s]) if s in pts else None for s in (sizes[0], 16, sizes[-1])]
                    print(f"| {m} | {base} | {f'{limit:g} W' if limit else 'default'} | "
                          + " | ".join(f"{x:.4g}" if x is not None else "-" for x in e)
                          + f" | {pts[sizes[-1]]['service_s']['median'] * 1e3:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
