"""Stage 1: 2D keypoints per camera and frame, with confidences, from files.

Formats (all pixels, 37 keypoints in SpineTrack order unless stated):

* npz: ``<dir>/<subject>/<sequence>.<camera>.npz`` with ``keypoints`` (T, 37, 2) and ``scores`` (T, 37).
* OpenPose-style JSON, as spinepose writes: ``<dir>/<subject>/<sequence>.<camera>/*.json`` (one file per
  frame, sorted by name) with ``people[0].pose_keypoints_2d = [x0, y0, c0, x1, ...]``.
* Human3.6M ``D2_Positions`` CDFs (32 joints): only the 12 limb points can be taken from them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io import h36m

__all__ = ["read_detections", "write_detections_npz", "read_openpose_json", "read_h36m_d2"]


def write_detections_npz(path: str | os.PathLike, keypoints: np.ndarray, scores: np.ndarray) -> None:
    """Write (T, 37, 2) pixels and (T, 37) scores as a detections npz (atomically)."""
    from simspine_hub.io.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, keypoints=np.asarray(keypoints, np.float32), scores=np.asarray(scores, np.float32))


def read_openpose_json(folder: str | os.PathLike, num_keypoints: int = skeleton.NUM_KEYPOINTS) -> tuple[np.ndarray, np.ndarray]:
    """A folder of per-frame OpenPose-style JSON -> (T, K, 2) pixels, (T, K) scores.

    A frame with nobody (``"people": []``), or with an empty person (``{"people": [{}]}``, which Pose2Sim
    writes for a view without a match) or empty ``pose_keypoints_2d``, is a missing detection: NaN pixels,
    score 0. The first person of each file is read.
    """
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .json files; expected one OpenPose-style file per frame")
    kp = np.full((len(files), num_keypoints, 2), np.nan)
    sc = np.zeros((len(files), num_keypoints))
    for t, f in enumerate(files):
        a = _first_person(f)
        if a is None:
            continue
        if len(a) != num_keypoints:
            raise ValueError(f"{f}: {len(a)} keypoints; expected {num_keypoints}")
        kp[t], sc[t] = a[:, :2], a[:, 2]
    return kp, sc


def _first_person(path: Path) -> np.ndarray | None:
    """(K, 3) [x, y, score] of the first person in an OpenPose-style JSON file, or None when there is none."""
    try:
        people = json.loads(path.read_text()).get("people") or []
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not an OpenPose-style JSON object ({exc})") from exc
    if not people:
        return None
    if not isinstance(people[0], dict):
        raise ValueError(f"{path}: people[0] is {type(people[0]).__name__}; expected an object")
    values = people[0].get("pose_keypoints_2d")
    if not values:
        return None
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: pose_keypoints_2d is not a list of numbers ({exc})") from exc
    if a.ndim != 1 or a.size % 3:
        raise ValueError(f"{path}: pose_keypoints_2d has {a.size} values; expected [x0, y0, c0, x1, ...]")
    return a.reshape(-1, 3)


def read_h36m_d2(data: h36m.Human36M, subject: str, stem: str,
                 cameras: tuple[str, ...] = h36m.CAMERA_IDS) -> tuple[np.ndarray, np.ndarray]:
    """Human3.6M ``D2_Positions`` as 37-point detections: the 12 limb points (score 1), others NaN (score 0).

    Returns uv (V, T, 37, 2) px and scores (V, T, 37).
    """
    views = [data.read_2d(subject, stem, c) for c in cameras]
    n = min(len(v) for v in views)
    uv = np.full((len(views), n, skeleton.NUM_KEYPOINTS, 2), np.nan)
    sc = np.zeros(uv.shape[:-1])
    limb = list(skeleton.H36M_TO_LIMB)
    for v, d2 in enumerate(views):
        uv[v][:, limb] = d2[:n, [skeleton.H36M_TO_LIMB[k] for k in limb]]
        sc[v][:, limb] = 1.0
    return uv, sc


def read_detections(root: str | os.PathLike, subject: str, stem: str,
                    cameras: tuple[str, ...] = h36m.CAMERA_IDS) -> tuple[np.ndarray, np.ndarray]:
    """Detections of one sequence for all cameras -> uv (V, T, 37, 2) px, scores (V, T, 37).

    ``root`` is a detections folder (npz form first, then the JSON folder form) or a Human3.6M root, whose
    D2_Positions give the 12 limb points (:func:`read_h36m_d2`). Views of different lengths are cut to the
    shortest.
    """
    root = Path(root)
    if (root / subject / "MyPoseFeatures" / "D2_Positions").is_dir():
        return read_h36m_d2(h36m.Human36M(root), subject, stem, cameras)
    uvs, scs = [], []
    for cam in cameras:
        npz = root / subject / f"{stem}.{cam}.npz"
        folder = root / subject / f"{stem}.{cam}"
        if npz.is_file():
            with np.load(npz, allow_pickle=False) as z:
                uvs.append(z["keypoints"].astype(np.float64))
                scs.append(z["scores"].astype(np.float64))
        elif folder.is_dir():
            kp, sc = read_openpose_json(folder)
            uvs.append(kp)
            scs.append(sc)
        else:
            raise FileNotFoundError(f"{npz}: detections not found (nor {folder}/); write them with "
                                    "simspine_hub.io.detections.write_detections_npz or a 2D detector")
    n = min(len(u) for u in uvs)
    return np.stack([u[:n] for u in uvs]), np.stack([s[:n] for s in scs])
