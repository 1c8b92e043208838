"""Stage 8: quality control of simulated sequences.

* Angle discontinuities from gimbal wrap are unwrapped (rotational coordinates, period 2*pi).
* Frames with implausible curvature are rejected: lumbar lordosis above ``max_lla`` (80 deg) or thoracic
  kyphosis above ``max_tka`` (70 deg). Both bounds lie far above the normative adult ranges the paper
  compares with (mean LLA 33-39 deg, TKA 29-37 deg, Fig. 3 / Table B2), so only broken fits trip them.
* Rejected frames are refilled by interpolation when the gap is short (<= ``max_gap`` frames), else NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simspine_hub import skeleton
from simspine_hub.simulation import curvature
from simspine_hub.simulation.filtering import fill_gaps

__all__ = ["QCReport", "quality_control"]


@dataclass
class QCReport:
    frames: int
    rejected: int
    refilled: int
    left_nan: int
    marker_rms_mm: float
    marker_max_rms_mm: float
    lla_mean_deg: float
    tka_mean_deg: float

    def as_dict(self) -> dict:
        return asdict(self)


def quality_control(q: np.ndarray, points37: np.ndarray, ik_rms_mm: np.ndarray, max_lla: float = 80.0,
                    max_tka: float = 70.0, max_gap: int = 10) -> tuple[np.ndarray, np.ndarray, QCReport]:
    """QC one sequence.

    Args:
        q: (T, 62) coordinates, radians / metres.
        points37: (T, 37, 3) world mm from forward kinematics.
        ik_rms_mm: (T,) IK marker RMS error per frame (mm).
    Returns:
        q (T, 62) and points37 (T, 37, 3) after QC, and the :class:`QCReport`.
    """
    rot = skeleton.ROTATIONAL
    q = np.array(q, dtype=np.float64, copy=True)
    q[:, rot] = np.unwrap(q[:, rot], axis=0)
    lla, tka = curvature.lumbar_lordosis(points37), curvature.thoracic_kyphosis(points37)
    bad = ~((lla <= max_lla) & (tka <= max_tka))
    q[bad], pts = np.nan, np.array(points37, dtype=np.float64, copy=True)
    pts[bad] = np.nan
    q, pts = fill_gaps(q, max_gap), fill_gaps(pts, max_gap)
    still = np.isnan(q).any(1)
    report = QCReport(frames=len(q), rejected=int(bad.sum()), refilled=int((bad & ~still).sum()),
                      left_nan=int(still.sum()), marker_rms_mm=float(np.nanmean(ik_rms_mm)),
                      marker_max_rms_mm=float(np.nanmax(ik_rms_mm)), lla_mean_deg=float(np.nanmean(lla[~bad])) if (~bad).any() else float("nan"),
                      tka_mean_deg=float(np.nanmean(tka[~bad])) if (~bad).any() else float("nan"))
    return q, pts, report
