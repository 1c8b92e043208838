"""`simspine simulate`: the simulation pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("simulate", help="the simulation pipeline: 2D -> triangulation -> IK -> 37 markers")
    p.add_argument("--h36m-root", type=Path, help="Human3.6M-layout root (cameras, D3 limbs)")
    p.add_argument("--detections", type=Path, help="2D detections (npz or OpenPose-style JSON folders, or a "
                    "Human3.6M root for its D2 limb points)")
    p.add_argument("--detector", help="a 2D model folder/hub id: detect on the Human3.6M videos first")
    p.add_argument("--calibration", type=Path, help="Pose2Sim calibration TOML of any capture (instead of --h36m-root)")
    p.add_argument("--twin", type=Path, help="run on a synthetic twin (its detections are simulated if absent)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--subjects", nargs="+")
    p.add_argument("--workers", type=int, default=1, help="parallel processes for the per-sequence jobs (triangulation, IK)")
    p.add_argument("--ik", choices=("batched", "opensim"), default="batched",
                   help="batched: the temporal IK objective solved jointly (torch; CUDA when available); "
                        "opensim: OpenSim's IK tool + a smoothing stage (needs the opensim extra)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the per-sequence jobs as Ray tasks: alone, a Ray on this machine; with ADDRESS (e.g. auto, "
                        "ray://head:10001) an existing cluster; --out must be shared by its nodes (ray extra)")
    p.add_argument("--smooth-lambda", type=float, default=1.0, help="temporal smoothness weight (0: off)")
    p.add_argument("--cutoff-hz", type=float, default=6.0)
    p.add_argument("--no-h36m-limbs", action="store_true", help="use triangulated limbs instead of Human3.6M's")
    p.add_argument("--overwrite", action="store_true",
                   help="redo subjects whose finished outputs in --out were made with other parameters")
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from simspine_hub.simulation.pipeline import SimulationConfig, simulate_capture, summary

    h36m_root, detections = args.h36m_root, args.detections
    if args.twin is not None:
        from simspine_hub.twin.generator import write_detections

        h36m_root = args.twin / "h36m"
        detections = args.twin / "detections"
        if not detections.is_dir():
            write_detections(args.twin)
    if args.detector is not None:
        from transformers import AutoModel

        import simspine_hub.models  # noqa: F401  (registers the Auto classes)
        from simspine_hub.apps.detect import detect_capture

        detections = detect_capture(AutoModel.from_pretrained(args.detector).eval(), h36m_root,
                                    args.out / "detections", args.subjects, progress=not args.quiet)
    if (h36m_root is None and args.calibration is None) or detections is None:
        raise ValueError("pass --h36m-root (or --calibration with --subjects) and --detections (or --detector), "
                         "or --twin DIR")
    cfg = SimulationConfig(smooth_lambda=args.smooth_lambda, cutoff_hz=args.cutoff_hz,
                           use_h36m_limbs=not args.no_h36m_limbs, ik=args.ik)
    res = simulate_capture(h36m_root, detections, args.out, args.subjects, cfg, workers=args.workers,
                           progress=not args.quiet, calibration=args.calibration, overwrite=args.overwrite,
                           ray_address=args.ray)
    text, usable = summary(res)
    print(text or "nothing to do: every sequence was finished earlier with the same parameters")
    if text and not usable:
        print(f"simspine simulate: error: no usable sequence came out (see the reasons above and {args.out}/qc/)",
              file=sys.stderr)
        return 1
    if args.twin is not None:
        from simspine_hub.twin.report import validate_against_twin

        text, _ = validate_against_twin(args.twin, args.out, list(res) or (args.subjects or []), cfg)
        print(text)
    print(f"release layout written to {args.out}")
    return 0
