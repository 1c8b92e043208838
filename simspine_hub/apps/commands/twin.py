"""`simspine twin`: write the synthetic twin."""

from __future__ import annotations

import argparse
from pathlib import Path

from simspine_hub.twin.generator import MOTIONS


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("twin", help="write the synthetic twin (Human3.6M + SIMSPINE layouts, ground truth)")
    p.add_argument("--out", type=Path, default=Path("outputs/twin"))
    p.add_argument("--subjects", nargs="+", default=["S1", "S9"])
    p.add_argument("--motions", nargs="+", choices=list(MOTIONS))
    p.add_argument("--seconds", type=float, default=1.5, help="seconds per sequence (50 Hz)")
    p.add_argument("--no-videos", action="store_true", help="3D and 2D only (for large benchmark twins)")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args: argparse.Namespace) -> int:
    from simspine_hub.twin.generator import MOTIONS, TwinConfig, generate_twin

    cfg = TwinConfig(subjects=tuple(args.subjects), motions=tuple(args.motions or MOTIONS),
                     seconds=args.seconds, videos=not args.no_videos, seed=args.seed)
    out = generate_twin(args.out, cfg, progress=not args.quiet)
    print(f"twin written to {out}")
    return 0
