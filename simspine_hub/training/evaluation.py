"""Scoring trained lifters through the leaderboard's ``lifting`` and ``angles`` tasks, with reference rows.

Predictions are made per camera. The ``lifting`` task takes them as they are (keys subject, sequence, camera,
frame; (N, 37 or 15, 3) root-relative camera-frame mm). The ``angles`` task has one row per frame (subject,
sequence, frame; (N, 62) degrees / mm), so the per-camera angle predictions of a frame are averaged: rotations
as a circular mean (the mean of unit vectors, so 179 and -179 average to 180), translations arithmetically.

Reference rows (same evaluation, no learning or a structural prior):

* the **mean training pose**: every test row gets the mean of the training targets (root-relative 3D; or the
  kinematics, rotations as circular means);
* the **L5_S1-driven coupling** (angles): the model's predictions with the 15 upper lumbar axes and Abs_r1..3
  replaced by the paper model's linear coupling to the three L5_S1 axes. The coupling is read off the training
  kinematics by least squares (the released coordinates satisfy the couplers exactly; the fit's residual is
  reported), so it needs neither OpenSim nor the .osim file.
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark.leaderboard import evaluate, load_ground_truth
from simspine_hub.training.lifting_data import LiftingSplit

__all__ = ["lifting_predictions", "angles_predictions", "score", "mean_pose", "mean_kinematics",
           "LumbarCoupling", "fit_lumbar_coupling", "LUMBAR_DEPENDENT", "L5_S1"]

L5_S1 = tuple(skeleton.KINEMATIC_AXES.index(f"L5_S1_{d}") for d in ("Flex_Ext", "Lat_Bending", "axial_rotation"))
#: Axes the paper's model drives from L5_S1: the upper lumbar levels and the abdominal rotations.
LUMBAR_DEPENDENT = tuple(i for i, a in enumerate(skeleton.KINEMATIC_AXES)
                         if a.startswith(("L4_L5", "L3_L4", "L2_L3", "L1_L2", "L1_T12", "Abs_r")))
_ROT = np.asarray(skeleton.ROTATIONAL)


def lifting_predictions(split: LiftingSplit, keypoints_3d: np.ndarray) -> dict[str, np.ndarray]:
    """A ``lifting`` predictions table: the split's key columns and (N, K, 3) root-relative camera mm."""
    return {**split.columns(), "keypoints": np.asarray(keypoints_3d, np.float64)}


def _circular_mean_deg(angles: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    rad = np.deg2rad(angles)
    s, c = np.zeros((n, angles.shape[1])), np.zeros((n, angles.shape[1]))
    np.add.at(s, groups, np.sin(rad))
    np.add.at(c, groups, np.cos(rad))
    return np.rad2deg(np.arctan2(s, c))


def angles_predictions(split: LiftingSplit, kinematics: np.ndarray) -> dict[str, np.ndarray]:
    """An ``angles`` predictions table from per-camera (N, 62) deg / mm predictions: one row per frame, the
    cameras' predictions averaged (circular mean on rotations)."""
    kinematics = np.asarray(kinematics, np.float64)
    key = np.char.add(np.char.add(np.char.add(split.subject, "|"), np.char.add(split.sequence, "|")),
                      split.frame.astype(str))
    _, first, groups = np.unique(key, return_index=True, return_inverse=True)
    n = len(first)
    out = np.empty((n, kinematics.shape[1]))
    out[:, _ROT] = _circular_mean_deg(kinematics[:, _ROT], groups, n)
    sums = np.zeros((n, int((~_ROT).sum())))
    np.add.at(sums, groups, kinematics[:, ~_ROT])
    out[:, ~_ROT] = sums / np.bincount(groups, minlength=n)[:, None]
    return {"subject": split.subject[first], "sequence": split.sequence[first], "frame": split.frame[first],
            "kinematics": out}


def score(task: str, predictions: dict[str, np.ndarray], *, label: str, data_label: str, ground_truth=None,
          **dataset_kwargs) -> tuple[dict, object]:
    """Evaluate a predictions table with the leaderboard (ground truth built from ``dataset_kwargs`` unless
    given); returns (result dict, ground truth) so that references can reuse the ground truth."""
    gt = ground_truth if ground_truth is not None else load_ground_truth(task, "test", **dataset_kwargs)
    return evaluate(task, predictions, gt, label=label, data_label=data_label), gt


def mean_pose(train: LiftingSplit, test: LiftingSplit) -> np.ndarray:
    """(N_test, 37, 3) copies of the mean root-relative training pose (camera frame, mm)."""
    mean = np.nanmean(train.keypoints_3d.astype(np.float64), axis=0)
    return np.broadcast_to(mean, (len(test), *mean.shape)).copy()


def mean_kinematics(train: LiftingSplit, n: int) -> np.ndarray:
    """(n, 62) copies of the mean training kinematics (circular mean on rotations; deg / mm)."""
    kin = train.kinematics.astype(np.float64)
    mean = np.nanmean(kin, axis=0)
    rad = np.deg2rad(kin[:, _ROT])
    mean[_ROT] = np.rad2deg(np.arctan2(np.nanmean(np.sin(rad), 0), np.nanmean(np.cos(rad), 0)))
    return np.broadcast_to(mean, (n, len(mean))).copy()


class LumbarCoupling:
    """Linear map from the 3 L5_S1 axes (deg) to the :data:`LUMBAR_DEPENDENT` axes (deg): ``coef`` (4, D)
    with the intercept in the last row; ``residual_deg`` the fit's RMS residual on the training data."""

    def __init__(self, coef: np.ndarray, residual_deg: float):
        self.coef, self.residual_deg = coef, residual_deg

    def apply(self, kinematics: np.ndarray) -> np.ndarray:
        """(N, 62) deg / mm -> a copy with the dependent lumbar axes set from the row's L5_S1 axes."""
        out = np.array(kinematics, np.float64)
        design = np.concatenate([out[:, list(L5_S1)], np.ones((len(out), 1))], 1)
        out[:, list(LUMBAR_DEPENDENT)] = design @ self.coef
        return out


def fit_lumbar_coupling(kinematics: np.ndarray) -> LumbarCoupling:
    """Least-squares coupling of the dependent lumbar axes to L5_S1 from (N, 62) training kinematics (deg)."""
    kin = np.asarray(kinematics, np.float64)
    cols = list(L5_S1) + list(LUMBAR_DEPENDENT)
    kin = kin[np.isfinite(kin[:, cols]).all(1)]
    if len(kin) < 4:
        raise ValueError(f"fit_lumbar_coupling: {len(kin)} labelled training frames; at least 4 are needed")
    design = np.concatenate([kin[:, list(L5_S1)], np.ones((len(kin), 1))], 1)
    target = kin[:, list(LUMBAR_DEPENDENT)]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = float(np.sqrt(np.mean((design @ coef - target) ** 2)))
    return LumbarCoupling(coef, residual)
