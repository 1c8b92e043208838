"""The ``simspine`` command (also ``python -m simspine_hub``).

Each subcommand is one module of :mod:`simspine_hub.apps.commands` with ``add_parser(subparsers)`` and
``run(args)``; this file only assembles them and turns the project's errors into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from simspine_hub.apps import commands

__all__ = ["main", "build_parser", "COMMANDS"]

#: Subcommand modules, in help order (every module of ``simspine_hub.apps.commands``).
COMMANDS = tuple(sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")))
_DATASET_COMMANDS = ("demo", "evaluate", "train", "analyze")   # the commands that build datasets


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simspine", description=__doc__.splitlines()[0])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.add_parser(sub).set_defaults(func=module.run)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.quiet and args.command in _DATASET_COMMANDS:
        import datasets

        datasets.disable_progress_bars()
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        if not _is_input_error(exc):
            raise
        print(f"simspine {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _is_input_error(exc: Exception) -> bool:
    """Bad input, reported in one line: ValueError/OSError/KeyError and every error class the project defines."""
    return isinstance(exc, (ValueError, OSError, KeyError)) or type(exc).__module__.startswith("simspine_hub.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
