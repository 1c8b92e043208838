"""Spine curvature and range of motion, with plots.

Curvature (degrees) is a marker-based proxy of the Cobb angles the paper reports (Fig. 3, Table B2): the
angle, in the sagittal plane, between two local directions of the spine curve.

* Lumbar lordotic angle (LLA): between the sacral direction (Hip -> Spine_01) and the L1 direction
  (Spine_02 -> Spine_03).
* Thoracic kyphotic angle (TKA): between the T12 direction (Spine_03 -> Spine_04) and the T3 direction
  (Spine_05 -> Neck).

The sagittal plane of each frame is the plane normal to the pelvis' left-right axis (LHip -> RHip).
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton

__all__ = ["sagittal_angle", "lumbar_lordosis", "thoracic_kyphosis"]

_I = skeleton.index_of


def sagittal_angle(a: np.ndarray, b: np.ndarray, left_right: np.ndarray) -> np.ndarray:
    """Angle (degrees) between (N, 3) directions ``a`` and ``b`` after projecting out ``left_right`` (N, 3)."""
    n = left_right / np.linalg.norm(left_right, axis=-1, keepdims=True)
    pa = a - (a * n).sum(-1, keepdims=True) * n
    pb = b - (b * n).sum(-1, keepdims=True) * n
    cos = (pa * pb).sum(-1) / (np.linalg.norm(pa, axis=-1) * np.linalg.norm(pb, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _lr(points: np.ndarray) -> np.ndarray:
    return points[..., _I("RHip"), :] - points[..., _I("LHip"), :]


def lumbar_lordosis(points: np.ndarray) -> np.ndarray:
    """(N, 37, 3) keypoints -> (N,) LLA in degrees (needs Hip, Spine_01..03, LHip, RHip)."""
    p = np.asarray(points, dtype=np.float64)
    return sagittal_angle(p[:, _I("Spine_01")] - p[:, _I("Hip")], p[:, _I("Spine_03")] - p[:, _I("Spine_02")], _lr(p))


def thoracic_kyphosis(points: np.ndarray) -> np.ndarray:
    """(N, 37, 3) keypoints -> (N,) TKA in degrees (needs Spine_03..05, Neck, LHip, RHip)."""
    p = np.asarray(points, dtype=np.float64)
    return sagittal_angle(p[:, _I("Spine_04")] - p[:, _I("Spine_03")], p[:, _I("Neck")] - p[:, _I("Spine_05")], _lr(p))
