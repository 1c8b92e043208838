"""Compiled kernel for the weighted DLT (numba): one-sided Jacobi SVD of each point's 2V x 4 system.

The smallest right singular vector of A is found by Hestenes' one-sided Jacobi rotations on A's columns
(high relative accuracy, no squaring of the condition number), in parallel over points. Same result as
numpy's SVD path in :func:`simspine_hub.geometry.triangulate_dlt` to ~1e-12 of the world unit.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path remains
    njit = None

__all__ = ["available", "dlt_points"]


def available() -> bool:
    return njit is not None


if njit is not None:
    @njit(cache=True, parallel=True)
    def _kernel(xy, w, P, equilibrate, out):  # pragma: no cover - compiled
        V, N = w.shape
        m = 2 * V
        for n in prange(N):
            A = np.empty((m, 4))
            Vm = np.eye(4)
            for v in range(V):
                x = xy[v, n, 0]
                y = xy[v, n, 1]
                wv = w[v, n]
                for k in range(4):
                    A[2 * v, k] = wv * (x * P[v, 2, k] - P[v, 0, k])
                    A[2 * v + 1, k] = wv * (y * P[v, 2, k] - P[v, 1, k])
            if equilibrate:
                for i in range(m):
                    s = 0.0
                    for k in range(4):
                        s += A[i, k] * A[i, k]
                    if s > 0.0:
                        s = 1.0 / math.sqrt(s)
                        for k in range(4):
                            A[i, k] *= s
            for _ in range(60):
                rotated = False
                for p in range(3):
                    for q in range(p + 1, 4):
                        a = 0.0
                        b = 0.0
                        g = 0.0
                        for i in range(m):
                            a += A[i, p] * A[i, p]
                            b += A[i, q] * A[i, q]
                            g += A[i, p] * A[i, q]
                        if g == 0.0 or abs(g) <= 1e-15 * math.sqrt(a * b):
                            continue
                        rotated = True
                        zeta = (b - a) / (2.0 * g)
                        t = (1.0 if zeta >= 0 else -1.0) / (abs(zeta) + math.sqrt(1.0 + zeta * zeta))
                        c = 1.0 / math.sqrt(1.0 + t * t)
                        s = c * t
                        for i in range(m):
                            ap = A[i, p]
                            aq = A[i, q]
                            A[i, p] = c * ap - s * aq
                            A[i, q] = s * ap + c * aq
                        for i in range(4):
                            vp = Vm[i, p]
                            vq = Vm[i, q]
                            Vm[i, p] = c * vp - s * vq
                            Vm[i, q] = s * vp + c * vq
                if not rotated:
                    break
            best = 0
            smallest = 1e300
            for k in range(4):
                nn = 0.0
                for i in range(m):
                    nn += A[i, k] * A[i, k]
                if nn < smallest:
                    smallest = nn
                    best = k
            for k in range(3):
                out[n, k] = Vm[k, best] / Vm[3, best]


def dlt_points(xy: np.ndarray, w: np.ndarray, P: np.ndarray, equilibrate: bool) -> np.ndarray:
    """xy (V, N, 2), w (V, N), P (V, 3, 4) -> (N, 3) homogeneous-DLT points (compiled)."""
    out = np.empty((xy.shape[1], 3))
    _kernel(np.ascontiguousarray(xy, dtype=np.float64), np.ascontiguousarray(w, dtype=np.float64),
            np.ascontiguousarray(P, dtype=np.float64), bool(equilibrate), out)
    return out
