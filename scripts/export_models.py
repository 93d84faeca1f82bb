#!/usr/bin/env python3
"""Export image classifiers to TorchScript for greenbatch's LibTorch backend.

Usage:
    export_models.py [--out DIR] [--int8] [--reference-tensors DIR] [--images DIR] [--list] [NAME ...]

With no NAME (and no --reference-tensors) it exports the study's five networks:
alexnet, densenet121, shufflenet_v2_x0_5, vit_b_16, convnext_base. Any other torchvision
classification model name is accepted (see --list), and so are three tiny test models
(tiny_cnn, tiny_flat, tiny_fails_over_8).

For every model it writes DIR/NAME.pt (TorchScript, traced on a 1x3x224x224 example, or
scripted when tracing does not reproduce eager outputs on a batch of 4) and DIR/NAME.json
(a sidecar describing the export: weights, parameters, GFLOPs, versions). With --int8 also
DIR/NAME.int8.pt and its sidecar: the Linear layers dynamically quantized to int8, for
greenbatch's --precision int8 (a model without Linear layers gets none, and is told so).

Pretrained weights are used only when torchvision's checkpoint file is already in the local
torch hub cache (torch.hub.get_dir()/checkpoints/); nothing is downloaded. Otherwise the
weights are random (torch.manual_seed(0)): energy and time per inference do not depend on
the weights' values, only the predictions do.

--reference-tensors DIR writes, for every *.jpg in the images folder, the float32 tensor that
torchvision's study preprocessing produces (Resize(256), CenterCrop(224), ToTensor,
Normalize(ImageNet)), so that a C++ preprocessing can be checked against it.

Needs torch and torchvision >= 0.14 (on Debian 12: /usr/bin/python3 with python3-torch and
python3-torchvision). See docs/models.md.
"""

import argparse
import datetime
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

STUDY_MODELS = ["alexnet", "densenet121", "shufflenet_v2_x0_5", "vit_b_16", "convnext_base"]
TEST_MODELS = ["tiny_cnn", "tiny_flat", "tiny_fails_over_8"]
SEED = 0
INPUT_SIZE = [3, 224, 224]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TRANSFORM_TEXT = "Resize(256), CenterCrop(224), ToTensor, Normalize(ImageNet)"
# Profiler ops whose flops are 2 x multiply-accumulates (convolutions and matrix products).
MAC_OPS = {"aten::conv2d", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
GFLOPS_METHOD = (
    "torch.profiler with_flops on one 1x3x224x224 forward pass; gflops = multiply-accumulates "
    "of aten::conv2d/mm/addmm/bmm/baddbmm / 1e9 (profiler flops / 2), the convention of "
    "torchvision's GFLOPS column; gflops_profiler = all events' profiler flops / 1e9 "
    "(2 per multiply-add, plus the elementwise add/mul the profiler counts)"
)

# torchvision builders change a few architecture arguments when they are given weights; with
# random weights the same arguments are passed so that the exported network is the one the
# pretrained weights would give (same layers, parameters and FLOPs).
ARCH_KWARGS_OF_WEIGHTS = {
    "googlenet": {"transform_input": True, "aux_logits": False, "init_weights": False},
    "inception_v3": {"transform_input": True, "init_weights": False},
}

EXIT_FAILURE = 1
EXIT_USAGE = 2


class ExportError(Exception):
    pass


def die(message, code=EXIT_FAILURE):
    print(f"export_models.py: error: {message}", file=sys.stderr)
    sys.exit(code)


try:
    import torch
    import torch.nn as nn
    import torchvision
    import torchvision.models as tvm
except ImportError as exc:  # pragma: no cover - depends on the interpreter
    die(
        f"{exc}. This script needs torch and torchvision (>= 0.14); on Debian 12 run it with "
        "/usr/bin/python3 after `apt-get install python3-torch python3-torchvision`."
    )

if not hasattr(tvm, "get_model_weights") or not hasattr(tvm, "list_models"):
    die(f"torchvision {torchvision.__version__} is too old: version 0.14 or later is needed")


# --------------------------------------------------------------------------- test models


class TinyCNN(nn.Module):
    """A few-KB classifier with the study's input shape: [B,3,224,224] -> [B,10]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, kernel_size=7, stride=8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 10),
        )

    def forward(self, x):
        return self.body(x)


class TinyFailsOver8(nn.Module):
    """Like TinyCNN, but raises when the batch is larger than 8 (tests error reporting)."""

    def __init__(self):
        super().__init__()
        self.body = TinyCNN().body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(0) > 8:
            raise RuntimeError("batch too large for this test model (tiny_fails_over_8 accepts at most 8)")
        return self.body(x)


def build_test_model(name):
    """Returns (module, example input, forced export method or None, extra sidecar fields)."""
    torch.manual_seed(SEED)
    if name == "tiny_cnn":
        return TinyCNN(), torch.randn(1, *INPUT_SIZE), None, {
            "input_size": INPUT_SIZE, "output_size": [10]}
    if name == "tiny_flat":
        return nn.Linear(10, 10), torch.randn(1, 10), None, {
            "input_size": [10], "output_size": [10],
            "note": "nn.Linear(10, 10): rejects a [B,3,224,224] input"}
    if name == "tiny_fails_over_8":
        return TinyFailsOver8(), torch.randn(1, *INPUT_SIZE), "script", {
            "input_size": INPUT_SIZE, "output_size": [10], "max_batch": 8,
            "note": "raises RuntimeError when the batch is larger than 8"}
    raise ExportError(f"unknown test model {name}")


# --------------------------------------------------------------------------- helpers


def classification_models():
    return tvm.list_models(module=tvm)


def default_weights(name):
    """The DEFAULT weights enum member of a torchvision model, or None when it has none."""
    try:
        return tvm.get_model_weights(name).DEFAULT
    except Exception:
        return None


def checkpoint_path(weights):
    file_name = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def weights_top1(weights):
    if weights is None:
        return None
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    value = metrics.get("acc@1")
    return float(value) if value is not None else None


def _sdpa_in_matmuls(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    """scaled_dot_product_attention written with matmul, so that the profiler counts it."""
    scale = scale if scale is not None else 1.0 / math.sqrt(query.size(-1))
    scores = torch.matmul(query * scale, key.transpose(-2, -1))
    if is_causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = torch.nn.functional.dropout(weights, p=dropout_p)
    return torch.matmul(weights, value)


def count_flops(model, example):
    """(gflops as multiply-accumulates, raw profiler gflops), or (None, None)."""
    functional = torch.nn.functional
    fused_sdpa = getattr(functional, "scaled_dot_product_attention", None)
    try:
        from torch.profiler import ProfilerActivity, profile
        # Gradients stay enabled on purpose: under no_grad, nn.MultiheadAttention takes a
        # fused fast path whose matrix products the profiler does not see. For the same
        # reason the fused attention kernel of torch >= 2.0 is replaced, during the count
        # only, by the same computation in matmuls.
        if fused_sdpa is not None:
            functional.scaled_dot_product_attention = _sdpa_in_matmuls
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with profile(activities=[ProfilerActivity.CPU], with_flops=True, record_shapes=True) as prof:
                model(example)
        total = 0
        macs2 = 0
        for event in prof.events():
            flops = getattr(event, "flops", 0) or 0
            total += flops
            if event.name in MAC_OPS:
                macs2 += flops
        if total == 0:
            return None, None
        return round(macs2 / 2 / 1e9, 6), round(total / 1e9, 6)
    except Exception as exc:  # a counting failure must not stop an export
        print(f"warning: FLOPs not computed: {exc}", file=sys.stderr)
        return None, None
    finally:
        if fused_sdpa is not None:
            functional.scaled_dot_product_attention = fused_sdpa


def outputs_match(got, want):
    if got.shape != want.shape:
        return False, f"shape {list(got.shape)} != {list(want.shape)}"
    scale = float(want.abs().max()) if want.numel() else 0.0
    diff = float((got - want).abs().max()) if want.numel() else 0.0
    tolerance = 1e-4 + 1e-3 * scale
    return diff <= tolerance, f"max |traced - eager| = {diff:.3g} (tolerance {tolerance:.3g})"


def save_and_reload(module, path):
    module.save(str(path))
    return torch.jit.load(str(path))


def to_torchscript(model, example, forced_method, tmp_path):
    """Trace, else script; save to tmp_path. Returns (export method, output shape of a batch of 4).

    The file written is loaded back and run on a batch of 4, whose output must match the
    eager model's within tolerance: a trace that fixed the batch size or took a
    data-dependent branch is caught here, and the model is scripted instead.
    """
    batch4 = example.expand(4, *example.shape[1:]).clone()
    batch4 += torch.randn(batch4.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager4 = model(batch4)
    reason = None
    if forced_method != "script":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traced = torch.jit.trace(model, example, check_trace=False)
            reloaded = save_and_reload(traced, tmp_path)
            with torch.no_grad():
                ok, detail = outputs_match(reloaded(batch4), eager4)
            if ok:
                return "trace", list(eager4.shape)
            reason = f"the traced module differs from eager on a batch of 4: {detail}"
        except Exception as exc:
            reason = f"tracing failed: {exc}"
        print(f"note: {reason}; falling back to torch.jit.script", file=sys.stderr)
    try:
        scripted = torch.jit.script(model)
        reloaded = save_and_reload(scripted, tmp_path)
    except Exception as exc:
        raise ExportError(f"torch.jit.script failed ({exc}); before that: {reason}")
    with torch.no_grad():
        ok, detail = outputs_match(reloaded(batch4), eager4)
    if not ok:
        raise ExportError(f"the scripted module differs from eager on a batch of 4: {detail}")
    return "script", list(eager4.shape)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- export


def quantized_engine():
    """The quantized engine to pack int8 weights for: the first of fbgemm, onednn, qnnpack this torch has
    (greenbatch's LibTorch picks in the same order when it loads the file)."""
    for engine in ("fbgemm", "onednn", "x86", "qnnpack"):
        if engine in torch.backends.quantized.supported_engines:
            return engine
    raise ExportError("this torch has no quantized engine (fbgemm, onednn or qnnpack)")


def export_int8(name, model, example, forced_method, out_dir, sidecar):
    """DIR/NAME.int8.pt: the model with its Linear layers dynamically quantized to int8 (weights int8,
    activations quantized per batch), greenbatch's --precision int8. Returns False (and says why) for a
    model with no Linear layer, whose export would be the fp32 model again."""
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        print(f"note: {name}: no Linear layer to quantize dynamically; {name}.int8.pt not written", file=sys.stderr)
        return False
    engine = quantized_engine()
    torch.backends.quantized.engine = engine
    quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    pt_path = out_dir / f"{name}.int8.pt"
    tmp = out_dir / f".{name}.int8.pt.tmp"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # qnnpack's reduce_range note
            method, _ = to_torchscript(quantized, example, forced_method, tmp)
        os.replace(tmp, pt_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    write_json(out_dir / f"{name}.int8.json", dict(sidecar, export_method=method, exported_utc=utc_now(), quantization={
        "method": "torch.ao.quantization.quantize_dynamic", "layers": "torch.nn.Linear", "dtype": "qint8",
        "engine": engine}))
    print(f"{name}: int8 (dynamic, Linear layers, {engine}) -> {pt_path}", flush=True)
    return True


def export_one(name, out_dir, int8=False):
    start = time.perf_counter()
    torchvision_name = None
    weights = None
    pretrained = False
    extra = {}
    forced_method = None
    weights_file = None
    if name in TEST_MODELS:
        model, example, forced_method, extra = build_test_model(name)
        extra["test_model"] = True
    else:
        torchvision_name = name
        weights = default_weights(name)
        if weights is not None:
            cached = checkpoint_path(weights)
            weights_file = cached.name
            pretrained = cached.is_file()
        torch.manual_seed(SEED)
        if pretrained:
            try:
                model = tvm.get_model(name, weights=weights)
            except Exception as exc:
                raise ExportError(f"cannot load the cached weights {weights_file}: {exc}")
        else:
            kwargs = ARCH_KWARGS_OF_WEIGHTS.get(name, {}) if weights is not None else {}
            model = tvm.get_model(name, weights=None, **kwargs)
            print(
                f"warning: {name}: weights are random (seed {SEED}): "
                + (f"{weights_file} is not in {cached.parent}. " if weights is not None else "")
                + "Energy and time per inference do not depend on the weights' values; "
                "only the predictions do.",
                file=sys.stderr,
            )
        example = torch.randn(1, *INPUT_SIZE, generator=torch.Generator().manual_seed(SEED))
        extra = {"input_size": INPUT_SIZE, "output_size": None, "test_model": False}
    model.eval()

    gflops, gflops_profiler = count_flops(model, example)
    out_dir.mkdir(parents=True, exist_ok=True)
    pt_path = out_dir / f"{name}.pt"
    tmp = out_dir / f".{name}.pt.tmp"
    try:
        method, shape4 = to_torchscript(model, example, forced_method, tmp)
        if len(shape4) != 2 or shape4[0] != 4:
            raise ExportError(f"output shape {shape4} for a batch of 4: expected [4, classes]")
        os.replace(tmp, pt_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if extra.get("output_size") is None:
        extra["output_size"] = [int(shape4[1])]

    sidecar = {
        "name": name,
        "torchvision_name": torchvision_name,
        # The weights the file holds: torchvision's name when pretrained, else "random".
        "weights": (weights.name if pretrained else "random") if weights is not None else None,
        "weights_reference": weights.name if weights is not None else None,
        "pretrained": pretrained,
        "weights_file": weights_file,
        "weights_top1": weights_top1(weights),
        "input_size": extra.pop("input_size"),
        "output_size": extra.pop("output_size"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "gflops": gflops,
        "gflops_profiler": gflops_profiler,
        "gflops_method": GFLOPS_METHOD,
        "seed": None if pretrained else SEED,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "exported_utc": utc_now(),
        "format": "torchscript",
        "export_method": method,
    }
    if weights is not None and weights.meta.get("num_params") not in (None, sidecar["parameters"]):
        print(f"note: {name}: {sidecar['parameters']:,} parameters, torchvision's metadata says "
              f"{weights.meta['num_params']:,}", file=sys.stderr)
    if weights is not None and "_ops" in weights.meta:  # torchvision >= 0.15
        sidecar["gflops_torchvision"] = float(weights.meta["_ops"])
    sidecar.update(extra)
    write_json(out_dir / f"{name}.json", sidecar)
    if int8:
        export_int8(name, model, example, forced_method, out_dir, sidecar)

    seconds = time.perf_counter() - start
    weights_text = "none" if weights is None else f"{weights.name} ({'pretrained' if pretrained else 'random'})"
    gflops_text = "n/a" if gflops is None else f"{gflops:.3f}"
    print(
        f"{name}: weights {weights_text}, {sidecar['parameters']:,} parameters, "
        f"{gflops_text} GFLOPs, {method}, {seconds:.1f} s -> {pt_path}",
        flush=True,
    )


# --------------------------------------------------------------------------- reference tensors


def write_reference_tensors(images_dir, out_dir):
    import PIL
    from PIL import Image
    from torchvision import transforms

    if not images_dir.is_dir():
        raise ExportError(f"images folder {images_dir} does not exist")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not images:
        raise ExportError(f"no *.jpg files in {images_dir}")
    transform = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ])
    try:
        from PIL import features
        libjpeg = features.version("jpg")
        if features.check_feature("libjpeg_turbo"):
            libjpeg = f"libjpeg-turbo {features.version_feature('libjpeg_turbo')} (libjpeg API {libjpeg})"
    except Exception:
        libjpeg = None
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in images:
        start = time.perf_counter()
        with Image.open(path) as image:
            width, height = image.size
            rgb = image.convert("RGB")
        tensor = transform(rgb)
        if list(tensor.shape) != INPUT_SIZE or tensor.dtype != torch.float32:
            raise ExportError(f"{path.name}: unexpected tensor {list(tensor.shape)} {tensor.dtype}")
        data = tensor.contiguous().numpy().astype("<f4", copy=False).tobytes(order="C")
        assert len(data) == 3 * 224 * 224 * 4
        f32 = out_dir / f"{path.stem}.f32"
        tmp = f32.with_name(f32.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, f32)
        write_json(out_dir / f"{path.stem}.json", {
            "shape": INPUT_SIZE,
            "dtype": "float32",
            "byte_order": "little",
            "layout": "C order (channel, row, column), RGB",
            "image": path.name,
            "width": width,
            "height": height,
            "transform": TRANSFORM_TEXT,
            "resize_interpolation": "bilinear (PIL, antialiased)",
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "torchvision_version": torchvision.__version__,
            "pillow_version": PIL.__version__,
            "libjpeg_version": libjpeg,
        })
        print(f"{path.name}: {width}x{height} -> {f32} ({time.perf_counter() - start:.2f} s)", flush=True)


# --------------------------------------------------------------------------- main


def main(argv=None):
    script_dir = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description="Export torchvision classifiers (and tiny test models) to TorchScript for greenbatch.",
        epilog="With no NAME: " + ", ".join(STUDY_MODELS) + " (none when only --reference-tensors is given). "
        "Test models: " + ", ".join(TEST_MODELS) + ". See docs/models.md.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="models to export")
    parser.add_argument("--out", type=Path, default=Path("models"), help="output folder (default: models)")
    parser.add_argument("--reference-tensors", type=Path, metavar="DIR",
                        help="also write preprocessed reference tensors of the images into DIR")
    parser.add_argument("--images", type=Path, default=script_dir.parent / "data" / "images",
                        help="folder of *.jpg images for --reference-tensors (default: the repository's data/images)")
    parser.add_argument("--list", action="store_true", help="print the accepted model names and exit")
    parser.add_argument("--int8", action="store_true",
                        help="also write NAME.int8.pt: the Linear layers dynamically quantized to int8 "
                        "(greenbatch --precision int8)")
    args = parser.parse_args(argv)

    valid = classification_models()
    if args.list:
        print("study models: " + " ".join(STUDY_MODELS))
        print("test models:  " + " ".join(TEST_MODELS))
        print(f"torchvision {torchvision.__version__} classification models:")
        for name in valid:
            print(f"  {name}")
        return 0

    names = args.names
    if not names and args.reference_tensors is None:
        names = list(STUDY_MODELS)
    unknown = [n for n in names if n not in TEST_MODELS and n not in valid]
    if unknown:
        die(
            f"unknown model name(s): {', '.join(unknown)}. Accepted: the test models ({', '.join(TEST_MODELS)}) "
            f"and torchvision {torchvision.__version__}'s classification models; "
            f"run `{Path(sys.argv[0]).name} --list` to see them.",
            EXIT_USAGE,
        )
    names = list(dict.fromkeys(names))  # drop repeats, keep order

    failures = []
    for name in names:
        try:
            export_one(name, args.out, args.int8)
        except Exception as exc:
            failures.append(name)
            print(f"export_models.py: error: {name}: {exc}", file=sys.stderr)
    if args.reference_tensors is not None:
        try:
            write_reference_tensors(args.images, args.reference_tensors)
        except Exception as exc:
            failures.append("reference tensors")
            print(f"export_models.py: error: reference tensors: {exc}", file=sys.stderr)
    if failures:
        print(f"export_models.py: error: failed: {', '.join(failures)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `--list | head`
        sys.exit(EXIT_FAILURE)
