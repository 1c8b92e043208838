"""Stage 2: weighted linear and robust multiview triangulation, batched over all frames and joints.

Weighted DLT (:func:`triangulate_dlt`). Each view adds the rows ``x P3 - P1`` and ``y P3 - P2`` of the
homogeneous system ``A X = 0``, multiplied by the view's weight (its detector confidence), as Pose2Sim's
``weighted_triangulation`` does. Before solving, the world is scaled so that the camera centres lie at a
mean distance 1 from the origin, so the result does not depend on the length unit of the cameras (mm or m);
with ``conditioning`` each view's two rows are also equilibrated to unit norm, and only *then* weighted
(equilibrating after weighting would cancel the weight).

Robust triangulation (:func:`triangulate_robust`), per point:

1. View consensus: for each subset of the views that see the point, largest subsets first, the subset is
   triangulated (weighted DLT) and reprojected into its own views; it is *consistent* when their mean
   reprojection error is within ``prune_px``. The largest consistent subset wins (ties: the smallest mean
   error). This is the rule of Pose2Sim's ``triangulation_from_best_cameras`` (drop cameras one at a
   time until the mean error is below a threshold). Every subset is searched, not only pairs: a set of
   three views can be consistent as a whole while no pair's point reprojects near the third view.
2. Two-view points: when the largest consistent set has only two views, two wrong views may agree. For
   (V, T, J, 2) input the candidate pair closest to the temporal median of the points of the same joint
   resolved by three or more views (``window`` frames) is taken and kept only within ``max_jump`` of it;
   where no such median exists, a single consistent pair is kept, and several pairs that disagree by more
   than ``max_jump`` leave the point NaN.
3. Huber-robust refinement of the reprojection error over the chosen views: Gauss-Newton steps with
   iteratively re-weighted Huber weights (``huber_px``) times the confidences, with the cameras' lens
   distortion, numerical Jacobians.

Points with fewer than two consistent views are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from simspine_hub.geometry import Camera, project, undistort
from simspine_hub.simulation import _dlt_kernel, _refine_kernel
from simspine_hub.simulation.filtering import running_nanmedian

__all__ = ["TriangulationResult", "triangulate_dlt", "triangulate_robust", "reprojection_errors"]


def _check_views(uv: np.ndarray, cameras: list[Camera]) -> int:
    V = len(cameras)
    if V < 2:
        raise ValueError(f"triangulation needs at least 2 cameras; got {V} (check the calibration file)")
    if uv.ndim < 2 or uv.shape[0] != V or uv.shape[-1] != 2:
        raise ValueError(f"uv must be (V={V}, ..., 2) pixels; got {uv.shape}")
    return V


def _normalised_rig(cameras: list[Camera], distortion: bool) -> tuple[np.ndarray, float]:
    """(V, 3, 4) projection matrices of the cameras in a world scaled by ``unit`` (mean camera-centre
    distance, world unit), and ``unit``. ``[R | t/unit]`` when pixels are undistorted to normalised image
    coordinates, ``K [R | t/unit]`` otherwise."""
    unit = float(np.mean([np.linalg.norm(c.center) for c in cameras])) or 1.0
    P = [np.hstack([c.R, c.t[:, None] / unit]) for c in cameras]
    return np.stack(P if distortion else [c.K @ p for c, p in zip(cameras, P)]), unit


def _image_coords(uv: np.ndarray, cameras: list[Camera], distortion: bool, backend: str = "auto") -> np.ndarray:
    """(V, N, 2) pixels -> coordinates matching :func:`_normalised_rig`'s matrices."""
    if not distortion:
        return uv
    if _use_numba(backend):
        return _refine_kernel.undistort_points(uv, cameras)
    return np.stack([undistort(uv[v], c) for v, c in enumerate(cameras)])


def _solve_numpy(xy: np.ndarray, w: np.ndarray, P: np.ndarray, equilibrate: bool) -> np.ndarray:
    """Batched weighted DLT by numpy's SVD: xy (V, N, 2), w (V, N), P (V, 3, 4) -> (N, 3) (P's world)."""
    V, N = w.shape
    w = np.where(np.isfinite(xy).all(-1) & (w > 0), w, 0.0)
    rows = np.nan_to_num(xy)[..., None] * P[:, None, 2:3, :] - P[:, None, :2, :]     # (V, N, 2, 4)
    if equilibrate:
        norm = np.linalg.norm(rows, axis=-1, keepdims=True)
        rows = rows / np.where(norm > 0, norm, 1.0)
    A = np.moveaxis(rows * w[..., None, None], 0, 1).reshape(N, 2 * V, 4)
    out = np.full((N, 3), np.nan)
    if N:
        X = np.linalg.svd(A)[2][:, -1]
        out = X[:, :3] / X[:, 3:4]
    return np.where(((w > 0).sum(0) >= 2)[:, None], out, np.nan)


def _use_numba(backend: str) -> bool:
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"backend {backend!r}: expected 'auto', 'numba' or 'numpy'")
    return backend == "numba" or (backend == "auto" and _dlt_kernel.available())


def _solve(xy: np.ndarray, w: np.ndarray, P: np.ndarray, equilibrate: bool, backend: str) -> np.ndarray:
    if _use_numba(backend):
        return _dlt_kernel.dlt_points(xy, w, P, equilibrate)
    return _solve_numpy(xy, w, P, equilibrate)


def triangulate_dlt(uv: np.ndarray, cameras: list[Camera], weights: np.ndarray | None = None,
                    distortion: bool = True, conditioning: bool = True, backend: str = "auto") -> np.ndarray:
    """Weighted linear (DLT) triangulation, batched over all points at once (see module docstring).

    Args:
        uv: (V, ..., 2) pixels in each of the V views (NaN = not seen).
        cameras: the V cameras (``t`` in any length unit; the result is in that unit).
        weights: (V, ...) per-view weights, e.g. detector confidences (<= 0 drops a view); default 1.
            A view's rows are multiplied by its weight in every mode.
        distortion: undistort the pixels first (default) or treat them as pinhole.
        conditioning: equilibrate each view's rows to unit norm before weighting (default). ``False``
            solves ``w * (x P3 - P1), w * (y P3 - P2)`` as Pose2Sim's ``weighted_triangulation`` does, in
            the unit-free world of the module docstring.
        backend: ``"numba"`` (compiled QR + inverse iteration per point, :mod:`._dlt_kernel`), ``"numpy"``
            (batched ``np.linalg.svd``) or ``"auto"`` (numba when installed).
    Returns:
        (..., 3) world points; NaN where fewer than two views have a finite pixel and positive weight.
    """
    uv = np.asarray(uv, dtype=np.float64)
    V = _check_views(uv, cameras)
    shape = uv.shape[1:-1]
    w = np.ones(uv.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != uv.shape[:-1]:
        w = np.broadcast_to(w, uv.shape[:-1])
    P, unit = _normalised_rig(cameras, distortion)
    xy = _image_coords(uv.reshape(V, -1, 2), cameras, distortion, backend)
    return _solve(xy, w.reshape(V, -1), P, conditioning, backend).reshape(shape + (3,)) * unit


@dataclass
class TriangulationResult:
    """points (..., 3) world unit; reprojection_error (...,) mean px over used views; views (V, ...) used."""

    points: np.ndarray
    reprojection_error: np.ndarray
    views: np.ndarray


def reprojection_errors(points: np.ndarray, uv: np.ndarray, cameras: list[Camera], backend: str = "auto"
                        ) -> np.ndarray:
    """(..., 3) points and (V, ..., 2) pixels -> (V, ...) reprojection distances in pixels.

    ``backend``: ``"numba"`` (:mod:`._refine_kernel`), ``"numpy"`` (:func:`~simspine_hub.geometry.project`)
    or ``"auto"`` (numba when installed); they agree to rounding."""
    if _use_numba(backend):
        points, uv = np.asarray(points, dtype=np.float64), np.asarray(uv, dtype=np.float64)
        flat = _refine_kernel.reprojection_errors(points.reshape(-1, 3), uv.reshape(len(cameras), -1, 2), cameras)
        return flat.reshape(uv.shape[:-1])
    return np.stack([np.linalg.norm(project(points, c) - uv[v], axis=-1) for v, c in enumerate(cameras)])


@dataclass
class _Consensus:
    """Per flattened point (N): the chosen view set and its DLT point, and the consistent pairs."""

    X: np.ndarray          # (N, 3) world unit, NaN where no consistent set
    views: np.ndarray      # (V, N) bool
    size: np.ndarray       # (N,) views in the chosen set (0: none)
    err: np.ndarray        # (N,) mean reprojection error of the chosen set (px)
    pair_X: np.ndarray     # (H, N, 3) each pair's point where that pair is consistent, else NaN
    pairs: list[tuple[int, int]]


def _fit_subset(members: np.ndarray, ctx: dict, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate points ``idx`` from the views in ``members`` (V,) -> (n, 3) points, (n,) consistent
    (every member sees the point, mean error within ``prune_px``), (n,) mean error over the members (px)."""
    uv, conf, active, cams = ctx["uv"][:, idx], ctx["conf"][:, idx], ctx["active"][:, idx], ctx["cameras"]
    w = np.where(members[:, None], conf, 0.0)
    X = _solve(ctx["xy"][:, idx], w, ctx["P"], True, ctx["backend"]) * ctx["unit"]
    err = reprojection_errors(X, uv, cams, ctx["backend"])
    used = members[:, None] & active
    mean = np.where(used, err, 0.0).sum(0) / members.sum()
    ok = (used.sum(0) == members.sum()) & np.isfinite(X).all(-1) & (mean <= ctx["prune_px"])
    return X, ok, mean


def _consensus(uv: np.ndarray, cameras: list[Camera], conf: np.ndarray, prune_px: float, backend: str
               ) -> _Consensus:
    """Step 1 of the module docstring on flattened input: uv (V, N, 2) px, conf (V, N) (0 = unusable)."""
    V, N = conf.shape
    active = conf > 0
    P, unit = _normalised_rig(cameras, True)
    ctx = dict(uv=uv, conf=conf, active=active, cameras=cameras, prune_px=prune_px, P=P, unit=unit, backend=backend,
               xy=_image_coords(uv, cameras, True, backend))
    res = _Consensus(np.full((N, 3), np.nan), np.zeros((V, N), bool), np.zeros(N, int), np.full(N, np.inf),
                     np.full((V * (V - 1) // 2, N, 3), np.nan), list(combinations(range(V), 2)))
    n_active = active.sum(0)
    for size in range(V, 1, -1):
        todo = np.where((res.size == 0) & (n_active >= size))[0]
        if not len(todo):
            continue
        for subset in combinations(range(V), size):
            members = np.zeros(V, bool)
            members[list(subset)] = True
            X, ok, err = _fit_subset(members, ctx, todo)
            if size == 2:
                res.pair_X[res.pairs.index(subset), todo] = np.where(ok[:, None], X, np.nan)
            better = ok & (err < res.err[todo])
            sel = todo[better]
            res.X[sel], res.err[sel], res.size[sel] = X[better], err[better], size
            res.views[:, sel] = members[:, None]
    return res


def _resolve_pairs(res: _Consensus, grid: tuple[int, ...], window: int, max_jump: float) -> None:
    """Step 2 of the module docstring, in place; ``grid`` is (T, J) for time-indexed input, else ()."""
    two = res.size == 2
    if not two.any():
        return
    cand = res.pair_X                                                       # (H, N, 3)
    if len(grid) == 2:
        sure = np.where((res.size >= 3)[:, None], res.X, np.nan).reshape(grid + (3,))
        ref = running_nanmedian(sure, window).reshape(-1, 3)
    else:
        ref = np.full(res.X.shape, np.nan)
    dist = np.nan_to_num(np.linalg.norm(cand - ref[None], axis=-1), nan=np.inf)       # (H, N)
    near = np.argmin(dist, axis=0)
    has_ref = np.isfinite(ref).all(-1)
    keep_ref = np.take_along_axis(dist, near[None], 0)[0] <= max_jump
    spread = np.nan_to_num(np.linalg.norm(cand - res.X[None], axis=-1), nan=0.0).max(0)   # pairs vs the best pair
    keep = np.where(has_ref, keep_ref, spread <= max_jump)
    pick = has_ref & keep & two
    pair_views = np.zeros((len(res.pairs), res.views.shape[0]), bool)
    for h, pair in enumerate(res.pairs):
        pair_views[h, list(pair)] = True
    res.X[pick] = cand[near[pick], np.where(pick)[0]]
    res.views[:, pick] = pair_views[near[pick]].T
    drop = two & ~keep
    res.X[drop], res.size[drop] = np.nan, 0
    res.views[:, drop] = False


_JACOBIAN_STEP = 1e-3          # world unit, forward differences of the Huber refinement


def _huber_refine(X: np.ndarray, uv: np.ndarray, cameras: list[Camera], w_base: np.ndarray, huber_px: float,
                  iterations: int, backend: str = "auto") -> np.ndarray:
    """Gauss-Newton on the Huber-weighted reprojection error: X (N, 3) world unit (finite), uv (V, N, 2) px,
    w_base (V, N) view weights (0 = unused). Numerical Jacobians with a 1e-3 world-unit step. Compiled
    (:mod:`._refine_kernel`) when numba is installed; this numpy loop is its reference."""
    if _use_numba(backend):
        return _refine_kernel.huber_refine(X, uv, cameras, w_base, huber_px, iterations, _JACOBIAN_STEP)
    uv0 = np.nan_to_num(uv)
    eps = _JACOBIAN_STEP
    for _ in range(iterations):
        proj = np.stack([project(X, c) for c in cameras])                       # (V, N, 2)
        r = proj - uv0
        J = np.stack([np.stack([(project(X + eps * e, c) - proj[v]) / eps for e in np.eye(3)], -1)
                      for v, c in enumerate(cameras)])                          # (V, N, 2, 3)
        rn = np.linalg.norm(r, axis=-1)
        w = w_base * np.where(rn <= huber_px, 1.0, huber_px / np.maximum(rn, 1e-12))
        JtJ = np.einsum("vn,vnij,vnik->njk", w, J, J) + 1e-9 * np.eye(3)
        Jtr = np.einsum("vn,vnij,vni->nj", w, J, r)
        X = X - np.linalg.solve(JtJ, Jtr[..., None])[..., 0]
    return X


def triangulate_robust(uv: np.ndarray, cameras: list[Camera], confidence: np.ndarray | None = None,
                       min_confidence: float = 0.0, prune_px: float = 20.0, huber_px: float = 3.0,
                       iterations: int = 5, window: int = 9, max_jump: float = 150.0, backend: str = "auto"
                       ) -> TriangulationResult:
    """Robust triangulation (see module docstring).

    Args:
        uv: (V, ..., 2) pixels per view (NaN = missing), e.g. (V, frames, joints, 2).
        cameras: the V >= 2 cameras (world unit of their ``t``, e.g. mm).
        confidence: (V, ...) detector scores in [0, 1] (default 1); at or below ``min_confidence`` a view is
            dropped; above it the score weighs the view.
        prune_px: mean reprojection error (px) of the views of a consistent set.
        huber_px: Huber threshold of the refinement (pixels).
        iterations: Gauss-Newton iterations.
        window: frames of the temporal median that checks two-view points ((V, T, J, 2) input only).
        max_jump: largest distance (world unit, e.g. mm) of a two-view point from that median.
        backend: ``"numba"`` (compiled DLT, projections and refinement), ``"numpy"`` (the reference) or
            ``"auto"`` (numba when installed).
    Returns:
        :class:`TriangulationResult` with points (..., 3), mean reprojection error (...,) px over the used
        views, and the used views (V, ...).
    """
    uv = np.asarray(uv, dtype=np.float64)
    V = _check_views(uv, cameras)
    shape = uv.shape[1:-1]
    conf = np.ones(uv.shape[:-1]) if confidence is None else np.broadcast_to(
        np.asarray(confidence, dtype=np.float64), uv.shape[:-1])
    conf = np.where(np.isfinite(uv).all(-1) & (conf > min_confidence), conf, 0.0).reshape(V, -1)
    flat = uv.reshape(V, -1, 2)
    res = _consensus(flat, cameras, conf, prune_px, backend)
    _resolve_pairs(res, shape if len(shape) == 2 else (), window, max_jump)
    good = res.size >= 2
    w_base = np.where(res.views, conf, 0.0)
    X = np.full(res.X.shape, np.nan)
    X[good] = _huber_refine(res.X[good], flat[:, good], cameras, w_base[:, good], huber_px, iterations,
                            backend)
    err = reprojection_errors(X, flat, cameras, backend)
    mean_err = np.where(good, np.where(res.views, err, 0.0).sum(0) / np.maximum(res.views.sum(0), 1), np.nan)
    return TriangulationResult(X.reshape(shape + (3,)), mean_err.reshape(shape), res.views.reshape((V,) + shape))
