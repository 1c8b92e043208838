"""The ``angles`` task: the 62 kinematic axes of the paper's OpenSim model (the paper's future work).

Predictions: one row per (subject, sequence, frame); ``kinematics`` (N, 62) in
:data:`~simspine_hub.skeleton.KINEMATIC_AXES` order, **degrees on the 57 rotational axes and millimetres on the 5
translations** (pelvis_tx/ty/tz, Abs_t1/t2): millimetres like every length in the benchmark. The release and
``load_dataset`` store translations in metres; the ground truth is converted with ``units.MM_PER_M``, and a
prediction whose translations look like metres is refused.

Metrics (degrees unless stated):

* ``MAE``: mean absolute error over the **37 independent rotational axes** (the main metric). Angle differences
  are taken modulo 360 (wrap-around: 179 vs -179 is 2 degrees).
* ``MAE_by_group``: pelvis, legs, lumbar_L5S1, lumbar, neck, arms (rotational axes of
  :data:`~simspine_hub.skeleton.AXIS_GROUPS`). The paper's model drives the lumbar spine by L5_S1 alone: its
  couplers set the 15 upper lumbar axes (and Abs_r1..3) linearly from the 3 L5_S1 axes. So the metric reports
  lumbar twice, ``lumbar_L5S1`` (the 3 independent DOFs) and ``lumbar`` (all 18 axes, coupled ones as
  predicted: a method that ignores the coupling is scored on what it predicts). ``MAE`` counts the 3 independent
  L5_S1 axes only; ``MAE_all_rotations`` averages all 57 rotational axes as released.
* ``translation_MAE_mm``: pelvis translations (Abs_t1/t2 are locked in the model).
* ``geodesic``: mean geodesic error of the 7 independent 3-DOF joints (pelvis, hips, L5_S1, neck, shoulders),
  the angle of R_pred^T R_target, with each rotation built from the joint's three coordinates as OpenSim's
  CustomJoint composes them (:data:`ROTATION_JOINTS`); ``geodesic_by_group`` and ``geodesic_by_joint`` as well
  (``lumbar``: all 6 lumbar levels).
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.benchmark.tasks.base import GroundTruth, RowKeys, Task, per_action, register_task
from simspine_hub.units import MM_PER_M

__all__ = ["TASK", "ROTATION_JOINTS", "GEODESIC_GROUPS", "MAE_GROUPS", "INDEPENDENT_ROTATIONS"]

AXES = skeleton.KINEMATIC_AXES
_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
_NEG = {_X: (-1.0, 0.0, 0.0), _Y: (0.0, -1.0, 0.0)}


def _joint(coords: tuple[str, str, str], axes=(_Z, _X, _Y)) -> tuple[tuple[str, ...], np.ndarray]:
    a = np.array(axes, dtype=np.float64)
    a.flags.writeable = False
    return coords, a


#: The model's 3-DOF rotational joints (CustomJoint name in the .osim) -> (the three coordinates in
#: TransformAxis order rotation1..3, (3, 3) axes: each row the TransformAxis axis in the parent frame times the
#: slope of its LinearFunction). OpenSim applies a CustomJoint's rotations body-fixed in that order,
#: R = R1(q1) R2(q2) R3(q3). Read from Model_Pose2Sim_muscles_flex.osim; ``tests/test_tasks.py`` checks it against
#: the file and against OpenSim's own joint transforms.
ROTATION_JOINTS = {
    "ground_pelvis": _joint(("pelvis_tilt", "pelvis_list", "pelvis_rotation")),
    "hip_r": _joint(("hip_flexion_r", "hip_adduction_r", "hip_rotation_r")),
    "hip_l": _joint(("hip_flexion_l", "hip_adduction_l", "hip_rotation_l"), (_Z, _NEG[_X], _NEG[_Y])),  # slope -1
    **{j: _joint((f"{lvl}_Flex_Ext", f"{lvl}_Lat_Bending", f"{lvl}_axial_rotation"))
       for j, lvl in (("L5_S1_IVDjnt", "L5_S1"), ("L4_L5_IVDjnt", "L4_L5"), ("L3_L4_IVDjnt", "L3_L4"),
                      ("L2_L3_IVD_jnt", "L2_L3"), ("L1_L2_IVD_jnt", "L1_L2"), ("L1_T12_IVD_jnt", "L1_T12"))},
    "head_torso": _joint(("neck_flexion", "neck_bending", "neck_rotation")),
    "acromial_r": _joint(("arm_flex_r", "arm_add_r", "arm_rot_r")),
    "acromial_l": _joint(("arm_flex_l", "arm_add_l", "arm_rot_l"), (_Z, _NEG[_X], _NEG[_Y])),       # axes -x, -y
}
#: Joints per geodesic group; "independent" are the joints whose coordinates no coupler sets.
GEODESIC_GROUPS = {
    "pelvis": ("ground_pelvis",), "legs": ("hip_r", "hip_l"), "lumbar_L5S1": ("L5_S1_IVDjnt",),
    "lumbar": tuple(j for j in ROTATION_JOINTS if j.startswith("L")), "neck": ("head_torso",),
    "arms": ("acromial_r", "acromial_l"),
}
INDEPENDENT_JOINTS = ("ground_pelvis", "hip_r", "hip_l", "L5_S1_IVDjnt", "head_torso", "acromial_r", "acromial_l")

_ROT = {a for a, r in zip(AXES, skeleton.ROTATIONAL) if r}
#: Rotational axes per MAE group (degrees).
MAE_GROUPS = {
    "pelvis": skeleton.AXIS_GROUPS["pelvis"], "legs": tuple(a for a in skeleton.AXIS_GROUPS["legs"] if a in _ROT),
    "lumbar_L5S1": skeleton.LUMBAR_INDEPENDENT, "lumbar": skeleton.AXIS_GROUPS["lumbar"],
    "neck": skeleton.AXIS_GROUPS["neck"], "arms": skeleton.AXIS_GROUPS["arms"],
}
#: The 37 rotational axes no coupler sets (the free rotational DOFs of the model).
INDEPENDENT_ROTATIONS = tuple(a for a in AXES if a in _ROT and a not in skeleton.COUPLED_AXES)
PELVIS_TRANSLATIONS = skeleton.AXIS_GROUPS["pelvis_translation"]
TRANSLATION_COLS = [i for i, r in enumerate(skeleton.ROTATIONAL) if not r]

CONVENTIONS = {
    "missing_predictions": metrics.MISSING_RULE, "units": "deg (rotations), mm (translations)",
    "angle_difference": "modulo 360, in [0, 180]", "MAE": f"{len(INDEPENDENT_ROTATIONS)} independent rotational axes",
    "lumbar": "lumbar_L5S1: 3 independent DOFs; lumbar: all 18 axes as predicted",
    "geodesic": "R = R1(q1) R2(q2) R3(q3) body-fixed, .osim TransformAxis order; mean of 7 independent joints",
}


def _idx(names) -> list[int]:
    return [AXES.index(a) for a in names]


def _build(ds: dict, dataset_kwargs: dict) -> GroundTruth:
    kin = ds["kinematics"].astype(np.float64)                        # release units: deg, m
    kin[:, TRANSLATION_COLS] *= MM_PER_M                             # benchmark units: deg, mm
    keys = RowKeys(ds["subject"], ds["sequence"], ds["frame"].astype(np.int64))
    return GroundTruth("angles", keys, ds["action"], kin, np.isfinite(kin))


def _scaled_copy(pred: np.ndarray, target: np.ndarray, factor: float) -> bool:
    """True when ``pred`` looks like ``target`` times ``factor`` (least-squares scale within 40 %, correlated)."""
    p, t = pred - pred.mean(), target - target.mean()
    if not p.any() or not t.any():
        return False
    scale, corr = (p @ t) / (t @ t), (p @ t) / np.sqrt((p @ p) * (t @ t))
    return bool(0.6 * factor < scale < 1.4 * factor and corr > 0.5)


def _check(values: np.ndarray, gt: GroundTruth) -> list[str]:
    """Unit slips: translations in metres or rotations in radians (a prediction that is the truth times 1/1000 or
    pi/180, up to noise); constant or unrelated predictions pass."""
    problems = []
    cols = _idx(PELVIS_TRANSLATIONS)
    ok = gt.mask[:, cols]
    if ok.any() and _scaled_copy(values[:, cols][ok], gt.target[:, cols][ok], 1.0 / MM_PER_M):
        problems.append("pelvis translations look like metres (about the ground truth / 1000); the angles task takes "
                        "millimetres (multiply by units.MM_PER_M)")
    cols = _idx(INDEPENDENT_ROTATIONS)
    ok = gt.mask[:, cols]
    if ok.any() and _scaled_copy(values[:, cols][ok], gt.target[:, cols][ok], np.pi / 180.0):
        problems.append("rotations look like radians (about the ground truth x pi/180); the angles task takes "
                        "degrees (units.kinematics_to_degrees)")
    return problems


def _geodesic_by_joint(values: np.ndarray, gt: GroundTruth) -> dict[str, np.ndarray]:
    out = {}
    for joint, (coords, axes) in ROTATION_JOINTS.items():
        cols = _idx(coords)
        out[joint] = metrics.geodesic_errors(values[:, cols], gt.target[:, cols], axes)
    return out


def _score(values: np.ndarray, optional: dict, gt: GroundTruth) -> dict:
    err = metrics.angle_errors(values, gt.target)
    err[:, TRANSLATION_COLS] = np.abs(values - gt.target)[:, TRANSLATION_COLS]      # mm, no wrap

    def mae(names, sel=slice(None)) -> float:
        c = _idx(names)
        return metrics.masked_mean(err[sel][:, c], gt.mask[sel][:, c], what="angle MAE")

    geo = _geodesic_by_joint(values, gt)
    geo_ok = {j: np.isfinite(gt.target[:, _idx(c)]).all(1) for j, (c, _) in ROTATION_JOINTS.items()}

    def geodesic(joints) -> float:
        return metrics.masked_mean(np.stack([geo[j] for j in joints], 1), np.stack([geo_ok[j] for j in joints], 1),
                                   what="geodesic error")

    rot_names = [a for a in AXES if a in _ROT]
    return {
        "MAE": mae(INDEPENDENT_ROTATIONS), "MAE_all_rotations": mae(rot_names),
        "MAE_by_group": {g: mae(names) for g, names in MAE_GROUPS.items()},
        "MAE_by_action": per_action(gt, lambda s: mae(INDEPENDENT_ROTATIONS, s)),
        "translation_MAE_mm": mae(PELVIS_TRANSLATIONS),
        "geodesic": geodesic(INDEPENDENT_JOINTS),
        "geodesic_by_group": {g: geodesic(js) for g, js in GEODESIC_GROUPS.items()},
        "geodesic_by_joint": {j: geodesic((j,)) for j in ROTATION_JOINTS},
        "conventions": dict(CONVENTIONS),
    }


def _table(res: dict) -> list[str]:
    groups = list(res["MAE_by_group"])
    geo = list(res["geodesic_by_group"])
    acts = list(res["MAE_by_action"])
    return [
        "**Angle MAE (deg) per axis group** (lumbar_L5S1: the 3 independent DOFs; lumbar: all 18 axes)", "",
        "| " + " | ".join(groups) + " | MAE (37 independent) | all 57 rotations | pelvis translation (mm) |",
        "|---" * (len(groups) + 3) + "|",
        "| " + " | ".join(f"{res['MAE_by_group'][g]:.2f}" for g in groups)
        + f" | {res['MAE']:.2f} | {res['MAE_all_rotations']:.2f} | {res['translation_MAE_mm']:.2f} |", "",
        "**Geodesic error (deg) per 3-DOF joint group**", "",
        "| " + " | ".join(geo) + " | mean (7 independent joints) |", "|---" * (len(geo) + 1) + "|",
        "| " + " | ".join(f"{res['geodesic_by_group'][g]:.2f}" for g in geo) + f" | {res['geodesic']:.2f} |", "",
        "**MAE (deg, 37 independent axes) per action**", "", "| " + " | ".join(acts) + " |", "|---" * len(acts) + "|",
        "| " + " | ".join(f"{res['MAE_by_action'][a]:.2f}" for a in acts) + " |", ""]


TASK = register_task(Task(
    name="angles", summary="kinematics: the model's 62 axes per frame (the paper's future work)",
    key_fields=("subject", "sequence", "frame"), value_column="kinematics",
    joint_sets={skeleton.NUM_AXES: tuple(range(skeleton.NUM_AXES))}, dims=0,
    units="degrees on the 57 rotational axes, millimetres on the 5 translations", dataset_config="full37",
    ground_truth_fields=("kinematics",), metrics=("MAE", "geodesic"), higher_is_better=False,
    build=_build, score=_score, table=_table, check=_check))
