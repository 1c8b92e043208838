"""Stage 8: quality control of simulated sequences.

* Evidence: the spine is only as good as the triangulated spine points. Per marker, the frames with a
  triangulated point are counted; a frame is *usable* when at least ``min_spine_markers`` of the 15 spine
  points (:data:`simspine_hub.skeleton.SPINE15`) were triangulated in it, and a sequence is rejected
  (no inverse kinematics, no outputs but its QC JSON) when fewer than ``min_usable_fraction`` of its frames
  are usable. Frames without enough evidence are rejected too.
* Angle discontinuities from gimbal wrap are unwrapped (rotational coordinates, period 2*pi).
* Frames with implausible curvature are rejected: lumbar lordosis above ``max_lla`` (80 deg) or thoracic
  kyphosis above ``max_tka`` (70 deg). Both bounds lie far above the normative adult ranges the paper
  compares with (mean LLA 33-39 deg, TKA 29-37 deg, Fig. 3 / Table B2), so only broken fits trip them.
* Rejected frames are refilled by interpolation when the gap is short (<= ``max_gap`` frames), else NaN.
  A sequence whose frames are all left NaN is rejected.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from simspine_hub import skeleton
from simspine_hub.simulation import curvature
from simspine_hub.simulation.filtering import fill_gaps, runs

__all__ = ["QCReport", "spine_evidence", "evidence_verdict", "rejected_report", "quality_control"]


@dataclass
class QCReport:
    """QC of one sequence (written as its ``qc/<S>_<ACTION>.json``).

    ``status`` is "ok" or "rejected" (then ``reason`` says why and no TRC/MOT is written);
    ``triangulated`` counts, per marker name, the frames with a triangulated point.
    """

    frames: int
    rejected: int
    refilled: int
    left_nan: int
    marker_rms_mm: float
    marker_max_rms_mm: float
    lla_mean_deg: float
    tka_mean_deg: float
    rejected_evidence: int = 0
    rejected_curvature: int = 0
    status: str = "ok"
    reason: str = ""
    triangulated: dict[str, int] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def spine_evidence(points37: np.ndarray, min_spine_markers: int) -> tuple[dict[str, int], np.ndarray]:
    """Count the evidence in triangulated points.

    Args:
        points37: (T, 37, 3) triangulated (and filtered) world mm, NaN where missing.
        min_spine_markers: spine points (of the 15) a frame needs to be usable.
    Returns:
        {marker name: frames with a point} over the 37 markers, and the (T,) usable-frame mask.
    """
    have = np.isfinite(points37).all(-1)                                      # (T, 37)
    counts = {name: int(c) for name, c in zip(skeleton.KEYPOINT_NAMES, have.sum(0))}
    return counts, have[:, list(skeleton.SPINE15)].sum(1) >= min_spine_markers


def evidence_verdict(usable: np.ndarray, min_spine_markers: int, min_usable_fraction: float) -> str:
    """'' when a sequence has enough usable frames (``usable`` (T,) bool), else the reason it is rejected."""
    n, T = int(usable.sum()), len(usable)
    if T and n >= min_usable_fraction * T and n > 0:
        return ""
    return (f"too little spine evidence: {n} of {T} frames have >= {min_spine_markers} of the "
            f"{len(skeleton.SPINE15)} spine points triangulated (at least {min_usable_fraction:.0%} of the frames "
            "must); check the 2D detections (confidences, missing views) and the calibration")


def rejected_report(frames: int, reason: str, triangulated: dict[str, int], evidence_frames: int = 0,
                    parameters: dict | None = None) -> QCReport:
    """The report of a sequence rejected before inverse kinematics (all ``frames`` rejected)."""
    nan = float("nan")
    return QCReport(frames=frames, rejected=frames, refilled=0, left_nan=frames, marker_rms_mm=nan,
                    marker_max_rms_mm=nan, lla_mean_deg=nan, tka_mean_deg=nan,
                    rejected_evidence=frames - evidence_frames, status="rejected", reason=reason,
                    triangulated=triangulated, parameters=parameters or {})


def _nanstat(fn, x: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN input -> NaN
        return float(fn(x)) if np.isfinite(x).any() else float("nan")


def quality_control(q: np.ndarray, points37: np.ndarray, ik_rms_mm: np.ndarray, max_lla: float = 80.0,
                    max_tka: float = 70.0, max_gap: int = 10, usable: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, QCReport]:
    """QC one sequence.

    Args:
        q: (T, 62) coordinates, radians / metres (NaN rows: frames not solved).
        points37: (T, 37, 3) world mm from forward kinematics.
        ik_rms_mm: (T,) IK marker RMS error per frame (mm).
        usable: (T,) frames with enough triangulated evidence (:func:`spine_evidence`); default all.
    Returns:
        q (T, 62) and points37 (T, 37, 3) after QC, and the :class:`QCReport`.
    """
    T = len(q)
    usable = np.ones(T, bool) if usable is None else np.asarray(usable, bool)
    rot = skeleton.ROTATIONAL
    q = np.array(q, dtype=np.float64, copy=True)
    for s, e in zip(*runs(np.isfinite(q).all(1))):               # unwrap each solved stretch
        q[s:e, rot] = np.unwrap(q[s:e, rot], axis=0)
    lla, tka = curvature.lumbar_lordosis(points37), curvature.thoracic_kyphosis(points37)
    implausible = usable & ~((lla <= max_lla) & (tka <= max_tka))
    bad = implausible | ~usable
    q[bad], pts = np.nan, np.array(points37, dtype=np.float64, copy=True)
    pts[bad] = np.nan
    q, pts = fill_gaps(q, max_gap), fill_gaps(pts, max_gap)
    still = np.isnan(q).any(1)
    report = QCReport(frames=T, rejected=int(bad.sum()), refilled=int((bad & ~still).sum()),
                      left_nan=int(still.sum()), marker_rms_mm=_nanstat(np.nanmean, ik_rms_mm[usable]),
                      marker_max_rms_mm=_nanstat(np.nanmax, ik_rms_mm[usable]),
                      lla_mean_deg=_nanstat(np.nanmean, lla[~bad]), tka_mean_deg=_nanstat(np.nanmean, tka[~bad]),
                      rejected_evidence=int((~usable).sum()), rejected_curvature=int(implausible.sum()))
    if still.all():
        report.status = "rejected"
        report.reason = (f"all {T} frames rejected ({report.rejected_evidence} with too little spine evidence, "
                         f"{report.rejected_curvature} with implausible curvature)")
    return q, pts, report
