"""The named unit and frame conversions, one definition each.

* Lengths: Human3.6M and the SIMSPINE world use millimetres; OpenSim, TRC files and the released HDF5 use metres.
* Frames: the Human3.6M world is Z-up; OpenSim is Y-up. ``(x, y, z)_yup = (Y, Z, X)_zup`` (Pose2Sim's
  convention), a cyclic permutation of the axes, so a proper rotation.
* Angles: OpenSim coordinates are radians on the rotational axes (``skeleton.ROTATIONAL``) and metres on the
  three pelvis translations; ``.mot`` files and the release readers give degrees on the rotational axes.
* Person boxes are padded 1.25x about their centre (mmpose's top-down convention) before cropping.
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton

__all__ = ["MM_PER_M", "BOX_PADDING", "zup_to_yup", "yup_to_zup", "zup_mm_to_yup_m", "yup_m_to_zup_mm",
           "kinematics_to_degrees", "kinematics_to_radians"]

MM_PER_M = 1000.0
#: Top-down box padding (mmpose's ``TopdownAffine`` input boxes are ``bbox_padding=1.25`` times the person box).
BOX_PADDING = 1.25


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """(..., 3) Z-up points -> Y-up points (same unit)."""
    return np.asarray(points)[..., [1, 2, 0]]


def yup_to_zup(points: np.ndarray) -> np.ndarray:
    """(..., 3) Y-up points -> Z-up points (same unit); inverse of :func:`zup_to_yup`."""
    return np.asarray(points)[..., [2, 0, 1]]


def zup_mm_to_yup_m(points: np.ndarray) -> np.ndarray:
    """(..., 3) Human3.6M world (Z-up, mm) -> OpenSim / TRC (Y-up, m)."""
    return zup_to_yup(points) / MM_PER_M


def yup_m_to_zup_mm(points: np.ndarray) -> np.ndarray:
    """(..., 3) OpenSim / TRC (Y-up, m) -> Human3.6M world (Z-up, mm)."""
    return yup_to_zup(points) * MM_PER_M


def _check_axes(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != skeleton.NUM_AXES:
        raise ValueError(f"kinematics must be (..., {skeleton.NUM_AXES}) in skeleton.KINEMATIC_AXES order; got {q.shape}")
    return q


def kinematics_to_degrees(q: np.ndarray) -> np.ndarray:
    """(..., 62) OpenSim coordinates (rad, m) -> release units (deg on rotational axes, m on translations)."""
    q = _check_axes(q)
    return np.where(skeleton.ROTATIONAL, np.rad2deg(q), q)


def kinematics_to_radians(q: np.ndarray) -> np.ndarray:
    """(..., 62) release units (deg, m) -> OpenSim coordinates (rad, m); inverse of :func:`kinematics_to_degrees`."""
    q = _check_axes(q)
    return np.where(skeleton.ROTATIONAL, np.deg2rad(q), q)
