"""Scoring trained lifters through the leaderboard's ``lifting`` and ``angles`` tasks, with reference rows.

Predictions are made per camera. The ``lifting`` task takes them as they are (keys subject, sequence, camera,
frame; (N, 37 or 15, 3) root-relative camera-frame mm). The ``angles`` task has one row per frame (subject,
sequence, frame; (N, 62) degrees / mm), so the per-camera angle predictions of a frame are averaged: rotations
as a circular mean (the mean of unit vectors, so 179 and -179 average to 180), translations arithmetically.

Reference rows (the same evaluation):

* lifting: the **mean training pose** (every test row gets the mean root-relative training pose);
* angles, with the benchmark's baselines (:mod:`simspine_hub.benchmark.baselines`): the **mean training pose**;
  the paper's **L5_S1-driven coupling** (the mean pose with the true L5_S1 and every coupled axis recomputed
  through the model's couplers: on coupler-consistent data its lumbar errors are zero, so the 15 coupled lumbar
  axes carry nothing beyond L5_S1); and the trained model with its **own** L5_S1 driving the coupled axes (does
  enforcing the coupling change its lumbar error?). The couplers are read from the paper's .osim
  (:func:`simspine_hub.osim.xml.read_osim`), no OpenSim needed.
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import baselines
from simspine_hub.benchmark.leaderboard import evaluate, load_ground_truth
from simspine_hub.benchmark.tasks import GroundTruth
from simspine_hub.training.lifting_data import LiftingSplit

__all__ = ["ground_truth", "lifting_predictions", "angles_predictions", "mean_pose", "score",
           "lifting_references", "angles_references", "model_couplers"]

_ROT = np.asarray(skeleton.ROTATIONAL)


def ground_truth(task: str, split: str = "test", **dataset_kwargs) -> GroundTruth:
    """The task's ground truth on ``split`` (:func:`~simspine_hub.benchmark.leaderboard.load_ground_truth`, which
    reads the dataset through Arrow in bulk)."""
    return load_ground_truth(task, split, **dataset_kwargs)


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


def score(task: str, predictions: dict[str, np.ndarray], gt: GroundTruth, *, label: str, data_label: str) -> dict:
    """Evaluate a predictions table with the leaderboard's ``evaluate``."""
    return evaluate(task, predictions, gt, label=label, data_label=data_label)


def mean_pose(train: LiftingSplit, test: LiftingSplit) -> np.ndarray:
    """(N_test, 37, 3) copies of the mean root-relative training pose (camera frame, mm)."""
    mean = np.nanmean(train.keypoints_3d.astype(np.float64), axis=0)
    return np.broadcast_to(mean, (len(test), *mean.shape)).copy()


def lifting_references(train: LiftingSplit, test: LiftingSplit) -> list[tuple[str, dict]]:
    """(label, predictions table) of the lifting reference rows."""
    return [("mean training pose", lifting_predictions(test, mean_pose(train, test)))]


def model_couplers():
    """The linear coordinate couplers of the paper's OpenSim model (read from its .osim XML)."""
    from simspine_hub.osim.model import model_file
    from simspine_hub.osim.xml import read_osim

    return [c for c in read_osim(model_file()).couplers if c.enforced]


def angles_references(table: dict, train_gt: GroundTruth, test_gt: GroundTruth,
                      name: str) -> list[tuple[str, dict]]:
    """(label, predictions table) of the angles reference rows (see the module docstring); ``table`` holds the
    model's predictions."""
    couplers = model_couplers()
    mean = baselines.mean_pose_angles(train_gt, test_gt)
    own = {**table, "kinematics": baselines.apply_lumbar_coupling(table["kinematics"], couplers)}
    return [("mean training pose", mean),
            ("L5_S1-driven coupling (mean pose, true L5_S1, coupled axes from the .osim couplers)",
             baselines.lumbar_coupling_reference(test_gt, couplers, mean)),
            (f"{name} with its own L5_S1 driving the coupled axes", own)]
