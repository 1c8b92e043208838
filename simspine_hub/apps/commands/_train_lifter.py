"""`simspine train lifter`: the paper's lifting recipe (Sec. 4.3) or the angle baseline, evaluated on the test
split through the leaderboard, written as a hub model folder (see :mod:`simspine_hub.training.lifter`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from simspine_hub.apps.commands._recipe_args import add_common_arguments, data_roots, training_overrides

NAME = "lifter"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="train SimpleBaseline3D (full37 / spine15) or the angle lifter with a recipe",
                       description=__doc__.splitlines()[0])
    p.add_argument("--config", default="full37",
                   help="full37 | spine15 | angles (recipes in simspine_hub/training/recipes) or a recipe .yaml")
    add_common_arguments(p, h36m_help="Human3.6M root (the cameras and the 37-point join)",
                         out_help="output folder: the finished model, card, results, log")
    p.add_argument("--detections", type=Path,
                   help="2D predictions (.npz/.parquet, the leaderboard's 2d format) as input: 'Det.' (default: GT 2D)")
    p.add_argument("--sample-hz", type=float, help="training frames per second (recipe: 1 Hz, the paper's)")
    p.add_argument("--eval-hz", type=float, help="test frames per second for the final evaluation (recipe: every frame)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any recipe value, e.g. training.save_strategy=steps or model.hidden=512 (a JSON value, else a "
                        "string); repeatable")
    return p


def overrides_from(args: argparse.Namespace) -> dict[str, dict]:
    """Recipe overrides ({section: {key: value}}) from the flags that were given."""
    import json

    training = training_overrides(args)
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

    h36m_root, annotations = data_roots(args, required=True)
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
