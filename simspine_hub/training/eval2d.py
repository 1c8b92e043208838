"""Scoring a 2D model the paper's way (Table 2): AUC on the SIMSPINE test views through the leaderboard's ``2d``
task, and OKS AP/AR on the body (B) and spine (S) subsets of a SpineTrack-format val file.

Both crop the ground-truth person box (tight, padded 1.25 by the model's processor as at inference), run the model
with mmpose's flip test (the ``test_cfg`` of the RTMPose, HRNet and ViTPose configs) and decode with the family's
codec (:class:`~simspine_hub.models.processing.PoseImageProcessor`, the path ``simspine infer`` takes).
A SpineTrack instance is scored as mmpose's ``CocoMetric`` does by default (``score_mode="bbox_keypoint"``): the mean
of its keypoint scores above 0.2 (0 when none is), times the box score (1 for ground-truth boxes).
"""

from __future__ import annotations

import logging

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.benchmark.leaderboard import evaluate, load_ground_truth
from simspine_hub.benchmark.tasks.base import RowKeys
from simspine_hub.benchmark.tasks.pose2d import OKS_COLUMNS
from simspine_hub.training.data2d import PersonRows, coco_rows, read_image, simspine_rows

log = logging.getLogger(__name__)

__all__ = ["predict_rows", "evaluate_simspine", "evaluate_coco", "instance_scores", "TABLE2_COCO"]

#: SpineTrack columns of Table 2
TABLE2_COCO = ("AP_B", "AR_B", "AP_S", "AR_S")
KEYPOINT_SCORE_THR = 0.2        # mmpose CocoMetric(keypoint_score_thr=0.2)


def predict_rows(model, rows: PersonRows, flip_test: bool = True, batch_size: int = 32,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run a 2D model on every row's box -> keypoints (N, K, 2) image px and scores (N, K)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    from simspine_hub.models.processing import PoseImageProcessor

    processor = PoseImageProcessor.from_config(model.config)
    was_training = model.training
    model.eval()
    kps, scores = [], []
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:      # OpenCV decodes without the GIL
            for a in tqdm(range(0, len(rows), batch_size), desc=f"predicting {rows.name}", disable=not progress,
                          unit="batch"):
                sel = range(a, min(a + batch_size, len(rows)))
                images = list(pool.map(read_image, [rows.image_files[i] for i in sel]))
                kp, sc, _ = processor.predict(model, images, [rows.boxes[i][None] for i in sel],
                                              flip_test=flip_test, batch_size=batch_size)
                kps.append(kp)
                scores.append(sc)
    finally:
        model.train(was_training)
    k = skeleton.NUM_KEYPOINTS
    return (np.concatenate(kps) if kps else np.zeros((0, k, 2)), np.concatenate(scores) if scores else np.zeros((0, k)))


def evaluate_simspine(model, *, label: str, data_label: str, frames_dir=None, images_root=None,
                      image_naming: str = "simspine", frame_stride: int = 1, flip_test: bool = True,
                      batch_size: int = 32, progress: bool = False, **dataset_kwargs) -> dict:
    """The leaderboard's ``2d`` result (AUC, and OKS AP on the SIMSPINE views) on the test split, every
    ``frame_stride``-th frame. ``dataset_kwargs``: ``h36m_root``, ``annotations``, ``cache_dir``, subjects..."""
    naming = image_naming if images_root is not None else "simspine"
    rows = simspine_rows("test", frames_dir=frames_dir, images_root=images_root, image_naming=naming,
                         frame_stride=frame_stride, progress=progress, **dataset_kwargs)
    gt = load_ground_truth("2d", "test", image_naming=naming, frame_stride=frame_stride, **dataset_kwargs)
    kp, sc = predict_rows(model, rows, flip_test, batch_size, progress)
    keys = RowKeys(rows.keys["subject"], rows.keys["sequence"], rows.keys["frame"].astype(np.int64),
                   rows.keys["camera"])
    where = gt.keys.locate(keys)                      # each ground-truth row's prediction row (-1: none)
    values = np.full(gt.target.shape, np.nan)
    scores = np.zeros(len(gt.keys))
    have = where >= 0
    values[have] = kp[where[have]]
    scores[have] = instance_scores(sc[where[have]])
    missing = int((~have & gt.mask.any(1)).sum())
    if missing:                                       # a labelled view without a usable box or image
        log.warning("%d labelled test views had no prediction (scored as misses)", missing)
    table = {**gt.keys.columns(), "keypoints": values, "scores": scores}
    return evaluate("2d", table, gt, label=label, data_label=data_label, split="test")


def instance_scores(keypoint_scores: np.ndarray, threshold: float = KEYPOINT_SCORE_THR) -> np.ndarray:
    """(N, K) keypoint scores -> (N,) mean of the scores above ``threshold`` (0 where none is)."""
    s = np.asarray(keypoint_scores, np.float64)
    above = s > threshold
    n = above.sum(1)
    return np.where(n > 0, (s * above).sum(1) / np.maximum(n, 1), 0.0)


def evaluate_coco(model, ann_file, images_dir, *, name: str = "SpineTrack val", flip_test: bool = True,
                  batch_size: int = 32, progress: bool = False) -> dict:
    """OKS AP/AR on the body (B) and spine (S) subsets of a 37-keypoint COCO file (ground-truth boxes)
    -> {``AP_B``, ``AR_B``, ``AP_S``, ``AR_S``, ``persons``, ``dataset``, ``skipped``}."""
    rows = coco_rows(ann_file, images_dir, name)
    kp, sc = predict_rows(model, rows, flip_test, batch_size, progress)
    oks = metrics.oks_ap(kp, instance_scores(sc), rows.keypoints, rows.visibility, rows.boxes, subsets=OKS_COLUMNS)
    res = {"dataset": name, "file": str(ann_file), "persons": len(rows), "skipped": rows.info["skipped"],
           "conventions": {"oks_subsets": {k: list(v) for k, v in OKS_COLUMNS.items()},
                           "instance_score": "mean keypoint score above 0.2 (mmpose CocoMetric bbox_keypoint)",
                           "boxes": "ground truth", "object_area": "box w * h"}}
    for col, r in oks.items():
        res[f"AP_{col}"], res[f"AR_{col}"] = float(r["AP"]), float(r["AR"])
    return res
