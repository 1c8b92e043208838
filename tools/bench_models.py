"""Benchmark: crops/s of SpinePose-s/m/l and frames/s of the lifter, torch eager vs ONNX Runtime (CPU),
and on a GPU when one is available (batch sizes, fp32 / fp16 / bf16, eager and ``InferenceModel``).

    python tools/bench_models.py [--cpu-only] [--gpu-only] [--seconds 3]

The anchor is ONNX Runtime running the ONNX export of the same weights (the path spinepose uses); the
ratio printed is ours / ONNX Runtime (goal >= 1 on CPU). Ours: eager, eager with BatchNorm folded, and
``InferenceModel`` (torch.compile with inductor freezing, channels-last; compiling takes ~20 s per model and
shape, not timed), in fp32; and ``InferenceModel`` with bf16 autocast, with its deviation from fp32.
Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from simspine_hub.models import create_model
from simspine_hub.models.inference import InferenceModel, fuse_conv_bn

warnings.simplefilter("ignore")


def _rate(fn, n_items: int, seconds: float) -> float:
    fn()                                            # warm-up
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n * n_items / (time.perf_counter() - t0)


def _best_rates(fns: list, n_items: int, seconds: float, rounds: int = 3) -> list[float]:
    """Items/s of each function: ``rounds`` interleaved rounds of ``seconds / rounds`` each, best round kept
    (a shared 2-core machine drifts; interleaving exposes every contender to the same drift)."""
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


def cpu(seconds: float, batches: tuple[int, ...]) -> None:
    import onnxruntime as ort

    tmp = Path(tempfile.mkdtemp(prefix="bench_models_"))
    print(f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}, onnxruntime {ort.__version__}")
    print("columns (items/s): torch eager | eager, BN folded + channels-last | InferenceModel (torch.compile, inductor"
          " freezing) | ONNX Runtime (default session) | ratio = best torch fp32 / ONNX Runtime | InferenceModel"
          " bf16 autocast, its ratio and max |bf16 - fp32| of the outputs relative to their range")
    print(f"{'model':<15}{'batch':>6}{'eager':>9}{'folded':>9}{'compiled':>10}{'onnxrt':>9}{'ratio':>7}"
          f"{'bf16':>9}{'ratio':>7}{'rel.dev':>9}")
    cases = [(n, "pixel_values", (3, 256, 192)) for n in ("spinepose-s", "spinepose-m", "spinepose-l")]
    cases += [("lifter-full37", "keypoints_2d", (37, 2))]
    for name, arg, shape in cases:
        torch._dynamo.reset()                     # fresh compile cache per model (no recompile-limit fallback)
        model = create_model(name).eval()
        path = tmp / f"{name}.onnx"
        torch.onnx.export(model, (torch.randn(2, *shape),), str(path), input_names=[arg],
                          dynamic_axes={arg: {0: "b"}}, dynamo=False)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        fast, fast16 = InferenceModel(copy.deepcopy(model)), InferenceModel(copy.deepcopy(model), bf16=True)
        folded = InferenceModel(copy.deepcopy(model), compile=False)
        for batch in (batches if arg == "pixel_values" else (1024,)):
            x = torch.randn(batch, *shape)

            def run_eager():
                with torch.inference_mode():
                    model(**{arg: x})

            r_eager, r_folded, r_fast, r_ort, r_16 = _best_rates(
                [run_eager, lambda: folded(**{arg: x}), lambda: fast(**{arg: x}),
                 lambda: sess.run(None, {arg: x.numpy()}), lambda: fast16(**{arg: x})], batch, seconds)
            ref, low = fast(**{arg: x}), fast16(**{arg: x})
            dev = _relative_deviation(low, ref)
            best = max(r_eager, r_folded, r_fast)
            print(f"{name:<15}{batch:>6}{r_eager:>9,.1f}{r_folded:>9,.1f}{r_fast:>10,.1f}{r_ort:>9,.1f}"
                  f"{best / r_ort:>6.2f}x{r_16:>9,.1f}{r_16 / r_ort:>6.2f}x{dev:>9.1e}")
    shutil.rmtree(tmp, ignore_errors=True)


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
    ap.add_argument("--gpu-compile-batch", type=int, default=256, help="GPU batch size timed with InferenceModel")
    args = ap.parse_args(argv)
    if not args.gpu_only:
        cpu(args.seconds, tuple(args.batches))
    if not args.cpu_only:
        gpu(args.seconds, args.gpu_compile_batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
