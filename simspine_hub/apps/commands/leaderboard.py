"""`simspine leaderboard`: merge results JSON files into one markdown leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("leaderboard", help="merge results JSON files into one markdown leaderboard")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference rows")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from simspine_hub.benchmark.leaderboard import leaderboard_markdown
    from simspine_hub.io.files import write_text

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
