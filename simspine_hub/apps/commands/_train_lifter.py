"""`simspine train lifter`: the paper's lifting recipe (Sec. 4.3) or the angle baseline, evaluated on the test
split through the leaderboard, written as a hub model folder (see :mod:`simspine_hub.training.lifter`)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "lifter"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="train SimpleBaseline3D (full37 / spine15) or the angle lifter with a recipe",
                       description=__doc__.splitlines()[0])
    p.add_argument("--config", default="full37",
                   help="full37 | spine15 | angles (recipes in simspine_hub/training/recipes) or a recipe .yaml")
    p.add_argument("--h36m-root", help="Human3.6M root (the cameras and the 37-point join)")
    p.add_argument("--annotations", help="SIMSPINE release folder, .h5, parquet folder or hub id")
    p.add_argument("--twin", type=Path, help="use a synthetic twin folder for both roots")
    p.add_argument("--out", type=Path, required=True, help="output folder: the finished model, card, results, log")
    p.add_argument("--detections", type=Path,
                   help="2D predictions (.npz/.parquet, the leaderboard's 2d format) as input: 'Det.' (default: GT 2D)")
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps (smoke runs; still evaluates)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    p.add_argument("--sample-hz", type=float, help="training frames per second (recipe: 1 Hz, the paper's)")
    p.add_argument("--eval-hz", type=float, help="test frames per second for the final evaluation (recipe: every frame)")
    p.add_argument("--epochs", type=float, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, help="override the recipe's per-device batch size")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision")
    precision.add_argument("--fp16", action="store_true", help="float16 mixed precision (CUDA)")
    p.add_argument("--no-tensorboard", action="store_true", help="CSV log only")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any recipe value, e.g. training.save_strategy=steps or model.hidden=512 (a JSON value, else a "
                        "string); repeatable")
    p.add_argument("--cache-dir", help="datasets cache folder")
    p.add_argument("--model-name", help="name in the results and the model card")
    return p


def overrides_from(args: argparse.Namespace) -> dict[str, dict]:
    """Recipe overrides ({section: {key: value}}) from the flags that were given."""
    import json

    training = {"num_train_epochs": args.epochs, "per_device_train_batch_size": args.batch_size,
                "learning_rate": args.lr, "seed": args.seed, "bf16": args.bf16 or None, "fp16": args.fp16 or None,
                "report_to": [] if args.no_tensorboard else None}
    data = {"sample_hz": args.sample_hz, "eval_hz": args.eval_hz}
    out = {"training": {k: v for k, v in training.items() if v is not None},
           "data": {k: v for k, v in data.items() if v is not None}}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name):
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. training.save_strategy=steps")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value                          # a plain string, e.g. steps (YAML would read "no" as False)
        out.setdefault(section, {})[name] = parsed
    return out


def run(args: argparse.Namespace) -> int:
    from simspine_hub.benchmark.leaderboard import format_table
    from simspine_hub.training.lifter import train_lifter

    if args.twin is not None:
        h36m_root, annotations = args.twin / "h36m", args.twin / "simspine"
    elif args.annotations is None or args.h36m_root is None:
        raise ValueError("pass --h36m-root and --annotations, or --twin DIR")
    else:
        h36m_root, annotations = args.h36m_root, args.annotations
    run_ = train_lifter(args.config, h36m_root=h36m_root, annotations=annotations, out=args.out,
                        detections=args.detections, max_steps=args.max_steps, resume=args.resume,
                        overrides=overrides_from(args), cache_dir=args.cache_dir, model_name=args.model_name,
                        progress=not args.quiet)
    if run_ is None:                   # a non-main process of a multi-GPU run
        return 0
    print(format_table(run_.result))
    for ref in run_.references:
        print(format_table(ref))
    print(f"model folder: {run_.out} (README.md, results.json, recipe.yaml, training_log.csv, learning_curve.png)")
    return 0
