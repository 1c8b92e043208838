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
    ok = rt.h36m_3d_bit_exact and rt.h36m_2d_max_px < 0.01
    return 0 if ok else 1


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
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.quiet:
        import datasets

        datasets.disable_progress_bars()
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"simspine {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
