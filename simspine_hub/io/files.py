"""Small file helpers: atomic writes so that nothing half-written is ever left behind (text, matplotlib PNGs), and a
stdout silencer."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it onto ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():  # a folder replaces a folder: move the old one aside first
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_png(fig, path: str | os.PathLike, *, bbox_inches: str | None = None) -> Path:
    """Write a matplotlib figure to ``path`` as PNG atomically (at the figure's own dpi), then close it.

    The one tail every plot function shares. ``bbox_inches="tight"`` crops to the drawn content; the default keeps
    the figure's size. matplotlib is imported only here, lazily (the figure's maker has imported it already)."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches=bbox_inches)
    plt.close(fig)
    return Path(path)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence standard output for a block: Python's ``sys.stdout`` and file descriptor 1, so that prints of
    C/C++ libraries (OpenSim's model summary) and of Python ones (pycocotools' evaluation log) both vanish.
    Errors (stderr) still show."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
