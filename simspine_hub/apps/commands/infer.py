"""`simspine infer`: 2D spine keypoints on images, folders and videos."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="2D spine keypoints on an image, a folder or a video (JSON + overlay)")
    p.add_argument("input", type=Path)
    p.add_argument("--model", required=True, help="a from_pretrained folder or hub id (config.json + model.safetensors)")
    p.add_argument("--out", type=Path, default=Path("outputs/infer"))
    p.add_argument("--boxes", type=Path, help="JSON {image name or frame index: [[x, y, w, h], ...]}; default: whole frame")
    p.add_argument("--person-detector", metavar="MODULE:CALLABLE",
                     help="a person detector to import: RGB image (H, W, 3) uint8 -> (n, 4) boxes [x, y, w, h] px")
    p.add_argument("--device", default="auto", help="auto (CUDA GPU if torch sees one, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--flip-test", action="store_true")
    p.add_argument("--no-smooth", action="store_true", help="no One-Euro smoothing on videos")
    p.add_argument("--lifter", help="a lifter folder: also lift the last frame to 3D and plot it")
    p.add_argument("--compile", action="store_true",
                     help="torch.compile with inductor freezing (BN folded, channels-last): faster after ~20 s of compiling")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on GPUs and on CPUs with AVX512-BF16/AMX; ~1e-2 relative change)")
    return p



def run(args: argparse.Namespace) -> int:
    import json

    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)
    from simspine_hub.apps.infer import load_person_detector, resolve_device, run_inference

    for path in (args.model, args.lifter):
        if path and path.startswith((".", "/", "~")) and not Path(path).expanduser().is_dir():
            raise FileNotFoundError(f"{path}: model folder not found; expected config.json + model.safetensors "
                                    "(save_pretrained or tools/convert_checkpoint.py output), or a hub id")
    device = resolve_device(args.device)
    detector = load_person_detector(args.person_detector) if args.person_detector else None
    model = AutoModel.from_pretrained(args.model).eval().to(device)
    if args.compile or args.bf16:
        from simspine_hub.models.inference import InferenceModel

        model = InferenceModel(model, compile=args.compile, bf16=args.bf16)
    lifter = AutoModel.from_pretrained(args.lifter).eval().to(device) if args.lifter else None
    boxes = None
    if args.boxes is not None:
        try:
            boxes = json.loads(args.boxes.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{args.boxes}: boxes must be JSON {{image name or frame index: [[x, y, w, h], ...]}} ({exc})") from exc
    res = run_inference(model, args.input, args.out, boxes=boxes, detector=detector, flip_test=args.flip_test,
                        smooth=not args.no_smooth, lifter=lifter, progress=not args.quiet)
    res["device"] = str(device)
    print(json.dumps(res, indent=2))
    return 0
