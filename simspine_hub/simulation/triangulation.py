"""Stage 2: robust multiview triangulation, batched over all frames and joints.

1. View consistency: every pair of views is triangulated (weighted DLT, batched), each pair's point is
   reprojected into all views, and the pair with the most views within ``prune_px`` (ties: the smallest
   median error) defines the inlier views. With only two consistent views the choice can be ambiguous
   (two wrong views can agree with each other); for (V, T, J, 2) input the hypothesis closest to the
   temporal median of the unambiguous points of the same joint (``window`` frames) is taken instead, and
   kept only within ``max_jump`` of it (a two-view point with no temporal support is NaN).
2. Weighted DLT (:func:`triangulate_dlt`) on the inlier views, confidences as weights.
3. Huber-robust refinement of the reprojection error: Gauss-Newton steps with iteratively re-weighted
   Huber weights (``huber_px``), projection with the cameras' lens distortion, numerical Jacobians.
Points with fewer than two consistent views are NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from simspine_hub.geometry import Camera, project, undistort
from simspine_hub.simulation import _dlt_kernel
from simspine_hub.simulation.filtering import running_nanmedian

__all__ = ["TriangulationResult", "triangulate_dlt", "triangulate_robust", "reprojection_errors"]


def triangulate_dlt(uv: np.ndarray, cameras: list[Camera], weights: np.ndarray | None = None,
                    distortion: bool = True, conditioning: bool = True, backend: str = "auto") -> np.ndarray:
    """Weighted linear (DLT) triangulation, batched over all points at once.

    Args:
        uv: (V, ..., 2) pixels in each of the V views (NaN = not seen).
        cameras: the V cameras (world unit of their ``t``, e.g. mm).
        weights: (V, ...) per-view confidences (0 drops a view); default 1.
        distortion: undistort the pixels first (default) or treat them as pinhole.
        conditioning: scale the world and equilibrate the rows before the SVD (default). ``False`` solves
            the raw system ``w * (x P3 - P1), w * (y P3 - P2)`` exactly as Pose2Sim's weighted DLT does.
        backend: ``"numba"`` (compiled QR + inverse iteration per point, :mod:`simspine_hub.simulation._dlt_kernel`),
            ``"numpy"`` (batched ``np.linalg.svd``) or ``"auto"`` (numba when installed).
    Returns:
        (..., 3) world points; NaN where fewer than two views have positive weight.
    """
    uv = np.asarray(uv, dtype=np.float64)
    V = len(cameras)
    if uv.shape[0] != V or uv.shape[-1] != 2:
        raise ValueError(f"uv must be (V={V}, ..., 2); got {uv.shape}")
    w = np.ones(uv.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64)
    # Condition the homogeneous system: world coordinates are scaled so that the camera centres lie
    # at distance ~1 (Hartley-style normalisation), and solved there.
    unit = (float(np.mean([np.linalg.norm(c.center) for c in cameras])) or 1.0) if conditioning else 1.0
    Ps = [np.hstack([c.R, c.t[:, None] / unit]) if distortion else c.K @ np.hstack([c.R, c.t[:, None] / unit])
          for c in cameras]                                   # normalised cameras when undistorting
    xy = np.stack([undistort(uv[v], c) for v, c in enumerate(cameras)]) if distortion else uv
    if backend == "numba" or (backend == "auto" and _dlt_kernel.available()):
        shape = uv.shape[1:-1]
        w = np.broadcast_to(w, uv.shape[:-1])
        pts = _dlt_kernel.dlt_points(xy.reshape(V, -1, 2), w.reshape(V, -1), np.stack(Ps), conditioning)
        return pts.reshape(shape + (3,)) * unit
    w = np.where(np.isfinite(xy).all(-1), w, 0.0)
    enough = ((w > 0).sum(0) >= 2)[..., None]
    xys = np.nan_to_num(xy)
    rows = []
    for v in range(V):
        P, wv = Ps[v], w[v][..., None]
        rows.append(wv * (xys[v, ..., 0:1] * P[2] - P[0]))
        rows.append(wv * (xys[v, ..., 1:2] * P[2] - P[1]))
    A = np.stack(rows, axis=-2)                               # (..., 2V, 4)
    if conditioning:
        scale = np.linalg.norm(A, axis=-1, keepdims=True)     # row equilibration
        A = A / np.where(scale > 0, scale, 1.0)
    _, _, Vt = np.linalg.svd(A)
    X = Vt[..., -1, :]
    out = X[..., :3] / X[..., 3:4] * unit
    return np.where(enough, out, np.nan)


@dataclass
class TriangulationResult:
    """points (..., 3) world unit; reprojection_error (...,) mean px over used views; views (V, ...) used."""

    points: np.ndarray
    reprojection_error: np.ndarray
    views: np.ndarray


def reprojection_errors(points: np.ndarray, uv: np.ndarray, cameras: list[Camera]) -> np.ndarray:
    """(..., 3) points and (V, ..., 2) pixels -> (V, ...) reprojection distances in pixels."""
    return np.stack([np.linalg.norm(project(points, c) - uv[v], axis=-1) for v, c in enumerate(cameras)])


def triangulate_robust(uv: np.ndarray, cameras: list[Camera], confidence: np.ndarray | None = None,
                       min_confidence: float = 0.0, prune_px: float = 20.0, huber_px: float = 3.0,
                       iterations: int = 5, window: int = 9, max_jump: float = 150.0) -> TriangulationResult:
    """Robust triangulation (see module docstring).

    Args:
        uv: (V, ..., 2) pixels per view (NaN = missing), e.g. (V, frames, joints, 2).
        cameras: the V cameras.
        confidence: (V, ...) detector scores in [0, 1] (default 1); at or below ``min_confidence`` a view is dropped.
        prune_px: reprojection error (px) within which a view agrees with a hypothesis.
        huber_px: Huber threshold of the refinement (pixels).
        iterations: Gauss-Newton iterations.
        window: frames of the temporal median that resolves ambiguous points ((V, T, J, 2) input only).
        max_jump: largest distance (world unit, mm) of an ambiguous point from that median.
    """
    uv = np.asarray(uv, dtype=np.float64)
    V = len(cameras)
    conf = np.ones(uv.shape[:-1]) if confidence is None else np.asarray(confidence, dtype=np.float64)
    conf = np.where(np.isfinite(uv).all(-1) & (conf > min_confidence), conf, 0.0)
    active = conf > 0
    shape = uv.shape[1:-1]
    expand = (V,) + (1,) * len(shape)
    hyp_X, hyp_inl, hyp_count, hyp_med = [], [], [], []
    for a, b in combinations(range(V), 2):
        pair = np.zeros(V, bool)
        pair[[a, b]] = True
        Xp = triangulate_dlt(uv, cameras, np.where(pair.reshape(expand), conf, 0.0))
        err = np.where(active, reprojection_errors(Xp, uv, cameras), np.inf)
        inl = (err <= prune_px) & np.isfinite(Xp).all(-1)[None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.where(inl, err, np.nan), axis=0)
        hyp_X.append(Xp)
        hyp_inl.append(inl)
        hyp_count.append(inl.sum(0))
        hyp_med.append(np.where(inl.sum(0) > 0, med, np.inf))
    hyp_X, hyp_inl = np.stack(hyp_X), np.stack(hyp_inl)                 # (H, ..., 3), (H, V, ...)
    hyp_count, hyp_med = np.stack(hyp_count), np.stack(hyp_med)         # (H, ...)
    score = hyp_count - hyp_med / (hyp_med.max(initial=0.0, where=np.isfinite(hyp_med)) + 1.0 + 1e-9) * 0.5
    best = np.argmax(np.where(np.isfinite(score), score, -np.inf), axis=0)
    best_count = np.take_along_axis(hyp_count, best[None], 0)[0]
    if uv.ndim == 4 and V >= 3:                                         # resolve two-view ambiguities in time
        sure = np.take_along_axis(hyp_X, best[None, ..., None], 0)[0]
        sure = np.where((best_count >= 3)[..., None], sure, np.nan)
        ref = running_nanmedian(sure, window)
        ambiguous = best_count == 2
        dist = np.linalg.norm(hyp_X - ref[None], axis=-1)
        dist = np.where(hyp_count >= 2, np.nan_to_num(dist, nan=np.inf), np.inf)
        nearest = np.argmin(dist, axis=0)
        supported = np.take_along_axis(dist, nearest[None], 0)[0] <= max_jump
        best = np.where(ambiguous, nearest, best)
        best_count = np.take_along_axis(hyp_count, best[None], 0)[0]
        best_count = np.where(ambiguous & ~supported, 0, best_count)
    inliers = np.take_along_axis(hyp_inl, best[None, None], 0)[0] if V >= 3 else active
    active = inliers & active & (best_count >= 2)[None]
    X = triangulate_dlt(uv, cameras, np.where(active, conf, 0.0))
    w_base = np.where(active, conf, 0.0)
    uv0 = np.nan_to_num(uv)
    ok = np.isfinite(X).all(-1)
    X = np.where(ok[..., None], X, 0.0)
    eps = 1e-3                                                          # world unit (mm): finite-difference step
    for _ in range(iterations):
        proj = np.stack([project(X, c) for c in cameras])               # (V, ..., 2)
        r = proj - uv0
        J = np.stack([np.stack([(project(X + eps * e, c) - proj[v]) / eps for e in np.eye(3)], -1)
                      for v, c in enumerate(cameras)])                  # (V, ..., 2, 3)
        rn = np.linalg.norm(r, axis=-1)
        w = w_base * np.where(rn <= huber_px, 1.0, huber_px / np.maximum(rn, 1e-12))
        JtJ = np.einsum("v...,v...ij,v...ik->...jk", w, J, J) + 1e-9 * np.eye(3)
        Jtr = np.einsum("v...,v...ij,v...i->...j", w, J, r)
        X = X - np.linalg.solve(JtJ, Jtr[..., None])[..., 0]
    good = ok & (active.sum(0) >= 2)
    X = np.where(good[..., None], X, np.nan)
    err = reprojection_errors(X, uv, cameras)
    mean_err = np.where(good, np.where(active, err, 0).sum(0) / np.maximum(active.sum(0), 1), np.nan)
    return TriangulationResult(X, mean_err, active & good[None])
