"""Benchmark: crops/s of SpinePose-s/m/l and frames/s of the lifter on the CPU, ONNX Runtime and torch in the
same run; on a GPU when one is available (batch sizes, fp32 / fp16 / bf16, eager and ``InferenceModel``).

    python tools/bench_models.py [--cpu-only] [--gpu-only] [--seconds 3] [--batches 1 8] [--smoke]

Anchor: ONNX Runtime's default session (``InferenceSession(path)``, CPU provider, nothing set) on the ONNX
export of the same weights, the path spinepose uses. Every ratio printed is contender / anchor (goal >= 1):

- ``ort``: ``InferenceModel(model, backend="onnxruntime")`` (our export, graph optimisation level "all",
  sequential execution, one intra-op thread per physical core);
- ``int8``: the same with ``quantize="int8"`` (static QDQ, calibrated on 16 random crops). Its accuracy
  change, ``feat.dev``: the relative RMS deviation ||int8 - fp32|| / ||fp32|| of the backbone's output
  features (the quantised part) on 8 other crops. With random weights the SimCC outputs hardly depend on
  the input (the head's ScaleNorm flattens random features), so keypoints cannot show the change here;
  check keypoints on your own trained checkpoint and validation images;
- ``torch``: ``InferenceModel`` on torch (BN folded, channels-last, torch.compile with inductor freezing,
  compiling not timed) in fp32, and with bf16 autocast (``bf16``; needs AVX512-BF16 / AMX to be fast);
- a sweep of ONNX Runtime's graph optimisation levels (disable, basic, extended, all) on SpinePose-m.

Timing: contenders interleaved in 3 rounds of ``seconds / 3`` each, best round kept (a shared machine
drifts). Random weights: speed does not depend on them, but the int8 deviation on trained weights may differ.
``--smoke``: SpinePose-s at batch 1 with tiny timings, torch eager, no bf16 (checks that the benchmark runs).
Temporary exports go to ``$SIMSPINE_BENCH_TMP`` (default: a fresh temporary folder), removed at the end.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from simspine_hub.models import create_model
from simspine_hub.models.inference import InferenceModel, export_onnx, fuse_conv_bn

warnings.simplefilter("ignore")


def _rate(fn, n_items: int, seconds: float) -> float:
    fn()                                            # warm-up
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n * n_items / (time.perf_counter() - t0)


def _best_rates(fns: list, n_items: int, seconds: float, rounds: int = 3) -> list[float]:
    """Items/s of each function: ``rounds`` interleaved rounds of ``seconds / rounds`` each, best round kept."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], _rate(fn, n_items, seconds / rounds))
    return best


def _relative_deviation(low, ref) -> float:
    """max |low - ref| / range(ref) over the raw outputs (SimCC logits, heatmaps, 3D points); the argmax
    keypoints and scores are left out: with random weights the logits are nearly flat and an argmax flip
    between two almost equal bins says nothing about precision."""
    keys = [k for k in ref.keys() if k not in ("keypoints", "scores")]
    return max(float((low[k] - ref[k]).abs().max() / (ref[k].max() - ref[k].min())) for k in keys)


def _feature_deviation(model, tmp: Path, calib, x: torch.Tensor) -> float:
    """||int8 - fp32|| / ||fp32|| of the backbone's output features on ``x`` (quantised like the whole model)."""
    import numpy as np
    import onnxruntime as ort

    from simspine_hub.models.inference import quantize_int8

    class Features(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return {"features": self.inner.backbone.forward_features(pixel_values)}

    fp32, int8 = tmp / "features.onnx", tmp / "features.int8.onnx"
    export_onnx(Features(copy.deepcopy(model)).eval(), fp32, {"pixel_values": x[:2]})
    quantize_int8(fp32, int8, "pixel_values", calib)
    ref, low = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"pixel_values": x.numpy()})[0]
                for p in (fp32, int8))
    return float(np.linalg.norm(low - ref) / np.linalg.norm(ref))


def _contenders(model, name: str, arg: str, shape, tmp: Path, smoke: bool, with_torch: bool = True) -> dict:
    """Sessions and wrapped models for one network: {label: (callable of x, needs numpy)}."""
    import onnxruntime as ort

    ours = InferenceModel(copy.deepcopy(model), backend="onnxruntime", cache_dir=tmp)
    out = {"default": ort.InferenceSession(str(ours.onnx_path), providers=["CPUExecutionProvider"]), "ort": ours}
    if arg == "pixel_values":
        calib = torch.randn(4 if smoke else 16, *shape, generator=torch.Generator().manual_seed(1)).numpy()
        out["int8"] = InferenceModel(copy.deepcopy(model), backend="onnxruntime", quantize="int8",
                                     calibration=calib, cache_dir=tmp)
        out["feat.dev"] = _feature_deviation(model, tmp, calib, torch.randn(8, *shape))
    if with_torch:
        out["torch"] = InferenceModel(copy.deepcopy(model), compile=not smoke)
    if arg == "pixel_values" and not smoke and with_torch:
        out["bf16"] = InferenceModel(copy.deepcopy(model), bf16=True)
    return out


def cpu(seconds: float, batches: tuple[int, ...], names: tuple[str, ...], tmp: Path, smoke: bool,
        with_torch: bool = True) -> None:
    import onnxruntime as ort

    print(f"CPU ({os.cpu_count()} logical cores, torch {torch.get_num_threads()} threads), torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}")
    print("items/s and ratio to the anchor, ONNX Runtime's default session (see the docstring for each column)")
    print(f"{'model':<15}{'batch':>6}{'default':>9}{'ort':>9}{'ratio':>7}{'int8':>9}{'ratio':>7}{'feat.dev':>9}"
          f"{'torch':>9}{'ratio':>7}{'bf16':>9}{'ratio':>7}")
    cases = [(n, "pixel_values", (3, 256, 192)) for n in names]
    cases += [] if smoke else [("lifter-full37", "keypoints_2d", (37, 2))]
    for name, arg, shape in cases:
        torch._dynamo.reset()                     # fresh compile cache per model (no recompile-limit fallback)
        model = create_model(name).eval()
        c = _contenders(model, name, arg, shape, tmp, smoke, with_torch)
        labels = [k for k in ("default", "ort", "int8", "torch", "bf16") if k in c]
        for batch in (batches if arg == "pixel_values" else (1024,)):
            x = torch.randn(batch, *shape)
            xn = x.numpy()
            fns = [(lambda s=c[k]: s.run(None, {arg: xn})) if k == "default" else (lambda m=c[k]: m(**{arg: x}))
                   for k in labels]
            rates = dict(zip(labels, _best_rates(fns, batch, seconds)))
            base = rates["default"]
            row = f"{name:<15}{batch:>6}{base:>9,.1f}{rates['ort']:>9,.1f}{rates['ort'] / base:>6.2f}x"
            if "int8" in c:
                row += f"{rates['int8']:>9,.1f}{rates['int8'] / base:>6.2f}x{c['feat.dev']:>9.1e}"
            else:
                row += f"{'-':>9}{'-':>7}{'-':>9}"
            row += f"{rates['torch']:>9,.1f}{rates['torch'] / base:>6.2f}x" if "torch" in c else f"{'-':>9}{'-':>7}"
            row += f"{rates['bf16']:>9,.1f}{rates['bf16'] / base:>6.2f}x" if "bf16" in c else f"{'-':>9}{'-':>7}"
            print(row)


def levels(seconds: float, tmp: Path, name: str = "spinepose-m", batch: int = 8) -> None:
    """ONNX Runtime's graph optimisation levels on one model, ratio to the default session."""
    import onnxruntime as ort

    model = create_model(name).eval()
    path = tmp / f"{name}-levels.onnx"
    export_onnx(copy.deepcopy(model), path)
    x = torch.randn(batch, 3, 256, 192)
    default = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fns = [lambda: default.run(None, {"pixel_values": x.numpy()})]
    names = ("disable", "basic", "extended", "all")
    for level in names:
        m = InferenceModel(copy.deepcopy(model), backend="onnxruntime", optimization=level, cache_dir=tmp)
        fns.append(lambda m=m: m(pixel_values=x))
    rates = _best_rates(fns, batch, seconds)
    print(f"{name} batch {batch}, graph optimisation level (crops/s, ratio to the default session {rates[0]:,.1f}): "
          + ", ".join(f"{lv} {r:,.1f} ({r / rates[0]:.2f}x)" for lv, r in zip(names, rates[1:])))


def gpu(seconds: float, compile_batch: int) -> None:
    if not torch.cuda.is_available():
        print("GPU: none available")
        return
    dev = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"eager (BN folded, channels-last), autocast for fp16 / bf16; InferenceModel (torch.compile, freezing) "
          f"at batch {compile_batch}, compiling not timed")
    print(f"{'model':<16}{'batch':>6}{'fp32':>12}{'fp16':>12}{'bf16':>12}{'compiled fp32':>15}{'compiled bf16':>15}"
          f"{'rel.dev':>9}   crops/s")
    for name in ("spinepose-s", "spinepose-m", "spinepose-l"):
        model = create_model(name).eval().to(dev)
        eager = fuse_conv_bn(copy.deepcopy(model)).to(memory_format=torch.channels_last)
        for batch in sorted({1, 32, 256, compile_batch}):
            x = torch.randn(batch, 3, 256, 192, device=dev).to(memory_format=torch.channels_last)
            rates = []
            for dtype in (torch.float32, torch.float16, torch.bfloat16):
                def run():
                    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                        eager(pixel_values=x)
                    torch.cuda.synchronize()
                rates.append(_rate(run, batch, seconds))
            extra = ""
            if batch == compile_batch:
                torch._dynamo.reset()
                fast, fast16 = InferenceModel(copy.deepcopy(model)), InferenceModel(copy.deepcopy(model), bf16=True)
                for m in (fast, fast16):
                    def run():
                        m(pixel_values=x)
                        torch.cuda.synchronize()
                    rates.append(_rate(run, batch, seconds))
                extra = f"{_relative_deviation(fast16(pixel_values=x), fast(pixel_values=x)):>9.1e}"
            print(f"{name:<16}{batch:>6}" + "".join(f"{r:>12,.0f}" for r in rates[:3])
                  + "".join(f"{r:>15,.0f}" for r in rates[3:]) + extra)
    lifter = create_model("lifter-full37").eval().to(dev)
    x = torch.randn(65536, 37, 2, device=dev)

    def run_lift():
        with torch.inference_mode():
            lifter(keypoints_2d=x)
        torch.cuda.synchronize()
    print(f"lifter-full37 batch 65536 fp32: {_rate(run_lift, len(x), seconds):,.0f} frames/s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per contender (3 interleaved rounds)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="CPU batch sizes for the 2D models")
    ap.add_argument("--models", nargs="+", default=["spinepose-s", "spinepose-m", "spinepose-l"])
    ap.add_argument("--gpu-compile-batch", type=int, default=256, help="GPU batch size timed with InferenceModel")
    ap.add_argument("--smoke", action="store_true", help="SpinePose-s, batch 1, tiny timings, no torch.compile")
    ap.add_argument("--onnxruntime-only", action="store_true", help="CPU: leave out the torch columns (no compiling)")
    args = ap.parse_args(argv)
    base = os.environ.get("SIMSPINE_BENCH_TMP")
    tmp = Path(tempfile.mkdtemp(prefix="bench_models_", dir=base))
    try:
        if args.smoke:
            cpu(0.2, (1,), ("spinepose-s",), tmp, smoke=True)
            return 0
        if not args.gpu_only:
            cpu(args.seconds, tuple(args.batches), tuple(args.models), tmp, smoke=False,
                with_torch=not args.onnxruntime_only)
            levels(args.seconds, tmp)
        if not args.cpu_only:
            gpu(args.seconds, args.gpu_compile_batch)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
