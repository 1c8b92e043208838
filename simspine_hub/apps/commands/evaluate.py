"""`simspine evaluate`: score a predictions file (the leaderboard evaluation script)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="score a predictions file (the leaderboard evaluation script)")
    p.add_argument("--task", required=True, help="2d, multiview, lifting or angles (simspine_hub.benchmark.tasks)")
    p.add_argument("--predictions", type=Path, required=True,
                   help=".npz or .parquet; format per task in simspine_hub.benchmark.tasks")
    p.add_argument("--split", default="test")
    p.add_argument("--h36m-root")
    p.add_argument("--annotations", help="SIMSPINE release folder, .h5, parquet folder or hub id")
    p.add_argument("--twin", type=Path, help="use a synthetic twin folder for both roots")
    p.add_argument("--cache-dir")
    p.add_argument("--on-missing", choices=["error", "warn", "skip"], default="error",
                   help="a sequence in only one of Human3.6M and the annotations: fail (default), warn or skip it")
    p.add_argument("--model-name")
    p.add_argument("--out", type=Path, help="results JSON (default: next to the predictions)")
    p.add_argument("--model-index", action="store_true", help="also print model-index entries for a model card")
    return p


def _dataset_kwargs(args: argparse.Namespace) -> dict:
    if args.twin is not None:
        return {"h36m_root": str(args.twin / "h36m"), "annotations": str(args.twin / "simspine"),
                "cache_dir": args.cache_dir, "on_missing": args.on_missing}
    if args.annotations is None:
        raise ValueError("pass --annotations (and --h36m-root) or --twin DIR")
    return {"h36m_root": args.h36m_root, "annotations": args.annotations, "cache_dir": args.cache_dir,
            "on_missing": args.on_missing}


def run(args: argparse.Namespace) -> int:
    import json

    from simspine_hub.benchmark.leaderboard import evaluate_file, format_table, model_index

    res, out = evaluate_file(args.task, args.predictions, split=args.split, label=args.model_name,
                             data_label="twin" if args.twin else "SIMSPINE", out=args.out, **_dataset_kwargs(args))
    print(format_table(res))
    print(f"results: {out}")
    if args.model_index:
        print(json.dumps({"model-index": model_index(res)}, indent=2))
    return 0
