"""Baselines and reference rows, run through the leaderboard evaluation (tables in each task's format).

* Multiview: the paper's weighted linear triangulation (DLT) of the 37 points from the four cameras, on
  ground-truth 2D (the oracle) or on 2D with Gaussian pixel noise.
* Lifting: a short SimpleBaseline3D run (the demo's; the training package replaces it).
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

__all__ = ["triangulation_baseline", "lifting_baseline", "mean_pose_angles", "apply_lumbar_coupling",
           "lumbar_coupling_reference"]


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


def _lifting_pairs(gt2d: GroundTruth, gt3d: GroundTruth, h36m_root: str) -> tuple[np.ndarray, np.ndarray, RowKeys]:
    """Aligned camera-normalised 2D (N, 37, 2), root-relative camera 3D (N, 37, 3) mm, and keys."""
    idx = gt3d.keys.locate(gt2d.keys)
    if (idx < 0).any():
        raise ValueError(f"{int((idx < 0).sum())} lifting rows have no 2D ground truth, e.g. {gt3d.keys[int(np.argmin(idx))]}")
    data = h36m.Human36M(h36m_root)
    wh = np.empty((len(idx), 2))
    for subject in np.unique(gt3d.keys.subject):
        cams = data.cameras(str(subject))
        for cam in h36m.CAMERA_IDS:
            wh[(gt3d.keys.subject == subject) & (gt3d.keys.camera == cam)] = cams[cam].size
    uv = gt2d.target[idx]
    norm = uv / wh[:, None, :1] * 2 - np.stack([np.ones(len(wh)), wh[:, 1] / wh[:, 0]], -1)[:, None, :]
    return norm, gt3d.target, gt3d.keys


def lifting_baseline(train: tuple[GroundTruth, GroundTruth], test: tuple[GroundTruth, GroundTruth], h36m_root: str,
                     variant: str = "lifter-full37", steps: int = 400, batch_size: int = 256, lr: float = 1e-3,
                     seed: int = 0, save_to: str | None = None) -> tuple[dict, object]:
    """Train SimpleBaseline3D on (2D, lifting) ground truth of the train split; predict the test split.

    Returns (lifting predictions table, the trained model). A short run meant for the twin and for checks,
    not the paper's schedule.
    """
    import torch

    from simspine_hub.models import create_model

    torch.manual_seed(seed)
    x_tr, y_tr, _ = _lifting_pairs(*train, h36m_root)
    x_te, _, keys = _lifting_pairs(*test, h36m_root)
    model = create_model(variant)
    ids = list(model.config.keypoints)
    xt = torch.tensor(x_tr[:, ids], dtype=torch.float32)
    yt = torch.tensor(y_tr[:, ids], dtype=torch.float32)
    model.set_statistics(xt, yt)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 3), gamma=0.3)
    keep = [i for i in range(len(ids)) if i != model.root_index]
    model.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = torch.randint(0, len(xt), (min(batch_size, len(xt)),), generator=gen)
        pred = model(keypoints_2d=xt[b]).keypoints_3d
        loss = (((pred - yt[b])[:, keep] / model.std_3d) ** 2).mean()   # MSE on standardised targets
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        out = model(keypoints_2d=torch.tensor(x_te[:, ids], dtype=torch.float32)).keypoints_3d.numpy()
    if save_to:
        model.save_pretrained(save_to)
    return get_task("lifting").predictions_table(keys, out), model


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
