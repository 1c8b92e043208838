"""Training data of the lifters, per camera, from the dataset builder (the paper's Sec. 4.3).

One row per (subject, sequence, camera, frame) of a split:

* 2D input: the ``views2d`` config's keypoints (ground truth projected with lens distortion, "GT"), or a
  2D predictions file in the leaderboard's ``2d`` format ("Det.": columns subject, sequence, camera,
  frame, keypoints (N, 37, 2) px);
* 3D target: the ``full37`` config's world points (mm, Z-up) in the camera's frame, root-relative (Hip, 19);
* kinematics: the 62 axes, degrees on rotational axes and **millimetres** on translations.

Frames are sampled at ``sample_hz`` (the paper: 1 Hz) through the builder's ``frame_stride``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from simspine_hub import skeleton
from simspine_hub.dataset.arrow import arrow_columns
from simspine_hub.geometry import world_to_camera
from simspine_hub.io import h36m
from simspine_hub.units import MM_PER_M

log = logging.getLogger(__name__)

__all__ = ["LiftingDataError", "LiftingSplit", "load_lifting_split", "frame_stride",
           "DETECTION_COLUMNS"]

DETECTION_COLUMNS = ("subject", "sequence", "camera", "frame", "keypoints")


class LiftingDataError(ValueError):
    """Training data that cannot be used (an empty split, an incomplete detections file...)."""


@dataclass
class LiftingSplit:
    """Aligned arrays of one split (N rows, one per subject, sequence, camera and frame)."""

    subject: np.ndarray          # (N,) str
    sequence: np.ndarray         # (N,) str, Human3.6M file stem
    camera: np.ndarray           # (N,) str
    frame: np.ndarray            # (N,) int, 0-based frame index
    action: np.ndarray           # (N,) normalised action name
    keypoints_2d: np.ndarray     # (N, 37, 2) float32 pixels (GT or detections; NaN = missing)
    image_size: np.ndarray       # (N, 2) float32 width, height in pixels
    keypoints_3d: np.ndarray     # (N, 37, 3) float32 root-relative camera-frame mm (NaN = unlabelled)
    kinematics: np.ndarray       # (N, 62) float32 degrees (rotational axes) / mm (translations)

    def __len__(self) -> int:
        return len(self.frame)

    def columns(self) -> dict[str, np.ndarray]:
        """The key columns of the leaderboard's ``lifting`` format."""
        return {"subject": self.subject, "sequence": self.sequence, "camera": self.camera, "frame": self.frame}

    def normalized_2d(self, keypoints: list[int] | tuple[int, ...] | None = None):
        """(N, K, 2) float32 torch tensor: camera-normalised 2D of ``keypoints`` (all 37 by default), see
        :func:`simspine_hub.models.lifter.normalize_screen`."""
        import torch

        from simspine_hub.models.lifter import normalize_screen

        uv = self.keypoints_2d if keypoints is None else self.keypoints_2d[:, list(keypoints)]
        size = torch.from_numpy(self.image_size.astype(np.float32))
        return normalize_screen(torch.from_numpy(np.ascontiguousarray(uv, np.float32)), size[:, :1], size[:, 1:])


def frame_stride(sample_hz: float | None, fps: float = h36m.FPS) -> int:
    """Builder ``frame_stride`` for a sampling rate (None or >= fps: every frame)."""
    if sample_hz is None:
        return 1
    if not sample_hz > 0:
        raise LiftingDataError(f"sample_hz must be positive (frames per second); got {sample_hz}")
    return max(1, int(round(fps / sample_hz)))


def _load(config: str, split: str, columns: list[str], **kwargs) -> dict[str, np.ndarray]:
    from simspine_hub.dataset.builder import load_dataset

    ds = load_dataset("simspine", config, **kwargs)
    subjects = kwargs.get("train_subjects" if split == "train" else "test_subjects")
    if split not in ds or ds[split].num_rows == 0:
        raise LiftingDataError(f"the {split} split is empty: no SIMSPINE sequence of subjects "
                               f"{subjects or 'the default protocol'} in {kwargs.get('annotations')}; check "
                               "--annotations / --h36m-root and the recipe's subject lists")
    return arrow_columns(ds[split], columns)


def load_lifting_split(split: str, *, h36m_root: str | os.PathLike, annotations: str | os.PathLike,
                       sample_hz: float | None = 1.0, detections: dict[str, np.ndarray] | None = None,
                       detections_name: str = "detections", cache_dir: str | os.PathLike | None = None,
                       train_subjects: tuple[str, ...] | None = None,
                       test_subjects: tuple[str, ...] | None = None) -> LiftingSplit:
    """Build one split's lifting rows (see the module docstring).

    Args:
        split: "train" or "test".
        sample_hz: sampling rate of frames (None: every frame).
        detections: columns of a 2D predictions file (leaderboard ``2d`` format) replacing the GT 2D;
            it must hold every sampled row of the split. ``detections_name`` names it in errors.
        train_subjects / test_subjects: the split protocol (default: the paper's S1 S5 S6 S7 S8 / S9 S11).
    """
    kw = {"h36m_root": str(h36m_root), "annotations": str(annotations), "cache_dir": str(cache_dir) if cache_dir else None}
    if frame_stride(sample_hz) > 1:                 # left out when 1, so that the datasets cache is shared
        kw["frame_stride"] = frame_stride(sample_hz)
    if train_subjects is not None:
        kw["train_subjects"] = tuple(train_subjects)
    if test_subjects is not None:
        kw["test_subjects"] = tuple(test_subjects)
    meta = ["subject", "sequence", "frame", "action"]
    views = _load("views2d", split, meta + ["camera", "keypoints_2d"], **kw)
    world = _load("full37", split, meta + ["keypoints_3d", "kinematics"], **kw)
    frame_key = _join(world["subject"], world["sequence"], world["frame"])
    row = {k: i for i, k in enumerate(frame_key)}
    view_key = _join(views["subject"], views["sequence"], views["frame"])
    idx = np.array([row.get(k, -1) for k in view_key])
    if (idx < 0).any():
        raise LiftingDataError(f"views2d and full37 disagree on {(idx < 0).sum()} frames of the {split} split; "
                               "clear the datasets cache (--cache-dir) and rebuild")
    cam = views["camera"].astype(str)
    uv = views["keypoints_2d"].astype(np.float32)
    if detections is not None:
        uv = _detections_2d(detections, views["subject"], views["sequence"], cam, views["frame"], split,
                            detections_name)
    data = h36m.Human36M(h36m_root)
    pts3 = np.full((len(idx), skeleton.NUM_KEYPOINTS, 3), np.nan, np.float32)
    size = np.empty((len(idx), 2), np.float32)
    for subject in np.unique(views["subject"]):
        cams = data.cameras(str(subject))
        for cam_id in np.unique(cam[views["subject"] == subject]):
            sel = (views["subject"] == subject) & (cam == cam_id)
            p = world_to_camera(world["keypoints_3d"][idx[sel]].astype(np.float64), cams[str(cam_id)])
            pts3[sel] = p - p[:, skeleton.ROOT:skeleton.ROOT + 1]
            size[sel] = cams[str(cam_id)].size
    kin = world["kinematics"][idx].astype(np.float64)
    kin = np.where(skeleton.ROTATIONAL, kin, kin * MM_PER_M).astype(np.float32)   # translations m -> mm
    return LiftingSplit(views["subject"].astype(str), views["sequence"].astype(str), cam,
                        views["frame"].astype(np.int64), views["action"].astype(str), uv, size, pts3, kin)


def _join(*parts: np.ndarray) -> np.ndarray:
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, "|"), np.asarray(p).astype(str))
    return out


def _detections_2d(det: dict[str, np.ndarray], subject, sequence, camera, frame, split: str,
                   name: str) -> np.ndarray:
    """Rows of a 2d-format predictions table for the wanted keys -> (N, 37, 2) float32 px."""
    missing_cols = [c for c in DETECTION_COLUMNS if c not in det]
    if missing_cols:
        raise LiftingDataError(f"{name}: missing columns {missing_cols}; a detections file uses the leaderboard's "
                               "2d format: subject, sequence, camera, frame (one row each) and keypoints (N, 37, 2) "
                               "pixels (see simspine_hub.benchmark.leaderboard)")
    kp = np.asarray(det["keypoints"], dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (skeleton.NUM_KEYPOINTS, 2):
        raise LiftingDataError(f"{name}: keypoints has shape {kp.shape}; expected (N, 37, 2) pixels")
    have = _join(det["subject"], det["sequence"], det["camera"], np.asarray(det["frame"]).astype(np.int64))
    if len(have) != len(kp):
        raise LiftingDataError(f"{name}: {len(have)} key rows but {len(kp)} keypoint rows")
    pos = {k: i for i, k in enumerate(have)}
    want = _join(subject, sequence, camera, frame)
    idx = np.array([pos.get(k, -1) for k in want])
    if (idx < 0).any():
        miss = want[idx < 0]
        raise LiftingDataError(f"{name}: no detections for {len(miss)} of the {len(want)} {split} rows needed "
                               f"(e.g. {', '.join(miss[:3])}); keys are subject|sequence|camera|frame and the file "
                               "must cover every sampled frame of both splits")
    return kp[idx]
