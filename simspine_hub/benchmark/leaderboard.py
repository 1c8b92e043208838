"""The leaderboard evaluation: ground truth, scoring, results JSON, the paper's tables and the merged leaderboard.

What each task is (predictions format, units, metrics, table) lives in its :class:`~simspine_hub.benchmark.tasks.Task`
(:mod:`simspine_hub.benchmark.tasks`); validation rules in :mod:`simspine_hub.benchmark.predictions`; metric
conventions in :mod:`simspine_hub.benchmark.metrics`.

Results JSON (one per evaluation, :func:`save_results` / :func:`load_results`): ``schema``, ``task``, ``model``,
``data`` (e.g. ``twin``), ``split``, ``frames``, ``units``, ``conventions`` (the rules the numbers follow: the
missing-prediction rule, the AUC threshold grid, ...), the task's metrics and tables. The leaderboard ranks a row
only against rows of the same task **and the same conventions** (results from different AUC grids are never
ranked together); the paper's numbers are shown beside them as unranked reference rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simspine_hub.benchmark.predictions import (
    PredictionsError,
    align_predictions,
    read_predictions,
    save_predictions,
)
from simspine_hub.benchmark.tasks import TASK_ORDER, GroundTruth, Task, get_task
from simspine_hub.benchmark.tasks.pose2d import grid_text
from simspine_hub.dataset.arrow import arrow_columns
from simspine_hub.io.files import write_text

__all__ = ["TASKS", "SCHEMA", "PredictionsError", "ResultsError", "read_predictions", "save_predictions",
           "GroundTruth", "load_ground_truth", "evaluate", "evaluate_file", "format_table", "model_index", "save_results",
           "load_results", "LeaderboardRow", "leaderboard_rows", "leaderboard_markdown", "leaderboard_from_files"]

TASKS = TASK_ORDER
SCHEMA = 2  # results JSON layout version (1: before conventions were recorded)


class ResultsError(ValueError):
    """A results JSON is unreadable or not one that ``simspine evaluate`` writes; the message names the file."""


def load_ground_truth(task: str | Task, split: str = "test", **dataset_kwargs) -> GroundTruth:
    """Ground truth of ``task`` on ``split`` from the dataset builder (``h36m_root=``, ``annotations=``, ...).

    The dataset's columns among the task's key fields, ``action`` and its ``ground_truth_fields`` are read from
    Arrow in bulk (:func:`~simspine_hub.dataset.arrow.arrow_columns`) and handed to ``Task.build`` (the ``lifting``
    task's ``camera`` key is made by its build, one row per usable view).
    """
    from simspine_hub.dataset.builder import load_dataset

    task = get_task(task)
    ds = load_dataset("simspine", task.dataset_config, split=split, **dataset_kwargs)
    if not ds.num_rows:
        raise ValueError(f"split {split!r} of config {task.dataset_config!r} has no frames: nothing to evaluate")
    wanted = dict.fromkeys((*task.key_fields, "action", *task.ground_truth_fields))
    return task.build(arrow_columns(ds, [c for c in wanted if c in ds.column_names]), dataset_kwargs)


def evaluate(task: str | Task, predictions: dict | str | os.PathLike, ground_truth: GroundTruth, *,
             label: str = "submission", data_label: str = "twin", split: str = "test", **options) -> dict:
    """Score predictions against ``ground_truth``; returns a JSON-able result dict (see the module docstring).

    Args:
        task: a task name (``2d``, ``multiview``, ``lifting``, ``angles``) or :class:`Task`.
        predictions: {column: array} (e.g. ``task.predictions_table(ground_truth.keys, values)``) or a
            ``.npz`` / ``.parquet`` file.
        ground_truth: from :func:`load_ground_truth` for the same task.
        label: the method's name; data_label: where the data came from (``twin`` or ``SIMSPINE``).
        options: task options, e.g. ``auc_thresholds=`` for ``2d`` (recorded in the result's conventions).
    Raises:
        PredictionsError: the predictions do not match the task (every problem listed).
    """
    task = get_task(task)
    if ground_truth.task != task.name:
        raise ValueError(f"ground truth is for task {ground_truth.task!r}, not {task.name!r}")
    is_table = isinstance(predictions, dict)
    source = label if is_table else str(predictions)
    pred = predictions if is_table else read_predictions(predictions)
    values, optional = align_predictions(pred, ground_truth, task, source)
    res = {"schema": SCHEMA, "task": task.name, "model": label, "data": data_label, "split": split,
           "frames": int(len(ground_truth.keys)), "units": task.units}
    res.update(task.score(values, optional, ground_truth, **options))
    return res


def evaluate_file(task: str | Task, predictions: str | os.PathLike, *, split: str = "test", label: str | None = None,
                  data_label: str = "SIMSPINE", out: str | os.PathLike | None = None,
                  **dataset_kwargs) -> tuple[dict, Path]:
    """The evaluation script: ground truth of ``split``, score ``predictions`` (a file), write the results JSON.

    Returns (result, results path); ``out`` defaults to ``<predictions>.results.json`` beside the predictions,
    ``label`` to the file's stem. ``dataset_kwargs`` go to the dataset builder (``h36m_root=``, ``annotations=``).
    """
    predictions = Path(predictions)
    if not predictions.is_file():
        raise PredictionsError(f"{predictions}: predictions file not found")
    gt = load_ground_truth(task, split, **dataset_kwargs)
    res = evaluate(task, predictions, gt, label=label or predictions.stem, data_label=data_label, split=split)
    out = Path(out) if out is not None else predictions.with_suffix(".results.json")
    return res, save_results(out, res)


def format_table(res: dict) -> str:
    """The paper's table layout for one result, as markdown (numbers labelled with the data source)."""
    task = get_task(res["task"])
    lines = [f"### {res['model']} — {task.name} ({res['data']} results, {res['frames']} frames)", ""]
    return "\n".join(lines + task.table(res))


def model_index(res: dict, model_name: str | None = None) -> list[dict]:
    """``model-index`` entries for a model card (values from this evaluation, source named)."""
    task = get_task(res["task"])
    return [{"name": model_name or res["model"], "results": [{
        "task": {"type": task.hub_task_type, "name": f"SIMSPINE {task.name}"},
        "dataset": {"type": "simspine", "name": f"SIMSPINE ({res['data']})", "split": res.get("split", "test")},
        "metrics": [{"type": k.lower(), "name": k, "value": round(float(res[k]), 4), "verified": False}
                    for k in task.metrics],
        "source": {"name": f"simspine-hub evaluate ({res['data']} data)"}}]}]


def save_results(path: str | os.PathLike, res: dict) -> Path:
    """Write a result as JSON (atomically)."""
    write_text(path, json.dumps(res, indent=2, sort_keys=True, default=float))
    return Path(path)


def load_results(paths: list[str | os.PathLike]) -> list[dict]:
    """Read results JSON files written by :func:`save_results`; :class:`ResultsError` naming the file otherwise."""
    out = []
    for path in paths:
        try:
            res = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ResultsError(f"{path}: cannot read results ({exc.strerror or exc})") from exc
        except ValueError as exc:
            raise ResultsError(f"{path}: not JSON ({exc}); pass results written by `simspine evaluate`") from exc
        if not isinstance(res, dict) or not {"task", "model", "data", "frames"} <= set(res):
            raise ResultsError(f"{path}: not a results JSON written by `simspine evaluate` (needs task, model, "
                               "data, frames)")
        if res.get("schema", 1) < SCHEMA or "conventions" not in res:
            raise ResultsError(f"{path}: results written before conventions were recorded (schema "
                               f"{res.get('schema', 1)} < {SCHEMA}); re-run `simspine evaluate` on its predictions")
        try:
            task = get_task(res["task"])
        except ValueError as exc:
            raise ResultsError(f"{path}: {exc}") from exc
        absent = [m for m in task.metrics if m not in res]
        if absent:
            raise ResultsError(f"{path}: task {task.name} results lack {absent}")
        out.append(res)
    return out


@dataclass(frozen=True)
class LeaderboardRow:
    """One leaderboard row: a scored method, or a reference number (never ranked)."""

    task: str
    method: str
    data: str
    values: dict
    conventions: dict
    frames: int | None = None
    reference: bool = False

    @property
    def group(self) -> str:
        """Rows rank together only within a task and identical conventions."""
        return json.dumps(self.conventions, sort_keys=True)


def leaderboard_rows(results: list[dict], with_paper: bool = True) -> list[LeaderboardRow]:
    """Results (and, with ``with_paper``, each task's reference numbers) as :class:`LeaderboardRow` s."""
    rows = []
    for r in results:
        task = get_task(r["task"])
        rows.append(LeaderboardRow(task.name, r["model"], r["data"], {m: float(r[m]) for m in task.metrics},
                                   dict(r["conventions"]), int(r["frames"])))
    if with_paper:
        for name in TASK_ORDER:
            for ref in get_task(name).references:
                rows.append(LeaderboardRow(name, ref.method, ref.source, dict(ref.values), {"source": ref.source},
                                           reference=True))
    return rows


def _convention_text(task: Task, conventions: dict) -> str:
    if "auc_thresholds" in conventions:
        return f"AUC over {grid_text(conventions['auc_thresholds'])}"
    return "; ".join(f"{k}: {v}" for k, v in conventions.items() if k != "missing_predictions")


def _sorted(task: Task, rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    sign = -1.0 if task.higher_is_better else 1.0
    return sorted(rows, key=lambda r: sign * r.values.get(task.main_metric, -sign * np.inf))


def _rows_md(task: Task, rows: list[LeaderboardRow], ranked: bool) -> list[str]:
    cols = list(task.metrics)
    lines = ["| # | method | data | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    for i, r in enumerate(_sorted(task, rows), 1):
        cells = [f"{r.values[c]:.3f}" if c in r.values else "–" for c in cols]
        data = f"{r.data} ({r.frames} frames)" if r.frames is not None else r.data
        lines.append(f"| {i if ranked else 'ref'} | {r.method} | {data} | " + " | ".join(cells) + " |")
    return lines + [""]


def leaderboard_from_files(paths: list[str | os.PathLike], out: str | os.PathLike | None = None,
                           with_paper: bool = True) -> str:
    """Merge results JSON files (:func:`load_results`) into the markdown leaderboard; write it to ``out`` if given."""
    md = leaderboard_markdown(load_results(paths), with_paper=with_paper)
    if out is not None:
        write_text(out, md)
    return md


def leaderboard_markdown(results: list[dict], with_paper: bool = True) -> str:
    """One markdown leaderboard per task (and per set of conventions), sorted by the task's main metric."""
    rows = leaderboard_rows(results, with_paper)
    lines = ["# SIMSPINE leaderboard", ""]
    for name in TASK_ORDER:
        task = get_task(name)
        mine = [r for r in rows if r.task == name]
        if not mine:
            continue
        better = "higher" if task.higher_is_better else "lower"
        lines += [f"## {name} (sorted by {task.main_metric}, {better} is better)", ""]
        groups: dict[str, list[LeaderboardRow]] = {}
        for r in mine:
            if not r.reference:
                groups.setdefault(r.group, []).append(r)
        for group in groups.values():
            if len(groups) > 1 or name == "2d":
                lines += [f"Ranked together: {_convention_text(task, group[0].conventions)}", ""]
            lines += _rows_md(task, group, ranked=True)
        refs = [r for r in mine if r.reference]
        if refs:
            lines += ["Reference numbers (reported elsewhere, never ranked with results):", ""] + _rows_md(task, refs, ranked=False)
    return "\n".join(lines)
