"""`simspine infer`: 2D spine keypoints on images, folders, videos, cameras and streams."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="2D spine keypoints on an image, a folder, a video, a camera or a stream "
                                     "(JSON + overlay)")
    p.add_argument("input", help="an image, a folder of images, a video, a camera index (0) or a stream URL")
    p.add_argument("--model", required=True, help="a from_pretrained folder or hub id (config.json + model.safetensors)")
    p.add_argument("--out", type=Path, default=Path("outputs/infer"))
    p.add_argument("--boxes", type=Path, help="JSON {image name or frame index: [[x, y, w, h], ...]}; default: whole frame")
    p.add_argument("--person-detector", metavar="hf:ID|MODULE:CALLABLE",
                   help="hf:<hub id or folder> (any transformers object detector, e.g. hf:PekingU/rtdetr_r50vd), or "
                        "an importable callable: RGB image (H, W, 3) uint8 -> (n, 4) boxes [x, y, w, h] px")
    p.add_argument("--detector-threshold", type=float, default=0.5,
                   help="minimum person score of an hf: detector (default 0.5; lower it when people are missed)")
    p.add_argument("--detect-every", type=int, default=1, metavar="N",
                   help="videos: detect people on every N-th frame, track them in between (default 1)")
    p.add_argument("--no-track", action="store_true", help="videos: no tracking (no track ids, no smoothing)")
    p.add_argument("--no-smooth", action="store_true", help="videos: track without One-Euro smoothing")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (cameras and streams: else q + Enter)")
    p.add_argument("--show", action="store_true", help="preview window (q stops; needs OpenCV with a GUI)")
    p.add_argument("--device", default="auto", help="auto (CUDA GPU if torch sees one, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help="onnxruntime: export once (cached in the model folder's onnx/), run on ONNX Runtime")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: one per physical core)")
    p.add_argument("--flip-test", action="store_true")
    p.add_argument("--lifter", help="a 3D keypoint lifter folder or hub id (`simspine train lifter --config full37` or "
                                    "spine15; not an angle lifter): also lift the last frame to 3D and plot it")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile with inductor freezing (BN folded, channels-last): faster after ~20 s of compiling")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on GPUs and on CPUs with AVX512-BF16/AMX; ~1e-2 relative change)")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from simspine_hub.apps.infer import infer

    res = infer(args.input, args.model, args.out, boxes=args.boxes, person_detector=args.person_detector,
                detector_threshold=args.detector_threshold, device=args.device, backend=args.backend,
                compile=args.compile, bf16=args.bf16, threads=args.threads, lifter=args.lifter,
                flip_test=args.flip_test, smooth=not args.no_smooth, track=not args.no_track,
                detect_every=args.detect_every, max_frames=args.max_frames, show=args.show,
                progress=not args.quiet)
    print(json.dumps(res, indent=2))
    return 0
