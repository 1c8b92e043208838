"""Baselines and reference rows, run through the leaderboard evaluation (tables in each task's format).

* Multiview: the paper's weighted linear triangulation (DLT) of the 37 points from the four cameras, on
  ground-truth 2D (the oracle) or on 2D with Gaussian pixel noise.
* Angles: the mean training pose, and the paper's L5_S1-driven lumbar coupling applied to a prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark.tasks import GroundTruth, RowKeys, get_task
from simspine_hub.io import h36m
from simspine_hub.simulation.triangulation import triangulate_dlt
from simspine_hub.units import kinematics_to_degrees, kinematics_to_radians

__all__ = ["triangulation_baseline", "mean_pose_angles", "apply_lumbar_coupling", "lumbar_coupling_reference"]


def triangulation_baseline(gt2d: GroundTruth, h36m_root: str, noise_px: float = 0.0, seed: int = 0) -> dict:
    """Multiview predictions (world mm) from the 2D ground truth of every camera, optionally noised.

    Args:
        gt2d: ground truth of the ``2d`` task (one row per subject, sequence, camera, frame).
        noise_px: standard deviation of Gaussian noise added to each 2D coordinate (pixels).
    Returns:
        a ``multiview`` predictions table: {subject, sequence, frame, keypoints (N, 37, 3)}.
    """
    rng = np.random.default_rng(seed)
    data = h36m.Human36M(h36m_root)
    keys = gt2d.keys
    frames, inverse = keys.without_camera().unique()                      # one row per (subject, sequence, frame)
    points = np.full((len(frames), skeleton.NUM_KEYPOINTS, 3), np.nan)
    for subject in np.unique(frames.subject):
        cams = data.cameras(str(subject))
        sel = np.flatnonzero(frames.subject == subject)
        pos = np.full(len(frames), -1)
        pos[sel] = np.arange(len(sel))
        uv = np.full((len(h36m.CAMERA_IDS), len(sel), skeleton.NUM_KEYPOINTS, 2), np.nan)
        for v, cam_id in enumerate(h36m.CAMERA_IDS):
            rows = np.flatnonzero((keys.subject == subject) & (keys.camera == cam_id))
            uv[v, pos[inverse[rows]]] = gt2d.target[rows]
        uv = uv + rng.normal(scale=noise_px, size=uv.shape) if noise_px > 0 else uv
        points[sel] = triangulate_dlt(uv, [cams[c] for c in h36m.CAMERA_IDS])
    return get_task("multiview").predictions_table(frames, points)


def mean_pose_angles(train: GroundTruth, test: GroundTruth) -> dict:
    """The ``angles`` reference row "mean training pose": one pose for every test row.

    Rotational axes take the circular mean of the training frames (degrees; robust to wrap-around), translations
    the arithmetic mean (mm). Because every coupler is linear, the mean pose satisfies the lumbar coupling too.
    """
    if train.task != "angles" or test.task != "angles":
        raise ValueError("mean_pose_angles needs ground truth of the angles task for train and test")
    q = np.where(train.mask, train.target, np.nan)
    rad = kinematics_to_radians(q)                                       # rotational axes on the unit circle
    circ = kinematics_to_degrees(np.arctan2(np.nanmean(np.sin(rad), 0), np.nanmean(np.cos(rad), 0)))
    mean = np.where(skeleton.ROTATIONAL, circ, np.nanmean(q, 0))
    return get_task("angles").predictions_table(test.keys, np.tile(mean, (len(test.keys), 1)))


class _Coupler(Protocol):
    dependent: str
    independent: str
    slope: float
    intercept: float


def apply_lumbar_coupling(kinematics: np.ndarray, couplers: Sequence[_Coupler]) -> np.ndarray:
    """(N, 62) kinematics (deg, mm) -> a copy with every coupled axis set from its independent axis.

    Args:
        couplers: the model's linear couplers, e.g. ``simspine_hub.osim.xml.read_osim(path).couplers``
            (``dependent``, ``independent``, ``slope``, ``intercept`` in radians), between rotational axes.
    """
    q = np.array(kinematics, dtype=np.float64, copy=True)
    icpt = np.zeros(skeleton.NUM_AXES)
    for c in couplers:
        dep, ind = skeleton.KINEMATIC_AXES.index(c.dependent), skeleton.KINEMATIC_AXES.index(c.independent)
        if not (skeleton.ROTATIONAL[dep] and skeleton.ROTATIONAL[ind]):
            raise ValueError(f"coupler {c.dependent} <- {c.independent}: only rotational couplers are supported")
        icpt[dep] = c.intercept
    icpt_deg = kinematics_to_degrees(icpt)                               # intercepts are radians in the .osim
    for c in couplers:
        dep, ind = skeleton.KINEMATIC_AXES.index(c.dependent), skeleton.KINEMATIC_AXES.index(c.independent)
        q[..., dep] = c.slope * q[..., ind] + icpt_deg[dep]
    return q


def lumbar_coupling_reference(test: GroundTruth, couplers: Sequence[_Coupler], base: dict) -> dict:
    """The ``angles`` reference row "L5_S1 coupling": ``base`` predictions (e.g. :func:`mean_pose_angles`) with the
    three L5_S1 axes from the ground truth and every coupled axis recomputed through ``couplers``.

    On data produced with the model's couplers enforced (the release's IK, the twin) this row's lumbar (all 18)
    and lumbar_L5S1 errors are zero: the 15 coupled lumbar axes carry no information beyond L5_S1.
    """
    values = np.array(base["kinematics"], dtype=np.float64, copy=True)
    idx = test.keys.locate(RowKeys(base["subject"], base["sequence"], np.asarray(base["frame"], np.int64)))
    if (idx < 0).any():
        raise ValueError("base predictions do not cover every ground-truth row")
    values = values[idx]
    cols = [skeleton.KINEMATIC_AXES.index(a) for a in skeleton.LUMBAR_INDEPENDENT]
    values[:, cols] = test.target[:, cols]
    return get_task("angles").predictions_table(test.keys, apply_lumbar_coupling(values, couplers))
