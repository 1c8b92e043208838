"""Compiled kernels (numba) of the robust triangulation's projection-heavy steps, in parallel over points.

* :func:`undistort_points`: pixels -> normalised image coordinates (the input of the DLT);
* :func:`reprojection_errors`: (V, N) pixel distances of N world points to their V observations;
* :func:`huber_refine`: step 3 of :mod:`.triangulation` (Gauss-Newton on the Huber-weighted reprojection
  error, forward-difference Jacobians with a fixed step).

Both compute exactly what the numpy reference in :mod:`.triangulation` computes, point by point, with the
cameras' lens distortion (:func:`simspine_hub.geometry.project`'s ``"opencv"`` and ``"h36m"`` models); they
equal it to rounding (tests). Cameras are passed as stacked arrays (:func:`camera_arrays`).
"""

from __future__ import annotations

import numpy as np

from simspine_hub.geometry import DISTORTION_MODELS, Camera

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path remains
    njit = None

__all__ = ["available", "camera_arrays", "undistort_points", "reprojection_errors", "huber_refine"]

_CHUNK = 256            # points per parallel task


def available() -> bool:
    return njit is not None


def camera_arrays(cameras: list[Camera]) -> tuple[np.ndarray, ...]:
    """V cameras -> K (V, 3, 3) px, dist (V, 5), R (V, 3, 3), t (V, 3) world unit, model (V,) int
    (index into :data:`simspine_hub.geometry.DISTORTION_MODELS`)."""
    return (np.stack([c.K for c in cameras]), np.stack([c.dist for c in cameras]), np.stack([c.R for c in cameras]),
            np.stack([c.t for c in cameras]),
            np.array([DISTORTION_MODELS.index(c.distortion_model) for c in cameras], dtype=np.int64))


if njit is not None:
    _H36M = DISTORTION_MODELS.index("h36m")

    @njit(cache=True, inline="always")
    def _distort(x, y, d, model, v, out):  # pragma: no cover - compiled
        """Normalised (x, y) -> distorted (out[0], out[1]) with camera v's lens model (as geometry.distort)."""
        k1, k2, p1, p2, k3 = d[v, 0], d[v, 1], d[v, 2], d[v, 3], d[v, 4]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        if model[v] == _H36M:
            out[0] = x * radial + p1 * x * y + p2 * (r2 + x * x)
            out[1] = y * radial + p2 * x * y + p1 * (r2 + y * y)
        else:
            out[0] = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
            out[1] = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y

    @njit(cache=True, inline="always")
    def _project(x0, x1, x2, K, d, R, t, model, v, out):  # pragma: no cover - compiled
        """World point (x0, x1, x2) -> pixel (out[0], out[1]) in camera v (as geometry.project)."""
        c0 = R[v, 0, 0] * x0 + R[v, 0, 1] * x1 + R[v, 0, 2] * x2 + t[v, 0]
        c1 = R[v, 1, 0] * x0 + R[v, 1, 1] * x1 + R[v, 1, 2] * x2 + t[v, 1]
        c2 = R[v, 2, 0] * x0 + R[v, 2, 1] * x1 + R[v, 2, 2] * x2 + t[v, 2]
        _distort(c0 / c2, c1 / c2, d, model, v, out)
        xd, yd = out[0], out[1]
        out[0] = K[v, 0, 0] * xd + K[v, 0, 1] * yd + K[v, 0, 2]
        out[1] = K[v, 1, 1] * yd + K[v, 1, 2]

    @njit(cache=True, parallel=True)
    def _undistort(uv, K, d, model, iterations, out):  # pragma: no cover - compiled
        V, N = uv.shape[0], uv.shape[1]
        for chunk in prange((N + _CHUNK - 1) // _CHUNK):
            p = np.empty(2)
            for n in range(chunk * _CHUNK, min(N, chunk * _CHUNK + _CHUNK)):
                for v in range(V):
                    yd = (uv[v, n, 1] - K[v, 1, 2]) / K[v, 1, 1]
                    xd = (uv[v, n, 0] - K[v, 0, 2] - K[v, 0, 1] * yd) / K[v, 0, 0]
                    x, y = xd, yd
                    for _ in range(iterations):
                        _distort(x, y, d, model, v, p)
                        x = x + (xd - p[0])
                        y = y + (yd - p[1])
                    out[v, n, 0] = x
                    out[v, n, 1] = y

    @njit(cache=True, parallel=True)
    def _errors(X, uv, K, d, R, t, model, out):  # pragma: no cover - compiled
        V, N = out.shape
        for chunk in prange((N + _CHUNK - 1) // _CHUNK):
            p = np.empty(2)
            for n in range(chunk * _CHUNK, min(N, chunk * _CHUNK + _CHUNK)):
                for v in range(V):
                    _project(X[n, 0], X[n, 1], X[n, 2], K, d, R, t, model, v, p)
                    du = p[0] - uv[v, n, 0]
                    dv = p[1] - uv[v, n, 1]
                    out[v, n] = np.sqrt(du * du + dv * dv)

    @njit(cache=True, inline="always")
    def _solve3(A, b, x):  # pragma: no cover - compiled
        """x <- A^-1 b for a 3 x 3 A (Gaussian elimination, partial pivoting; A and b are overwritten)."""
        for k in range(3):
            p = k
            for i in range(k + 1, 3):
                if abs(A[i, k]) > abs(A[p, k]):
                    p = i
            if p != k:
                for j in range(3):
                    A[k, j], A[p, j] = A[p, j], A[k, j]
                b[k], b[p] = b[p], b[k]
            for i in range(k + 1, 3):
                f = A[i, k] / A[k, k]
                for j in range(k, 3):
                    A[i, j] -= f * A[k, j]
                b[i] -= f * b[k]
        for k in range(2, -1, -1):
            s = b[k]
            for j in range(k + 1, 3):
                s -= A[k, j] * x[j]
            x[k] = s / A[k, k]

    @njit(cache=True, inline="always")
    def _normal_equations(X, uv, w_base, K, d, R, t, model, huber, eps, n, p, q, J, A, b):  # pragma: no cover
        """A <- sum_v w J^T J + 1e-9 I, b <- sum_v w J^T r at point n (r: projection - observation)."""
        for i in range(3):
            b[i] = 0.0
            for j in range(3):
                A[i, j] = 1e-9 if i == j else 0.0
        for v in range(uv.shape[0]):
            _project(X[n, 0], X[n, 1], X[n, 2], K, d, R, t, model, v, p)
            for i in range(3):
                dx = eps if i == 0 else 0.0
                dy = eps if i == 1 else 0.0
                dz = eps if i == 2 else 0.0
                _project(X[n, 0] + dx, X[n, 1] + dy, X[n, 2] + dz, K, d, R, t, model, v, q)
                J[0, i] = (q[0] - p[0]) / eps
                J[1, i] = (q[1] - p[1]) / eps
            r0 = p[0] - uv[v, n, 0]
            r1 = p[1] - uv[v, n, 1]
            rn = np.sqrt(r0 * r0 + r1 * r1)
            w = w_base[v, n] * (1.0 if rn <= huber else huber / max(rn, 1e-12))
            for i in range(3):
                b[i] += w * (J[0, i] * r0 + J[1, i] * r1)
                for j in range(3):
                    A[i, j] += w * (J[0, i] * J[0, j] + J[1, i] * J[1, j])

    @njit(cache=True, parallel=True)
    def _refine(X, uv, w_base, K, d, R, t, model, huber, iterations, eps):  # pragma: no cover - compiled
        N = X.shape[0]
        for chunk in prange((N + _CHUNK - 1) // _CHUNK):
            p, q, b, dx = np.empty(2), np.empty(2), np.empty(3), np.empty(3)
            J, A = np.empty((2, 3)), np.empty((3, 3))
            for n in range(chunk * _CHUNK, min(N, chunk * _CHUNK + _CHUNK)):
                for _ in range(iterations):
                    _normal_equations(X, uv, w_base, K, d, R, t, model, huber, eps, n, p, q, J, A, b)
                    _solve3(A, b, dx)
                    for i in range(3):
                        X[n, i] -= dx[i]


def undistort_points(uv: np.ndarray, cameras: list[Camera], iterations: int = 20) -> np.ndarray:
    """(V, N, 2) distorted pixels -> (V, N, 2) normalised image coordinates (x/z, y/z), compiled
    (:func:`simspine_hub.geometry.undistort`'s fixed-point iteration)."""
    K, d, _, _, model = camera_arrays(cameras)
    out = np.empty(uv.shape)
    _undistort(np.ascontiguousarray(uv, dtype=np.float64), K, d, model, int(iterations), out)
    return out


def reprojection_errors(points: np.ndarray, uv: np.ndarray, cameras: list[Camera]) -> np.ndarray:
    """(N, 3) world points, (V, N, 2) pixels -> (V, N) reprojection distances (px), compiled."""
    out = np.empty(uv.shape[:2])
    _errors(np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(uv, dtype=np.float64),
            *camera_arrays(cameras), out)
    return out


def huber_refine(X: np.ndarray, uv: np.ndarray, cameras: list[Camera], w_base: np.ndarray, huber_px: float,
                 iterations: int, eps: float) -> np.ndarray:
    """Step 3 of :mod:`.triangulation`, compiled: X (N, 3) world unit (finite start), uv (V, N, 2) px (NaN
    where ``w_base`` is 0), w_base (V, N) -> refined (N, 3)."""
    out = np.array(X, dtype=np.float64, order="C")
    _refine(out, np.ascontiguousarray(np.nan_to_num(uv), dtype=np.float64),
            np.ascontiguousarray(w_base, dtype=np.float64), *camera_arrays(cameras), float(huber_px),
            int(iterations), float(eps))
    return out
