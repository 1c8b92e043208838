"""What every ``simspine train <trainer>`` shares: the flags for the data roots, the output folder, the recipe's
common training overrides and the run, and reading them back.

Not a trainer (the name does not start with ``_train_``, so :mod:`simspine_hub.apps.commands.train` skips it) and not
a command (it starts with ``_``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_common_arguments(p: argparse.ArgumentParser, *, h36m_help: str, out_help: str,
                         epochs_help: str = "override the recipe's epochs") -> None:
    """Add the flags every trainer takes to ``p``; the three helps that differ between trainers are arguments."""
    p.add_argument("--out", type=Path, required=True, help=out_help)
    p.add_argument("--h36m-root", help=h36m_help)
    p.add_argument("--annotations", help="SIMSPINE release folder, .h5, parquet folder or hub id")
    p.add_argument("--twin", type=Path, help="use a synthetic twin folder for both roots")
    p.add_argument("--epochs", type=float, help=epochs_help)
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps (smoke runs; still evaluates)")
    p.add_argument("--batch-size", type=int, help="override the recipe's per-device batch size")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision")
    precision.add_argument("--fp16", action="store_true", help="float16 mixed precision (CUDA)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    p.add_argument("--no-tensorboard", action="store_true", help="CSV log only")
    p.add_argument("--cache-dir", help="datasets cache folder")
    p.add_argument("--model-name", help="name in the results and the model card")


def training_overrides(args: argparse.Namespace, **extra) -> dict:
    """The ``training`` section's overrides from the common flags (None where a flag was not given); ``extra``, the
    trainer's own training keys, go after the seed."""
    return {"num_train_epochs": args.epochs, "per_device_train_batch_size": args.batch_size,
            "learning_rate": args.lr, "seed": args.seed, **extra, "bf16": args.bf16 or None,
            "fp16": args.fp16 or None, "report_to": [] if args.no_tensorboard else None}


def data_roots(args: argparse.Namespace, *, required: bool = False) -> tuple:
    """(Human3.6M root, SIMSPINE annotations): the twin's two folders with ``--twin``, else the two flags (with
    ``required``, a ValueError naming the flags when either is missing)."""
    if args.twin is not None:
        return args.twin / "h36m", args.twin / "simspine"
    if required and (args.annotations is None or args.h36m_root is None):
        raise ValueError("pass --h36m-root and --annotations, or --twin DIR")
    return args.h36m_root, args.annotations
