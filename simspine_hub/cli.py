"""The ``simspine`` command (also ``python -m simspine_hub``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _cmd_twin(args: argparse.Namespace) -> int:
    from .twin import MOTIONS, TwinConfig, generate_twin

    cfg = TwinConfig(subjects=tuple(args.subjects), motions=tuple(args.motions or MOTIONS),
                     seconds=args.seconds, videos=not args.no_videos, seed=args.seed)
    out = generate_twin(args.out, cfg, progress=not args.quiet)
    print(f"twin written to {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    res = run_demo(args.out, progress=not args.quiet)
    rt = res["round_trip"]
    print(f"synthetic twin: {res['twin']}  ({rt.sequences} sequences, {rt.frames} frames)")
    print("round trip against ground truth (twin results):")
    print(f"  Human3.6M D3_Positions   max |err| = {rt.h36m_3d_max_abs_mm:.3g} mm   bit-exact: {rt.h36m_3d_bit_exact}")
    print(f"  Human3.6M D2_Positions   max err   = {rt.h36m_2d_max_px:.3g} px  (limit 0.01)")
    print(f"  Calib TOML cameras       max err   = {rt.camera_toml_max_px:.3g} px")
    print(f"  release TRC  (15 spine)  max |err| = {rt.release_spine15_max_mm:.3g} mm")
    print(f"  release HDF5 (15 spine)  max |err| = {rt.release_hdf5_max_mm:.3g} mm")
    print(f"  release MOT  (62 axes)   max |err| = {rt.release_kinematics_max_deg:.3g} deg")
    print(f"skeleton plot: {res['skeleton_png']}")
    ds = res["dataset"]
    print("dataset builder (datasets.ArrowBasedBuilder) on the twin:")
    for name in ("spine15", "full37"):
        print(f"  {name}: rows {ds[name + '_rows']}   max |err| vs ground truth = {ds[name + '_max_err_mm']:.3g} mm")
    print(f"  full37 sample: {ds['full37_sample']}")
    print()
    print(res["simulation"])
    print(res["leaderboard"])
    ok = rt.h36m_3d_bit_exact and rt.h36m_2d_max_px < 0.01
    return 0 if ok else 1


def _dataset_kwargs(args: argparse.Namespace) -> dict:
    if args.twin is not None:
        return {"h36m_root": str(args.twin / "h36m"), "annotations": str(args.twin / "simspine"),
                "cache_dir": args.cache_dir}
    if args.annotations is None:
        raise ValueError("pass --annotations (and --h36m-root) or --twin DIR")
    return {"h36m_root": args.h36m_root, "annotations": args.annotations, "cache_dir": args.cache_dir}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .leaderboard import evaluate, format_table, load_ground_truth, model_index, save_results

    gt = load_ground_truth(args.task, args.split, **_dataset_kwargs(args))
    label = args.model_name or args.predictions.stem
    res = evaluate(args.task, args.predictions, gt, label=label, data_label="twin" if args.twin else "SIMSPINE")
    print(format_table(res))
    out = args.out or args.predictions.with_suffix(".results.json")
    save_results(out, res)
    print(f"results: {out}")
    if args.model_index:
        print(json.dumps({"model-index": model_index(res)}, indent=2))
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    import json

    from ._io import write_text
    from .leaderboard import leaderboard_markdown

    results = []
    for path in args.results:
        try:
            results.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a results JSON written by `simspine evaluate` ({exc})") from exc
    md = leaderboard_markdown(results, with_paper=not args.no_paper)
    print(md)
    if args.out:
        write_text(args.out, md)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulation.pipeline import SimulationConfig, simulate_capture

    h36m_root, detections = args.h36m_root, args.detections
    if args.twin is not None:
        from .twin import write_detections

        h36m_root = args.twin / "h36m"
        detections = args.twin / "detections"
        if not detections.is_dir():
            write_detections(args.twin)
    if args.detector is not None:
        from transformers import AutoModel

        from .simulation.pipeline import detect_capture

        detections = detect_capture(AutoModel.from_pretrained(args.detector).eval(), h36m_root,
                                    args.out / "detections", args.subjects, progress=not args.quiet)
    if (h36m_root is None and args.calibration is None) or detections is None:
        raise ValueError("pass --h36m-root (or --calibration with --subjects) and --detections (or --detector), "
                         "or --twin DIR")
    cfg = SimulationConfig(smooth_lambda=args.smooth_lambda, cutoff_hz=args.cutoff_hz,
                           use_h36m_limbs=not args.no_h36m_limbs)
    res = simulate_capture(h36m_root, detections, args.out, args.subjects, cfg, workers=args.workers,
                           progress=not args.quiet, calibration=args.calibration)
    for subject, seqs in res.items():
        for stem, rep in seqs.items():
            print(f"{subject} {stem}: {rep['frames']} frames, rejected {rep['rejected']}, "
                  f"IK marker RMS {rep['marker_rms_mm']:.1f} mm (max {rep['marker_max_rms_mm']:.1f})")
    if args.twin is not None:
        from .simulation.report import validate_against_twin

        text, _ = validate_against_twin(args.twin, args.out, list(res) or (args.subjects or []), cfg)
        print(text)
    print(f"release layout written to {args.out}")
    return 0


def _torch_device(name: str):
    """``--device`` value -> torch.device ("auto": the first CUDA GPU when torch sees one, else the CPU)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r}: not a torch device ({exc}); use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu")
    return dev


def _cmd_infer(args: argparse.Namespace) -> int:
    import json

    from transformers import AutoModel

    from .infer import load_person_detector, run_inference

    for path in (args.model, args.lifter):
        if path and path.startswith((".", "/", "~")) and not Path(path).expanduser().is_dir():
            raise FileNotFoundError(f"{path}: model folder not found; expected config.json + model.safetensors "
                                    "(save_pretrained or tools/convert_checkpoint.py output), or a hub id")
    device = _torch_device(args.device)
    detector = load_person_detector(args.person_detector) if args.person_detector else None
    model = AutoModel.from_pretrained(args.model).eval().to(device)
    if args.compile or args.bf16:
        from .models._base import InferenceModel

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


def build_parser() -> argparse.ArgumentParser:
    from .twin import MOTIONS

    p = argparse.ArgumentParser(prog="simspine", description=__doc__)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("twin", help="write the synthetic twin (Human3.6M + SIMSPINE layouts, ground truth)")
    t.add_argument("--out", type=Path, default=Path("outputs/twin"))
    t.add_argument("--subjects", nargs="+", default=["S1", "S9"])
    t.add_argument("--motions", nargs="+", choices=list(MOTIONS))
    t.add_argument("--seconds", type=float, default=1.5, help="seconds per sequence (50 Hz)")
    t.add_argument("--no-videos", action="store_true", help="3D and 2D only (for large benchmark twins)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_cmd_twin)

    d = sub.add_parser("demo", help="run the whole pipeline on the synthetic twin")
    d.add_argument("--out", type=Path, default=Path("outputs/demo"))
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("evaluate", help="score a predictions file (the leaderboard evaluation script)")
    e.add_argument("--task", required=True, choices=["2d", "multiview", "lifting", "angles"])
    e.add_argument("--predictions", type=Path, required=True, help=".npz or .parquet (see simspine_hub.leaderboard)")
    e.add_argument("--split", default="test")
    e.add_argument("--h36m-root")
    e.add_argument("--annotations", help="SIMSPINE release folder, .h5, parquet folder or hub id")
    e.add_argument("--twin", type=Path, help="use a synthetic twin folder for both roots")
    e.add_argument("--cache-dir")
    e.add_argument("--model-name")
    e.add_argument("--out", type=Path, help="results JSON (default: next to the predictions)")
    e.add_argument("--model-index", action="store_true", help="also print model-index entries for a model card")
    e.set_defaults(func=_cmd_evaluate)

    sm = sub.add_parser("simulate", help="the simulation pipeline: 2D -> triangulation -> OpenSim IK -> 37 markers")
    sm.add_argument("--h36m-root", type=Path, help="Human3.6M-layout root (cameras, D3 limbs)")
    sm.add_argument("--detections", type=Path, help="2D detections (npz or OpenPose-style JSON folders, or a "
                    "Human3.6M root for its D2 limb points)")
    sm.add_argument("--detector", help="a 2D model folder/hub id: detect on the Human3.6M videos first")
    sm.add_argument("--calibration", type=Path, help="Pose2Sim calibration TOML of any capture (instead of --h36m-root)")
    sm.add_argument("--twin", type=Path, help="run on a synthetic twin (its detections are simulated if absent)")
    sm.add_argument("--out", type=Path, required=True)
    sm.add_argument("--subjects", nargs="+")
    sm.add_argument("--workers", type=int, default=1, help="parallel processes for IK")
    sm.add_argument("--smooth-lambda", type=float, default=1.0, help="temporal smoothness weight (0: off)")
    sm.add_argument("--cutoff-hz", type=float, default=6.0)
    sm.add_argument("--no-h36m-limbs", action="store_true", help="use triangulated limbs instead of Human3.6M's")
    sm.set_defaults(func=_cmd_simulate)

    inf = sub.add_parser("infer", help="2D spine keypoints on an image, a folder or a video (JSON + overlay)")
    inf.add_argument("input", type=Path)
    inf.add_argument("--model", required=True, help="a from_pretrained folder or hub id (config.json + model.safetensors)")
    inf.add_argument("--out", type=Path, default=Path("outputs/infer"))
    inf.add_argument("--boxes", type=Path, help="JSON {image name or frame index: [[x, y, w, h], ...]}; default: whole frame")
    inf.add_argument("--person-detector", metavar="MODULE:CALLABLE",
                     help="a person detector to import: RGB image (H, W, 3) uint8 -> (n, 4) boxes [x, y, w, h] px")
    inf.add_argument("--device", default="auto", help="auto (CUDA GPU if torch sees one, else CPU), cpu, cuda or cuda:N")
    inf.add_argument("--flip-test", action="store_true")
    inf.add_argument("--no-smooth", action="store_true", help="no One-Euro smoothing on videos")
    inf.add_argument("--lifter", help="a lifter folder: also lift the last frame to 3D and plot it")
    inf.add_argument("--compile", action="store_true",
                     help="torch.compile with inductor freezing (BN folded, channels-last): faster after ~20 s of compiling")
    inf.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on GPUs and on CPUs with AVX512-BF16/AMX; ~1e-2 relative change)")
    inf.set_defaults(func=_cmd_infer)

    lb = sub.add_parser("leaderboard", help="merge results JSON files into one markdown leaderboard")
    lb.add_argument("results", nargs="+", type=Path)
    lb.add_argument("--out", type=Path)
    lb.add_argument("--no-paper", action="store_true", help="leave out the paper's reference rows")
    lb.set_defaults(func=_cmd_leaderboard)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.quiet and args.command in ("demo", "evaluate"):   # the commands that build datasets
        import datasets

        datasets.disable_progress_bars()
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError) as exc:
        print(f"simspine {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
