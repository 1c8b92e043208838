"""The ``multiview`` task: 37 world points per frame (the paper's Tables 3-4).

Predictions: one row per (subject, sequence, frame); ``keypoints`` (N, 37, 3), Human3.6M world millimetres, Z-up,
SpineTrack order. Scored by MPJPE and P-MPJPE (per-frame similarity Procrustes; each region aligned on its own)
per action x region (S_C, S_T, S_L, S, B, All); "Mean" rows average over all frames.
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.benchmark.tasks.base import GroundTruth, Reference, RowKeys, Task, per_action, register_task

__all__ = ["TASK", "REGION_COLS"]

REGION_COLS = tuple(metrics.PAPER_REGIONS)

CONVENTIONS = {"missing_predictions": metrics.MISSING_RULE,
               "P-MPJPE": "per-frame similarity Procrustes, each region aligned on its own"}


def _build(ds: dict, dataset_kwargs: dict) -> GroundTruth:
    keys = RowKeys(ds["subject"], ds["sequence"], ds["frame"].astype(np.int64))
    pts = ds["keypoints_3d"].astype(np.float64)
    return GroundTruth("multiview", keys, ds["action"], pts, np.isfinite(pts).all(-1))


def _score(values: np.ndarray, optional: dict, gt: GroundTruth) -> dict:
    err = metrics.joint_errors(values, gt.target)
    regions = dict(metrics.PAPER_REGIONS)
    res = {"MPJPE_table": per_action(gt, lambda s: metrics.region_means(err[s], gt.mask[s])),
           "P-MPJPE_table": per_action(gt, lambda s: metrics.region_p_mpjpe(values[s], gt.target[s], gt.mask[s],
                                                                            regions)),
           "conventions": dict(CONVENTIONS)}
    res["MPJPE"] = res["MPJPE_table"]["Mean"]["All"]
    res["P-MPJPE"] = res["P-MPJPE_table"]["Mean"]["All"]
    return res


def _table(res: dict) -> list[str]:
    lines = []
    for name in ("MPJPE", "P-MPJPE"):
        lines += [f"**{name} (mm)**", "", "| Action | " + " | ".join(REGION_COLS) + " |",
                  "|---" * (len(REGION_COLS) + 1) + "|"]
        for action, row in res[f"{name}_table"].items():
            lines.append(f"| {action} | " + " | ".join(f"{row[c]:.2f}" for c in REGION_COLS) + " |")
        lines.append("")
    return lines


TASK = register_task(Task(
    name="multiview", summary="multiview 3D: 37 world points per frame (Tables 3-4)",
    key_fields=("subject", "sequence", "frame"), value_column="keypoints",
    joint_sets={skeleton.NUM_KEYPOINTS: skeleton.REGIONS["all"]}, dims=3,
    units="Human3.6M world millimetres, Z-up", dataset_config="full37", ground_truth_fields=("keypoints_3d",),
    metrics=("MPJPE", "P-MPJPE"), higher_is_better=False, build=_build, score=_score, table=_table,
    references=(Reference("Triangulation, GT 2D", {"MPJPE": 7.85, "P-MPJPE": 1.79}),
                Reference("Triangulation, SpinePose-m-ft", {"MPJPE": 31.82, "P-MPJPE": 29.53}),
                Reference("Triangulation, SpinePose-m zero-shot", {"MPJPE": 49.30, "P-MPJPE": 46.48}))))
