"""The ``2d`` task: 37 keypoints per camera image (the paper's Table 2).

Predictions: one row per (subject, sequence, camera, frame); ``keypoints`` (N, 37, 2) pixels (x right, y down),
SpineTrack order; optional ``scores``: (N,) instance scores, or (N, 37) per-joint scores whose mean is taken as
the instance score. A NaN keypoint is a miss (PCK wrong at every threshold, OKS similarity 0); scores must be
finite. Scored by AUC of PCK (thresholds recorded in every result, normaliser the shorter side of the person box)
per action, and COCO OKS AP/AR on the SpinePose tools' body (B) and spine (S) subsets. The paper's AP values are
on SpineTrack, so its reference rows show AUC only.
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.benchmark.tasks.base import GroundTruth, Reference, RowKeys, Task, per_action, register_task

__all__ = ["TASK", "grid_text"]

OKS_COLUMNS = {"B": metrics.OKS_SUBSETS["body"], "S": metrics.OKS_SUBSETS["spine"]}


def grid_text(thresholds) -> str:
    """A short description of an AUC threshold grid, e.g. ``21 thresholds 0..0.5 (step 0.025)``."""
    t = np.asarray(thresholds, dtype=np.float64)
    steps = np.diff(t)
    step = f" (step {steps[0]:g})" if len(t) > 1 and np.allclose(steps, steps[0]) else ""
    return f"{len(t)} thresholds {t.min():g}..{t.max():g}{step}"


def _build(ds: dict, dataset_kwargs: dict) -> GroundTruth:
    keys = RowKeys(ds["subject"], ds["sequence"], ds["frame"].astype(np.int64), ds["camera"])
    return GroundTruth("2d", keys, ds["action"], ds["keypoints_2d"].astype(np.float64),
                       ds["visibility"].astype(bool), ds["bbox"].astype(np.float64))


def _score(values: np.ndarray, optional: dict, gt: GroundTruth, auc_thresholds=metrics.AUC_THRESHOLDS) -> dict:
    thr = np.asarray(auc_thresholds, dtype=np.float64)
    norm = np.minimum(gt.bbox[:, 2], gt.bbox[:, 3])
    auc, curve = metrics.pck_auc(values, gt.target, norm, gt.mask, thr)
    scores = optional.get("scores", np.ones(len(values)))
    if scores.ndim == 2:
        scores = scores.mean(1)
    oks = metrics.oks_ap(values, scores, gt.target, gt.mask.astype(int) * 2, gt.bbox, subsets=OKS_COLUMNS)
    res = {"AUC": auc, "PCK_curve": curve.tolist(),
           "AUC_by_action": per_action(gt, lambda s: metrics.pck_auc(values[s], gt.target[s], norm[s], gt.mask[s],
                                                                     thr)[0]),
           "missed_joints": int((np.isnan(values).any(-1) & metrics.labelled(gt.target, gt.mask)).sum()),
           "conventions": {"auc_thresholds": [round(float(t), 12) for t in thr],
                           "auc_normalizer": "shorter side of the person box", "pck_rule": "distance / normalizer <= t",
                           "oks_subsets": {k: list(v) for k, v in OKS_COLUMNS.items()},
                           "missing_predictions": metrics.MISSING_RULE}}
    for col, r in oks.items():
        res[f"AP_{col}"], res[f"AR_{col}"] = r["AP"], r["AR"]
    return res


def _table(res: dict) -> list[str]:
    return ["| AP^B | AR^B | AP^S | AR^S | AUC |", "|---|---|---|---|---|",
            f"| {res['AP_B']:.3f} | {res['AR_B']:.3f} | {res['AP_S']:.3f} | {res['AR_S']:.3f} | {res['AUC']:.3f} |",
            "", f"AUC over {grid_text(res['conventions']['auc_thresholds'])}, normalised by the shorter side of the "
            f"person box; {res['missed_joints']} labelled joints without a prediction (counted as misses).", ""]


TASK = register_task(Task(
    name="2d", summary="2D keypoints: 37 points per camera image (Table 2)",
    key_fields=("subject", "sequence", "camera", "frame"), value_column="keypoints",
    joint_sets={skeleton.NUM_KEYPOINTS: skeleton.REGIONS["all"]}, dims=2, units="pixels, x right, y down",
    dataset_config="views2d", ground_truth_fields=("keypoints_2d", "visibility", "bbox"),
    metrics=("AUC", "AP_B", "AP_S"), higher_is_better=True, build=_build, score=_score, table=_table,
    missing_allowed=True, optional_columns={"scores": ((), (skeleton.NUM_KEYPOINTS,))},
    hub_task_type="keypoint-detection",
    references=tuple(Reference(m, {"AUC": v}, "paper, Human3.6M (reported, reference only; AUC grid not stated)")
                     for m, v in (("SpinePose-s-ft", 0.790), ("SpinePose-m-ft", 0.798), ("SpinePose-l-ft", 0.803),
                                  ("RTMPose-m", 0.794), ("ViTPose-b", 0.794), ("HRNet-w32", 0.769)))))
