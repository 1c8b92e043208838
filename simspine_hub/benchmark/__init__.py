"""The SIMSPINE benchmark: tasks (one object each), metrics, predictions validation, the leaderboard, baselines.

The one entry point for scoring a method::

    from simspine_hub.benchmark import evaluate, load_ground_truth
    gt = load_ground_truth("lifting", "test", h36m_root=..., annotations=...)
    values = ...                                   # (N, 15, 3) mm, camera frame, root-relative, rows as gt.keys
    res = evaluate("lifting", get_task("lifting").predictions_table(gt.keys, values), gt, label="my lifter")
    # or: evaluate("lifting", "preds.npz", gt)
"""

from simspine_hub.benchmark.leaderboard import (
    evaluate,
    format_table,
    leaderboard_markdown,
    load_ground_truth,
    load_results,
    model_index,
    save_results,
)
from simspine_hub.benchmark.predictions import PredictionsError, read_predictions, save_predictions
from simspine_hub.benchmark.tasks import GroundTruth, Task, get_task, task_names

__all__ = ["evaluate", "load_ground_truth", "format_table", "model_index", "save_results", "load_results",
           "leaderboard_markdown", "PredictionsError", "read_predictions", "save_predictions", "GroundTruth",
           "Task", "get_task", "task_names"]
