"""`simspine leaderboard`: merge results JSON files into one markdown leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("leaderboard", help="merge results JSON files into one markdown leaderboard")
    p.add_argument("results", nargs="+", type=Path, help="results JSON files written by `simspine evaluate`")
    p.add_argument("--out", type=Path)
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference rows")
    return p


def run(args: argparse.Namespace) -> int:
    from simspine_hub.benchmark.leaderboard import leaderboard_from_files

    print(leaderboard_from_files(args.results, out=args.out, with_paper=not args.no_paper))
    return 0
