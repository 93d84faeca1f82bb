#!/usr/bin/env python3
"""Reference outputs of Pillow and torchvision for greenbatch's image tests (tests/image).

Usage:
    image_references.py --out DIR [--images DIR]

Writes into DIR, for a set of generated JPEGs (deterministic content: seeded noise blended
with gradients, stripes and shapes, so that resampling and chroma upsampling are exercised) of
varied sizes, chroma subsamplings (4:2:0, 4:2:2, 4:4:4), baseline and progressive, colour and
grayscale, and for every *.jpg of --images (default: the repository's data/images):

    NAME.jpg   the JPEG (generated, or a copy of the shipped one)
    NAME.rgb   Pillow's decoded pixels, Image.open(NAME.jpg).convert("RGB"), height x width x 3
    NAME.crop  torchvision's Resize(256) then CenterCrop(224) of that PIL image, 224 x 224 x 3
    NAME.f32   torchvision's full study transform (Resize(256), CenterCrop(224), ToTensor,
               Normalize(ImageNet)), float32 little-endian, 3 x 224 x 224 (only when torch and
               torchvision import)
    index.json the images (name, width, height, how each was encoded, resized size) and which
               files exist, with the Pillow, torchvision and libjpeg versions

damaged JPEGs (made from generated ones: bytes flipped in the entropy-coded data, a frame
header declaring more pixels than the data holds, cut short, no end marker), listed under
"damaged" in index.json with Pillow's outcome: "decoded" (then NAME.rgb and NAME.crop are
written: libjpeg's warnings do not stop Pillow, and must not stop us) or "refused" (Pillow's
message); and JPEGs a decoder must refuse, under "refused": error_cmyk.jpg (a CMYK JPEG, as
Photoshop writes them; Pillow decodes it, greenbatch does not accept CMYK).

Without torchvision, NAME.crop is computed with Pillow alone by torchvision 0.14's arithmetic
(the resized size truncated, the crop's corner rounded half to even); with torchvision, both
ways are computed and must agree. Every file is written atomically (a temporary file, then a
rename), index.json last, so a folder with an index.json is complete.

Needs Pillow and numpy (torch and torchvision for NAME.f32); on Debian 12: /usr/bin/python3.
Takes a few seconds.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFile

RESIZE = 256
CROP = 224
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
REPO = Path(__file__).resolve().parent.parent

# (name, width, height, mode, quality, subsampling, progressive). Pillow's subsampling codes:
# 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
GENERATED = [
    ("gen_320x240_q90_420", 320, 240, "RGB", 90, 2, False),
    ("gen_640x480_q75_422", 640, 480, "RGB", 75, 1, False),
    ("gen_1280x720_q95_444", 1280, 720, "RGB", 95, 0, False),
    ("gen_1920x1080_q85_420_prog", 1920, 1080, "RGB", 85, 2, True),
    ("gen_427x640_q90_420", 427, 640, "RGB", 90, 2, False),  # portrait
    ("gen_257x301_q90_420", 257, 301, "RGB", 90, 2, False),  # odd sizes, chroma edges
    ("gen_301x257_q80_422", 301, 257, "RGB", 80, 1, False),
    ("gen_999x333_q90_444_prog", 999, 333, "RGB", 90, 0, True),
    ("gen_1000x224_q90_420", 1000, 224, "RGB", 90, 2, False),  # short side 224: upscaled
    ("gen_256x384_q90_420", 256, 384, "RGB", 90, 2, False),  # short side 256: not resized
    ("gen_384x256_q70_422_prog", 384, 256, "RGB", 70, 1, True),  # short side 256, landscape
    ("gen_230x240_q90_444", 230, 240, "RGB", 90, 0, False),  # upscaled both ways
    ("gen_224x224_q90_420", 224, 224, "RGB", 90, 2, False),  # square, upscaled
    ("gen_7x300_q90_444", 7, 300, "RGB", 90, 0, False),  # extreme: resized to 256 x 10971
    ("gen_500x375_q90_gray", 500, 375, "L", 90, None, False),
    ("gen_451x300_q60_gray_prog", 451, 300, "L", 60, None, True),
]


class ReferenceError(Exception):
    pass


def write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generated_pixels(width, height, seed, mode):
    """Deterministic content: gradients, sine stripes and seeded noise, then shapes with hard
    edges (circles, rectangles, lines) in seeded colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    fx = x / max(width - 1, 1)
    fy = y / max(height - 1, 1)
    base = np.stack([
        255.0 * fx,
        255.0 * fy,
        127.5 * (1.0 + np.sin(2.0 * np.pi * (3.0 * fx + 2.0 * fy) + seed)),
    ], axis=-1)
    stripes = 60.0 * np.sin(x * 0.9 + y * 0.35)[..., None]  # close to the sampling rate
    noise = rng.normal(0.0, 35.0, size=(height, width, 3))
    pixels = np.clip(0.7 * base + 0.3 * stripes + noise + 20.0, 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), outline=colour, width=int(rng.integers(1, 5)))
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 4)))
    return img.convert("L") if mode == "L" else img


def torchvision_resize_crop(img):
    """torchvision 0.14's Resize(256) then CenterCrop(224) of a PIL image, with Pillow alone."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = RESIZE, int(RESIZE * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    if new_w < CROP or new_h < CROP:
        raise ReferenceError(f"{w}x{h} resizes to {new_w}x{new_h}, smaller than the crop")
    top = int(round((new_h - CROP) / 2.0))
    left = int(round((new_w - CROP) / 2.0))
    return img.crop((left, top, left + CROP, top + CROP)), (new_w, new_h)


def load_torchvision():
    try:
        import torch
        import torchvision
        from torchvision import transforms
    except ImportError as exc:
        print(f"image_references.py: torch/torchvision do not import ({exc}); no .f32 files, "
              ".crop by Pillow alone", file=sys.stderr)
        return None
    return {
        "torch": torch,
        "version": torchvision.__version__,
        "crop": transforms.Compose([transforms.Resize(RESIZE), transforms.CenterCrop(CROP)]),
        "full": transforms.Compose([
            transforms.Resize(RESIZE),
            transforms.CenterCrop(CROP),
            transforms.ToTensor(),
            transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ]),
    }


def libjpeg_version():
    try:
        from PIL import features
        version = features.version("jpg")
        if features.check_feature("libjpeg_turbo"):
            version = f"libjpeg-turbo {features.version_feature('libjpeg_turbo')} (libjpeg API {version})"
        return version
    except Exception:  # older Pillow: no features API
        return None


def frame_header(data):
    """Offset of the frame header (SOF0/1/2) among the segments before the scan."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        if data[i + 1] in (0xC0, 0xC1, 0xC2):
            return i
        if data[i + 1] == 0xDA:
            break
        i += 2 + (data[i + 2] << 8 | data[i + 3])
    raise ReferenceError("no frame header")


def scan_data(data):
    """Offset of the first scan's entropy-coded data."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        length = data[i + 2] << 8 | data[i + 3]
        if data[i + 1] == 0xDA:
            return i + 2 + length
        i += 2 + length
    raise ReferenceError("no scan")


def damaged_variants(out_dir):
    """(name, bytes) of damaged JPEGs made from the generated ones, deterministically."""
    rng = np.random.default_rng(1234)
    out = []
    for source in ("gen_320x240_q90_420", "gen_384x256_q70_422_prog", "gen_451x300_q60_gray_prog",
                   "gen_230x240_q90_444"):
        original = (out_dir / f"{source}.jpg").read_bytes()
        start = scan_data(original)
        for k in range(6):
            data = bytearray(original)
            for at in rng.integers(start, len(data) - 2, size=1 + k):
                data[int(at)] ^= int(rng.integers(1, 256))
            out.append((f"dmg_{source}_flip{k}", bytes(data)))
        out.append((f"dmg_{source}_half", original[: len(original) // 2]))
        out.append((f"dmg_{source}_no_eoi", original[:-2]))
        sof = frame_header(original)
        bigger = bytearray(original)
        bigger[sof + 5:sof + 9] = (700).to_bytes(2, "big") + (900).to_bytes(2, "big")  # 900 x 700
        out.append((f"dmg_{source}_declared_900x700", bytes(bigger)))
    return out


def write_damaged(out_dir, tv):
    """Writes each damaged JPEG and, where Pillow decodes it, its references; returns the index."""
    entries = []
    for name, data in damaged_variants(out_dir):
        write_atomic(out_dir / f"{name}.jpg", data)
        try:
            entry = write_references(out_dir, name, tv)
            entry.update(outcome="decoded")
        except OSError as exc:  # Pillow refuses it
            entry = {"name": name, "outcome": "refused", "message": str(exc)}
        entries.append(entry)
    return entries


def write_references(out_dir, name, tv):
    """Writes NAME.rgb, NAME.crop (and NAME.f32) for out_dir/NAME.jpg; returns its index entry."""
    jpg = out_dir / f"{name}.jpg"
    with Image.open(jpg) as image:
        width, height = image.size
        file_mode = image.mode
        rgb = image.convert("RGB")
    write_atomic(out_dir / f"{name}.rgb", rgb.tobytes())
    crop, resized = torchvision_resize_crop(rgb)
    crop_bytes = crop.tobytes()
    if tv is not None:
        tv_crop = tv["crop"](rgb).tobytes()
        if tv_crop != crop_bytes:
            raise ReferenceError(f"{name}: torchvision's crop differs from Pillow's by the same arithmetic")
        tensor = tv["full"](rgb)
        if list(tensor.shape) != [3, CROP, CROP] or tensor.dtype != tv["torch"].float32:
            raise ReferenceError(f"{name}: unexpected tensor {list(tensor.shape)} {tensor.dtype}")
        write_atomic(out_dir / f"{name}.f32", tensor.contiguous().numpy().astype("<f4", copy=False).tobytes())
    assert len(crop_bytes) == CROP * CROP * 3
    write_atomic(out_dir / f"{name}.crop", crop_bytes)
    return {
        "name": name,
        "width": width,
        "height": height,
        "mode": file_mode,
        "resized": list(resized),
        "files": {"jpg": True, "rgb": True, "crop": True, "f32": tv is not None},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    parser.add_argument("--images", type=Path, default=REPO / "data" / "images",
                        help="folder of shipped *.jpg images (default: the repository's data/images)")
    args = parser.parse_args(argv)

    if not args.images.is_dir():
        print(f"image_references.py: error: images folder {args.images} does not exist", file=sys.stderr)
        return 1
    shipped = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not shipped:
        print(f"image_references.py: error: no *.jpg files in {args.images}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "index.json"
    if index_path.exists():
        index_path.unlink()  # incomplete until written again at the end
    tv = load_torchvision()

    entries = []
    try:
        for seed, (name, width, height, mode, quality, subsampling, progressive) in enumerate(GENERATED):
            img = generated_pixels(width, height, seed, mode)
            tmp = args.out / f".{name}.jpg.tmp"
            options = {"quality": quality, "progressive": progressive}
            if subsampling is not None:
                options["subsampling"] = subsampling
            # Pillow 9 gives a progressive encoder a buffer of width x height bytes, too small for
            # noisy 4:4:4 content ("Suspension not allowed here"); the buffer does not change
            # the bytes written.
            ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, 8 * width * height)
            img.save(tmp, "JPEG", **options)
            os.replace(tmp, args.out / f"{name}.jpg")
            entry = write_references(args.out, name, tv)
            entry.update(source="generated", quality=quality, progressive=progressive,
                         subsampling=SUBSAMPLING.get(subsampling, "none (grayscale)"))
            entries.append(entry)
        for path in shipped:
            tmp = args.out / f".{path.stem}.jpg.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, args.out / f"{path.stem}.jpg")
            entry = write_references(args.out, path.stem, tv)
            entry.update(source=f"data/images/{path.name}")
            entries.append(entry)
        damaged = write_damaged(args.out, tv)
        cmyk = generated_pixels(64, 48, 99, "RGB").convert("CMYK")
        cmyk.save(args.out / ".error_cmyk.jpg.tmp", "JPEG", quality=90)
        os.replace(args.out / ".error_cmyk.jpg.tmp", args.out / "error_cmyk.jpg")
    except (OSError, ReferenceError) as exc:
        print(f"image_references.py: error: {exc}", file=sys.stderr)
        return 1

    index = {
        "resize": RESIZE,
        "crop": CROP,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "crop_by": f"torchvision {tv['version']}" if tv is not None else "Pillow, torchvision 0.14's arithmetic",
        "pillow_version": PIL.__version__,
        "torchvision_version": tv["version"] if tv is not None else None,
        "libjpeg_version": libjpeg_version(),
        "images": entries,
        "damaged": damaged,
        "refused": {"cmyk": "error_cmyk.jpg"},
    }
    write_atomic(index_path, (json.dumps(index, indent=2) + "\n").encode())
    decoded = sum(1 for d in damaged if d["outcome"] == "decoded")
    print(f"image_references.py: {len(entries)} images ({len(GENERATED)} generated, {len(shipped)} shipped) and "
          f"{len(damaged)} damaged ({decoded} decoded by Pillow) -> {args.out}, .f32: {'yes' if tv is not None else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
