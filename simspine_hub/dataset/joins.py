"""The joins that make the 37 points of ``full37``: small functions on (T, 37, 3) arrays the builder calls.

Every join writes points (world millimetres, Z-up) and their source codes (:data:`features.SOURCE_CODE`)
in place, in this order: the release's own markers, Human3.6M limbs, face and feet by forward kinematics
(where the model carries those markers), then H3WB, which wins on the sparse frames it annotates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.dataset.config import SimspineDataError
from simspine_hub.dataset.features import SOURCE_CODE
from simspine_hub.io import h36m, release
from simspine_hub.units import kinematics_to_radians, yup_m_to_zup_mm

log = logging.getLogger(__name__)

__all__ = ["spine15_points", "release_points", "join_h36m_limbs", "join_fk_face_feet", "join_h3wb_face_feet",
           "find_h3wb_sequence", "read_h3wb", "subject_model", "join_full37"]


def spine15_points(seq: release.ReleaseSequence, where) -> np.ndarray:
    """(T, 15, 3) world mm spine points, in :data:`skeleton.SPINE15` order, of a sequence holding them."""
    pos = {k: i for i, k in enumerate(seq.keypoints)}
    missing = [skeleton.KEYPOINT_NAMES[k] for k in skeleton.SPINE15 if k not in pos]
    if missing:
        raise SimspineDataError(f"{where}: {seq.subject}/{seq.stem} lacks spine markers {missing}")
    return seq.markers[:, [pos[k] for k in skeleton.SPINE15]]


def release_points(seq: release.ReleaseSequence, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The release's markers on the first ``n`` frames -> points (n, 37, 3) mm (NaN elsewhere), sources (n, 37)."""
    pts = np.full((n, skeleton.NUM_KEYPOINTS, 3), np.nan)
    src = np.full((n, skeleton.NUM_KEYPOINTS), SOURCE_CODE["missing"], np.int64)
    pts[:, list(seq.keypoints)] = seq.markers[:n]
    src[:, list(seq.keypoints)] = SOURCE_CODE["simspine"]
    return pts, src


def join_h36m_limbs(pts: np.ndarray, src: np.ndarray, j32: np.ndarray) -> None:
    """Set the 12 limb points from Human3.6M ``D3_Positions`` (n, 32, 3) world mm, in place."""
    limb = list(skeleton.H36M_TO_LIMB)
    pts[:, limb] = j32[:len(pts), [skeleton.H36M_TO_LIMB[i] for i in limb]]
    src[:, limb] = SOURCE_CODE["human36m"]


def join_fk_face_feet(pts: np.ndarray, src: np.ndarray, model, kinematics_deg: np.ndarray) -> None:
    """Fill missing face/feet points by forward kinematics of the released kinematics, in place.

    Args:
        model: the subject's scaled model (:func:`subject_model`), giving ``marker_names`` and
            ``marker_positions(q (n, 62) rad, names) -> (n, M, 3)`` metres, OpenSim ground (Y-up).
        kinematics_deg: (n, 62) coordinates, degrees for rotations, metres for translations.
    """
    missing = SOURCE_CODE["missing"]
    wanted = [i for i in skeleton.FACE_FEET if (src[:, i] == missing).any()]
    have = [i for i in wanted if skeleton.KEYPOINT_NAMES[i] in model.marker_names]
    if not have:
        return
    ground = model.marker_positions(kinematics_to_radians(kinematics_deg), [skeleton.KEYPOINT_NAMES[i] for i in have])
    fill = src[:, have] == missing
    pts[:, have] = np.where(fill[..., None], yup_m_to_zup_mm(ground), pts[:, have])
    src[:, have] = np.where(fill, SOURCE_CODE["fk"], src[:, have])


def join_h3wb_face_feet(pts: np.ndarray, src: np.ndarray, frames: np.ndarray, wholebody: np.ndarray) -> None:
    """Set face/feet points from H3WB on the frames it annotates, in place.

    Args:
        frames: (N,) 0-based Human3.6M frame indices annotated by H3WB (those outside the sequence are ignored).
        wholebody: (N, 133, 3) world mm in COCO-WholeBody order.
    """
    ok = (frames >= 0) & (frames < len(pts))
    frames, wholebody = frames[ok], wholebody[ok]
    mapping = {**skeleton.H3WB_FACE, **skeleton.H3WB_FEET}
    ids = [i for i in skeleton.FACE_FEET if i in mapping]
    pts[np.ix_(frames, ids)] = wholebody[:, [mapping[i] for i in ids]]
    src[np.ix_(frames, ids)] = SOURCE_CODE["h3wb"]


def read_h3wb(path: str, allow_pickle: bool) -> dict:
    """H3WB annotations (``h3wb_train.npz`` or its folder), see :func:`simspine_hub.io.h36m.read_h3wb_npz`."""
    p = Path(path)
    return h36m.read_h3wb_npz(p / "h3wb_train.npz" if p.is_dir() else p, allow_pickle=allow_pickle)


def find_h3wb_sequence(h3wb: dict | None, subject: str, stem: str) -> tuple[np.ndarray, np.ndarray] | None:
    """H3WB's (frames, wholebody) for a Human3.6M sequence (keys matched by normalised action), or None."""
    if h3wb is None or subject not in h3wb:
        return None
    want = h36m.parse_sequence_name(stem)
    for key, val in h3wb[subject].items():
        try:
            if key == stem or h36m.parse_sequence_name(key) == want:
                return val
        except ValueError:
            continue
    return None


def subject_model(rel, subject: str):
    """The subject's scaled model for forward kinematics, or None (logged) when the release has none."""
    try:
        path = rel.model_path(subject)
    except release.ReleaseFormatError as exc:
        log.warning("%s: no scaled model for %s (%s); face/feet points without H3WB stay missing",
                    rel.path, subject, exc)
        return None
    if not Path(path).is_file():
        log.warning("%s: scaled model %s not found; face/feet points without H3WB stay missing", rel.path, path)
        return None
    from simspine_hub.osim.model import SpineModel

    return SpineModel(path)


def join_full37(seq: release.ReleaseSequence, j32: np.ndarray, model=None,
                h3wb_seq: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Release + Human3.6M (+ FK, + H3WB) -> points (n, 37, 3) world mm, sources (n, 37); n = shorter length.

    Args:
        seq: the released sequence; j32: its Human3.6M ``D3_Positions`` (N, 32, 3) world mm.
        model: the scaled model for forward kinematics of face/feet, or None (those stay missing).
        h3wb_seq: H3WB's (frames, wholebody) for this sequence, or None.
    """
    n = min(len(seq.markers), len(j32))
    if len(seq.markers) != len(j32):
        log.warning("%s/%s: release has %d frames, Human3.6M %d; both trimmed to %d", seq.subject,
                    seq.stem, len(seq.markers), len(j32), n)
    pts, src = release_points(seq, n)
    join_h36m_limbs(pts, src, j32[:n])
    if model is not None:
        join_fk_face_feet(pts, src, model, seq.kinematics[:n])
    if h3wb_seq is not None:
        join_h3wb_face_feet(pts, src, *h3wb_seq)
    return pts, src
