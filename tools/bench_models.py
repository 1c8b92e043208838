"""Benchmark: crops/s of SpinePose-s/m/l and frames/s of the lifter, torch eager vs ONNX Runtime (CPU),
and on a GPU when one is available (batch sizes, fp32 / fp16 / bf16).

    python tools/bench_models.py [--cpu-only] [--gpu-only] [--seconds 3]

The anchor is ONNX Runtime running the ONNX export of the same weights (the path spinepose uses); the
ratio printed is ours / ONNX Runtime (goal >= 1 on CPU). Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from simspine_hub.models import create_model
from simspine_hub.models._base import fuse_conv_bn

warnings.simplefilter("ignore")


def _rate(fn, n_items: int, seconds: float) -> float:
    fn()                                            # warm-up
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n * n_items / (time.perf_counter() - t0)


def cpu(seconds: float) -> None:
    import onnxruntime as ort

    tmp = Path(tempfile.mkdtemp(prefix="bench_models_"))
    print(f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"{'model':<16}{'batch':>6}{'torch eager':>14}{'torch fused':>14}{'onnxruntime':>14}{'ratio':>8}")
    cases = [(n, "pixel_values", torch.randn(8, 3, 256, 192), "crops/s") for n in ("spinepose-s", "spinepose-m", "spinepose-l")]
    cases += [("lifter-full37", "keypoints_2d", torch.randn(1024, 37, 2), "frames/s")]
    for name, arg, x, unit in cases:
        model = create_model(name).eval()
        path = tmp / f"{name}.onnx"
        torch.onnx.export(model, (x,), str(path), input_names=[arg], dynamic_axes={arg: {0: "b"}}, dynamo=False)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_torch():
            with torch.inference_mode():
                model(**{arg: x})

        eager = _rate(run_torch, len(x), seconds)
        fuse_conv_bn(model)                       # BatchNorm folded into the convs (inference only)
        fused = _rate(run_torch, len(x), seconds)
        theirs = _rate(lambda: sess.run(None, {arg: x.numpy()}), len(x), seconds)
        best = max(eager, fused)
        print(f"{name:<16}{len(x):>6}{eager:>12,.1f} {unit[0]}{fused:>12,.1f} {unit[0]}{theirs:>12,.1f} {unit[0]}"
              f"{best / theirs:>7.2f}x   ({unit}; ratio = best torch / onnxruntime)")
    shutil.rmtree(tmp, ignore_errors=True)


def gpu(seconds: float) -> None:
    if not torch.cuda.is_available():
        print("GPU: none available")
        return
    dev = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"{'model':<16}{'batch':>6}{'fp32':>12}{'fp16':>12}{'bf16':>12}   crops/s")
    for name in ("spinepose-s", "spinepose-m", "spinepose-l"):
        model = fuse_conv_bn(create_model(name).eval()).to(dev).to(memory_format=torch.channels_last)
        for batch in (1, 32, 256):
            x = torch.randn(batch, 3, 256, 192, device=dev).to(memory_format=torch.channels_last)
            rates = []
            for dtype in (torch.float32, torch.float16, torch.bfloat16):
                def run():
                    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                        model(pixel_values=x)
                    torch.cuda.synchronize()
                rates.append(_rate(run, batch, seconds))
            print(f"{name:<16}{batch:>6}" + "".join(f"{r:>12,.0f}" for r in rates))
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
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    if not args.gpu_only:
        cpu(args.seconds)
    if not args.cpu_only:
        gpu(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
