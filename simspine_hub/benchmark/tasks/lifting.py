"""The ``lifting`` task: monocular 2D-to-3D lifting, scored on the 15 spine joints (the paper's Tables 5-6).

Predictions: one row per (subject, sequence, camera, frame); ``keypoints`` (N, 15, 3) in
:data:`~simspine_hub.skeleton.SPINE15` order or (N, 37, 3) in SpineTrack order, camera frame, millimetres,
root-relative (Hip at the origin; a prediction is made root-relative again before scoring). Scored by P-MPJPE of
the 15 spine joints per action (Table 5) and P-MPJPE / root-relative MPJPE per spine region S_C, S_T, S_L, S
(Table 6; each region aligned on its own, so S is larger than each part).
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.benchmark.tasks.base import GroundTruth, Reference, RowKeys, Task, per_action, register_task
from simspine_hub.geometry import world_to_camera
from simspine_hub.io import h36m

__all__ = ["TASK", "SPINE_COLS", "SPINE_REGIONS"]

SPINE15 = list(skeleton.SPINE15)
SPINE_COLS = ("S_C", "S_T", "S_L", "S")
#: Table 6's regions as positions in the 15-point order.
SPINE_REGIONS = {col: tuple(SPINE15.index(i) for i in skeleton.REGIONS[region])
                 for col, region in zip(SPINE_COLS, ("cervical", "thoracic", "lumbar", "spine"))}

CONVENTIONS = {"missing_predictions": metrics.MISSING_RULE, "joints": "15 spine joints (SPINE15), root-relative",
               "P-MPJPE": "per-frame similarity Procrustes, each region aligned on its own"}


def _build(ds: dict, dataset_kwargs: dict) -> GroundTruth:
    """One row per usable view: the 37 world points in that camera's frame, root-relative (mm).

    The views are those of the ``views2d`` config (the lifters' 2D inputs): the ``cameras=`` option (default all
    four) less the views :func:`simspine_hub.io.h36m.usable_cameras` drops (S11 ``Directions``, camera 54138969).
    """
    if not dataset_kwargs.get("h36m_root"):
        raise ValueError("the lifting task's ground truth needs the cameras: pass h36m_root=")
    data = h36m.Human36M(dataset_kwargs["h36m_root"])
    cameras = tuple(dataset_kwargs.get("cameras") or h36m.CAMERA_IDS)
    pts = ds["keypoints_3d"].astype(np.float64)
    parts: dict[str, list] = {"subject": [], "sequence": [], "frame": [], "camera": [], "action": [], "target": []}
    for subject in np.unique(ds["subject"]):
        rows = np.flatnonzero(ds["subject"] == subject)
        stems, stem_of_row = np.unique(ds["sequence"][rows], return_inverse=True)
        views = [h36m.usable_cameras(str(subject), str(stem), cameras) for stem in stems]
        cams = data.cameras(str(subject))
        for cam_id in cameras:
            sel = rows[np.array([cam_id in v for v in views], bool)[stem_of_row]]
            parts["target"].append(metrics.root_relative(world_to_camera(pts[sel], cams[cam_id])))
            for k in ("subject", "sequence", "frame", "action"):
                parts[k].append(ds[k][sel])
            parts["camera"].append(np.full(len(sel), cam_id))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    keys = RowKeys(cat["subject"], cat["sequence"], cat["frame"].astype(np.int64), cat["camera"])
    return GroundTruth("lifting", keys, cat["action"], cat["target"], np.isfinite(cat["target"]).all(-1))


def _score(values: np.ndarray, optional: dict, gt: GroundTruth) -> dict:
    pred = values[:, SPINE15] if values.shape[1] == skeleton.NUM_KEYPOINTS else values
    pred = pred - pred[:, :1]                                   # root-relative (Hip is first in SPINE15)
    tgt, msk = gt.target[:, SPINE15], gt.mask[:, SPINE15]
    pa = metrics.p_mpjpe_errors(pred, tgt, msk)
    whole = {"S": SPINE_REGIONS["S"]}
    res = {"P-MPJPE_by_action": {a: v["S"] for a, v in per_action(
               gt, lambda s: metrics.region_means(pa[s], msk[s], whole)).items()},
           "regions": {"P-MPJPE": metrics.region_p_mpjpe(pred, tgt, msk, SPINE_REGIONS),
                       "MPJPE": metrics.region_means(metrics.joint_errors(pred, tgt), msk, SPINE_REGIONS)},
           "conventions": dict(CONVENTIONS)}
    res["P-MPJPE"] = res["P-MPJPE_by_action"]["Mean"]
    res["MPJPE"] = res["regions"]["MPJPE"]["S"]
    return res


def _table(res: dict) -> list[str]:
    acts = list(res["P-MPJPE_by_action"])
    lines = ["**P-MPJPE (mm), 15 spine joints**", "", "| " + " | ".join(acts) + " |", "|---" * len(acts) + "|",
             "| " + " | ".join(f"{res['P-MPJPE_by_action'][a]:.2f}" for a in acts) + " |", "",
             "| | " + " | ".join(SPINE_COLS) + " |", "|---" * (len(SPINE_COLS) + 1) + "|"]
    for name in ("P-MPJPE", "MPJPE"):
        lines.append(f"| {name} | " + " | ".join(f"{res['regions'][name][c]:.2f}" for c in SPINE_COLS) + " |")
    return lines + [""]


TASK = register_task(Task(
    name="lifting", summary="monocular lifting: 15 spine joints, camera frame, root-relative (Tables 5-6)",
    key_fields=("subject", "sequence", "camera", "frame"), value_column="keypoints",
    joint_sets={len(SPINE15): skeleton.SPINE15, skeleton.NUM_KEYPOINTS: skeleton.REGIONS["all"]}, dims=3,
    units="camera frame millimetres, root-relative (Hip at the origin)", dataset_config="full37",
    ground_truth_fields=("keypoints_3d",), metrics=("P-MPJPE", "MPJPE"), higher_is_better=False,
    build=_build, score=_score, table=_table,
    references=(Reference("SimpleBaseline3D full-body, GT 2D", {"P-MPJPE": 13.48, "MPJPE": 25.94}),
                Reference("SimpleBaseline3D full-body, det. 2D", {"P-MPJPE": 16.28, "MPJPE": 67.39}),
                Reference("SimpleBaseline3D spine-only, GT 2D", {"P-MPJPE": 17.52, "MPJPE": 53.60}),
                Reference("SimpleBaseline3D spine-only, det. 2D", {"P-MPJPE": 18.58, "MPJPE": 67.70}))))
