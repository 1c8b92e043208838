"""`simspine train <what>`: train a model with a recipe (``simspine train lifter``, ``simspine train 2d``).

Each trainer is one module ``simspine_hub/apps/commands/_train_<name>.py`` exposing ``NAME``,
``add_parser(subparsers) -> ArgumentParser`` and ``run(args) -> int``; this module only discovers and assembles
them, so adding a trainer touches no other file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from simspine_hub.apps import commands

PREFIX = "_train_"


def _trainers() -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if m.name.startswith(PREFIX))
    return [importlib.import_module(f"{commands.__name__}.{n}") for n in names]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model with a recipe (lifter, 2d; see simspine train -h)",
                       description=__doc__.splitlines()[0])
    inner = p.add_subparsers(dest="trainer", required=True, metavar="{" + ",".join(m.NAME for m in _trainers()) + "}")
    for module in _trainers():
        module.add_parser(inner).set_defaults(train_func=module.run)
    return p


def run(args: argparse.Namespace) -> int:
    return int(args.train_func(args) or 0)
