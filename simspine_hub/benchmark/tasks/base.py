"""What a benchmark task is: one :class:`Task` object per task, registered by name.

A task knows its predictions format (key columns, value column, accepted shapes and units), the dataset config
and fields its ground truth comes from, how to score aligned predictions (its metrics and the conventions they
follow), its table layout, its main metric and the paper's reference numbers. Rows are identified by
:class:`RowKeys` (one array per key field; :class:`RowKey` for one row), never by joined strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from simspine_hub.io import h36m

__all__ = ["RowKey", "RowKeys", "GroundTruth", "Reference", "Task", "register_task", "get_task", "task_names",
           "per_action"]

KEY_FIELDS = ("subject", "sequence", "camera", "frame")


class RowKey(NamedTuple):
    """One row's key: subject (``"S9"``), sequence (Human3.6M file stem ``"Walking 1"``), camera id or None,
    0-based frame index."""

    subject: str
    sequence: str
    camera: str | None
    frame: int

    def __str__(self) -> str:
        cam = f", camera {self.camera}" if self.camera is not None else ""
        return f"({self.subject}, {self.sequence!r}{cam}, frame {self.frame})"


@dataclass(frozen=True)
class RowKeys:
    """The key columns of a table: (N,) arrays, ``camera`` None for tasks without one."""

    subject: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    camera: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = {len(self.subject), len(self.sequence), len(self.frame)} | (
            set() if self.camera is None else {len(self.camera)})
        if len(n) != 1:
            raise ValueError(f"key columns differ in length: {sorted(n)}")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in KEY_FIELDS if getattr(self, f) is not None)

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, i: int) -> RowKey:
        cam = None if self.camera is None else str(self.camera[i])
        return RowKey(str(self.subject[i]), str(self.sequence[i]), cam, int(self.frame[i]))

    def take(self, idx: np.ndarray) -> RowKeys:
        return RowKeys(self.subject[idx], self.sequence[idx], self.frame[idx],
                       None if self.camera is None else self.camera[idx])

    def columns(self) -> dict[str, np.ndarray]:
        """{field: (N,) array}: the key columns of a predictions table."""
        return {f: getattr(self, f) for f in self.fields}

    def locate(self, other: RowKeys) -> np.ndarray:
        """For each row of ``self``, its row index in ``other`` (-1 where absent; ``other``'s keys unique)."""
        mine, theirs = _codes(self, other)
        if not len(theirs):
            return np.full(len(mine), -1)
        order = np.argsort(theirs, kind="stable")
        pos = np.clip(np.searchsorted(theirs[order], mine), 0, len(theirs) - 1)
        found = theirs[order][pos] == mine
        return np.where(found, order[pos], -1)

    def unique(self) -> tuple[RowKeys, np.ndarray]:
        """(the distinct keys in sorted order, (N,) index of each row's key among them)."""
        codes, _ = _codes(self, self)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        return self.take(first), inverse

    def without_camera(self) -> RowKeys:
        return RowKeys(self.subject, self.sequence, self.frame)

    def duplicated(self) -> np.ndarray:
        """Row indices whose key already appeared earlier in the table."""
        codes, _ = _codes(self, self)
        _, first = np.unique(codes, return_index=True)
        dup = np.ones(len(codes), bool)
        dup[first] = False
        return np.flatnonzero(dup)


def _codes(a: RowKeys, b: RowKeys) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per row of ``a`` and of ``b``, equal exactly where the keys are equal."""
    if a.fields != b.fields:
        raise ValueError(f"key fields differ: {a.fields} vs {b.fields}")
    ca, cb, radix = np.zeros(len(a), np.int64), np.zeros(len(b), np.int64), 1
    for f in a.fields:
        va, vb = getattr(a, f), getattr(b, f)
        if f != "frame":
            va, vb = va.astype(str), vb.astype(str)
        uniq, inv = np.unique(np.concatenate([va, vb]), return_inverse=True)
        radix *= max(len(uniq), 1)
        if radix >= 2 ** 62:                                  # far beyond Human3.6M sizes (7 x 210 x 4 x 1e4)
            raise ValueError("too many distinct keys to encode in 64 bits")
        ca, cb = ca * len(uniq) + inv[:len(a)], cb * len(uniq) + inv[len(a):]
    return ca, cb


@dataclass
class GroundTruth:
    """Ground truth of one task and split, aligned on ``keys``.

    Args:
        task: task name; keys: the rows; action: (N,) normalised Human3.6M action names.
        target: (N, J, D) or (N, A) in the task's units; mask: (N, J) or (N, A) bool, True = labelled.
        bbox: (N, 4) person boxes ``[x, y, w, h]`` px (2D task only).
    """

    task: str
    keys: RowKeys
    action: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    bbox: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.keys)
        if n == 0:
            raise ValueError(f"ground truth for task {self.task!r} has no rows (an empty split?)")
        for name in ("action", "target", "mask") + (("bbox",) if self.bbox is not None else ()):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ground truth {name} has {len(getattr(self, name))} rows, keys have {n}")


@dataclass(frozen=True)
class Reference:
    """A number reported elsewhere (the paper), shown beside results but never ranked with them."""

    method: str
    values: Mapping[str, float]
    source: str = "paper, Human3.6M (reported, reference only)"


@dataclass(frozen=True)
class Task:
    """One benchmark task (see the module docstring); the four are ``2d``, ``multiview``, ``lifting``, ``angles``.

    Args:
        name: registry name. summary: one line for tables and ``--help``.
        key_fields: key columns of a predictions row. value_column: the predicted values' column.
        joint_sets: number of predicted joints/axes per row -> the ground-truth columns they are (so the accepted
            value shapes are ``(N, J, dims)`` for each ``J`` here, or ``(N, J)`` when ``dims`` is 0).
        dims: coordinates per joint (2, 3) or 0 for one value per axis. units: the values' units, stated.
        dataset_config / ground_truth_fields: where the ground truth comes from (``simspine_hub.load_dataset``).
        metrics: headline metrics (leaderboard columns, model-index entries), the main metric first.
        higher_is_better: the main metric's direction.
        missing_allowed: NaN predictions at labelled joints are accepted and scored as misses (threshold
            metrics); otherwise they are refused (distance metrics; ``metrics`` module docstring).
        optional_columns: extra columns -> accepted per-row shapes, e.g. ``{"scores": ((), (37,))}``.
        build: (dataset columns as numpy, dataset kwargs) -> :class:`GroundTruth`.
        score: (values in ground-truth order, optional columns, ground truth, **options) -> result fields,
            ``conventions`` included.
        table: result -> markdown lines in the paper's layout. check: extra validation (values, gt) -> problems.
        references: the paper's numbers.
    """

    name: str
    summary: str
    key_fields: tuple[str, ...]
    value_column: str
    joint_sets: Mapping[int, tuple[int, ...]]
    dims: int
    units: str
    dataset_config: str
    ground_truth_fields: tuple[str, ...]
    metrics: tuple[str, ...]
    higher_is_better: bool
    build: Callable[..., GroundTruth]
    score: Callable[..., dict]
    table: Callable[[dict], list[str]]
    missing_allowed: bool = False
    optional_columns: Mapping[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    check: Callable[[np.ndarray, GroundTruth], list[str]] | None = None
    references: tuple[Reference, ...] = ()
    hub_task_type: str = "other"

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def value_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Accepted per-row shapes of the value column."""
        return tuple((j, self.dims) if self.dims else (j,) for j in self.joint_sets)

    def predictions_table(self, keys: RowKeys, values: np.ndarray, **optional: np.ndarray) -> dict[str, np.ndarray]:
        """A predictions table for ``keys`` (e.g. ``ground_truth.keys``): {key columns, value column, optional}."""
        return {**keys.columns(), self.value_column: np.asarray(values), **optional}

    def describe(self) -> str:
        shapes = " or ".join("(N, " + ", ".join(map(str, s)) + ")" for s in self.value_shapes)
        return (f"{self.name}: keys {', '.join(self.key_fields)}; {self.value_column} {shapes} ({self.units})"
                + "".join(f"; optional {k}" for k in self.optional_columns))


_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to the registry (its module does this where the task is defined)."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def get_task(name: str | Task) -> Task:
    """The registered task called ``name`` (a Task passes through); ValueError naming the choices otherwise."""
    if isinstance(name, Task):
        return name
    if name not in _REGISTRY:
        raise ValueError(f"task {name!r} unknown; choose one of {task_names()}")
    return _REGISTRY[name]


def task_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def per_action(gt: GroundTruth, fn: Callable[[np.ndarray], object]) -> dict[str, object]:
    """{action: fn(row selection)} for the actions present (Human3.6M order), then "Mean" over all rows."""
    out = {}
    for action in h36m.ACTIONS:
        sel = gt.action == action
        if sel.any():
            out[action] = fn(sel)
    out["Mean"] = fn(np.ones(len(gt.keys), bool))
    return out

