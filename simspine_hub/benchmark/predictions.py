"""Predictions tables: reading, writing and strict validation against a task and its ground truth.

A predictions file is an ``.npz`` (read with ``allow_pickle=False``) or a flat ``.parquet`` holding one row per
key: the task's key columns (``subject`` and ``sequence`` strings, ``camera`` string or integer id, ``frame``
integer), its value column (real numbers; see :mod:`simspine_hub.benchmark.tasks` for shapes and units) and
optional columns (2D ``scores``). Validation lists every problem it finds in one :class:`PredictionsError`:
missing or empty columns, wrong dtypes (bool, complex, strings, objects), wrong shapes, NaN or inf values, NaN
scores, duplicate, missing and unknown keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from simspine_hub.benchmark.tasks.base import GroundTruth, RowKeys, Task

__all__ = ["PredictionsError", "read_predictions", "save_predictions", "align_predictions"]

SHOWN = 5  # keys quoted per problem


class PredictionsError(ValueError):
    """The predictions do not match the task's format; the message lists every problem."""


def save_predictions(path: str | os.PathLike, **columns) -> Path:
    """Write a predictions ``.npz`` (no pickle: strings are stored as unicode arrays)."""
    from simspine_hub.io.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in columns.items()})
    return path


def read_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a predictions ``.npz`` or ``.parquet`` into {column: array}."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: predictions file not found")
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            out = {}
            for name in table.column_names:
                col = table.column(name).combine_chunks()
                arr, shape = col, []
                while hasattr(arr, "flatten") and hasattr(arr.type, "list_size"):
                    shape.append(arr.type.list_size)
                    arr = arr.flatten()
                values = arr.to_numpy(zero_copy_only=False)
                out[name] = values.reshape(len(col), *shape) if shape else values
            return out
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:
        raise PredictionsError(f"{path}: cannot read predictions ({type(exc).__name__}: {exc}); write .npz with "
                               "simspine_hub.benchmark.save_predictions or a flat .parquet") from exc


def _shown(items) -> str:
    items = list(items)
    return ", ".join(map(str, items[:SHOWN])) + (" ..." if len(items) > SHOWN else "")


def _is_text(a: np.ndarray) -> bool:
    return a.dtype.kind == "U" or (a.dtype.kind == "O" and all(isinstance(v, str) for v in a.ravel()))


def _key_problems(pred: dict, task: Task, n: int) -> list[str]:
    problems = []
    for k in task.key_fields:
        col = np.asarray(pred[k])
        if col.ndim != 1 or len(col) != n:
            problems.append(f"column {k!r} has shape {col.shape}; expected ({n},), one per row")
        elif k == "frame" and col.dtype.kind not in "iu":
            problems.append(f"column 'frame' has dtype {col.dtype}; expected integers (0-based frame index)")
        elif k == "camera" and not (_is_text(col) or col.dtype.kind in "iu"):
            problems.append(f"column 'camera' has dtype {col.dtype}; expected camera ids (strings or integers)")
        elif k in ("subject", "sequence") and not _is_text(col):
            problems.append(f"column {k!r} has dtype {col.dtype}; expected strings")
    return problems


def _real(name: str, a: np.ndarray) -> str | None:
    if a.dtype.kind not in "iuf":
        return f"column {name!r} has dtype {a.dtype}; expected real numbers (integers or floats)"
    return None


def _value_problems(pred: dict, task: Task, n: int) -> tuple[np.ndarray | None, dict, list[str]]:
    problems = []
    raw = np.asarray(pred[task.value_column])
    values = None
    if (msg := _real(task.value_column, raw)) is not None:
        problems.append(msg)
    elif raw.shape[1:] not in task.value_shapes or len(raw) != n:
        want = " or ".join("(N, " + ", ".join(map(str, s)) + ")" for s in task.value_shapes)
        problems.append(f"{task.value_column!r} has shape {raw.shape}; expected {want} with N = {n} rows")
    else:
        values = raw.astype(np.float64)
    optional = {}
    for name, shapes in task.optional_columns.items():
        if name not in pred:
            continue
        col = np.asarray(pred[name])
        if (msg := _real(name, col)) is not None:
            problems.append(msg)
        elif len(col) != n or col.shape[1:] not in shapes:
            want = " or ".join(str((n, *s)) for s in shapes)
            problems.append(f"column {name!r} has shape {col.shape}; expected {want}")
        elif not np.isfinite(col).all():
            problems.append(f"column {name!r} has {int((~np.isfinite(col)).sum())} non-finite values (NaN or inf); "
                            "scores must be finite")
        else:
            optional[name] = col.astype(np.float64)
    return values, optional, problems


def _pred_keys(pred: dict, task: Task) -> RowKeys:
    cols = {k: np.asarray(pred[k]) for k in task.key_fields}
    if "camera" in cols:
        cols["camera"] = cols["camera"].astype(str)
    return RowKeys(cols["subject"].astype(str), cols["sequence"].astype(str), cols["frame"].astype(np.int64),
                   cols.get("camera"))


def _nonfinite_problems(values: np.ndarray, task: Task, gt: GroundTruth, keys: RowKeys) -> list[str]:
    """inf anywhere is refused; NaN at a labelled joint is refused unless the task scores misses."""
    problems = []
    flat = values.reshape(len(values), values.shape[1], -1)
    inf_rows = np.flatnonzero(np.isinf(flat).any((1, 2)))
    if inf_rows.size:
        problems.append(f"{inf_rows.size} rows with inf ({_shown(keys[i] for i in inf_rows)})")
    if not task.missing_allowed:
        cols = list(task.joint_sets[values.shape[1]])
        nan_rows = np.flatnonzero((np.isnan(flat).any(2) & gt.mask[:, cols]).any(1))
        if nan_rows.size:
            problems.append(f"{nan_rows.size} rows with NaN at labelled joints ({_shown(keys[i] for i in nan_rows)}): "
                            f"the {task.name} task's distance metrics cannot score a missing joint")
    return problems


def align_predictions(pred: dict, gt: GroundTruth, task: Task, source: str) -> tuple[np.ndarray, dict]:
    """Validate a predictions table against ``task`` and ``gt``; return (values, optional columns) in ``gt`` order.

    Raises:
        PredictionsError: naming ``source`` and listing every problem found.
    """
    required = [*task.key_fields, task.value_column]
    missing_cols = [c for c in required if c not in pred]
    if missing_cols:
        raise PredictionsError(f"{source}: missing columns {missing_cols}; the {task.name} format needs {required} "
                               f"({task.describe()})")
    n = len(np.asarray(pred[task.value_column]))
    if n == 0:
        raise PredictionsError(f"{source}: the predictions table is empty (0 rows); the {task.name} task needs one "
                               f"row per ground-truth key ({len(gt.keys)} rows)")
    problems = _key_problems(pred, task, n)
    values, optional, more = _value_problems(pred, task, n)
    problems += more
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems))
    keys = _pred_keys(pred, task)
    dup = keys.duplicated()
    idx = gt.keys.locate(keys)
    missing = np.flatnonzero(idx < 0)
    unknown = np.flatnonzero(keys.locate(gt.keys) < 0)
    for label, rows, table in (("duplicate keys", dup, keys), ("missing keys", missing, gt.keys),
                               ("unknown keys", unknown, keys)):
        if rows.size:
            problems.append(f"{rows.size} {label} ({_shown(table[i] for i in rows)})")
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems) + f"; keys are {', '.join(task.key_fields)}")
    values = values[idx]
    problems = _nonfinite_problems(values, task, gt, gt.keys)
    if task.check is not None:
        problems += task.check(values, gt)
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems))
    return values, {k: v[idx] for k, v in optional.items()}
