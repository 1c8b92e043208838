"""The OpenSim functions that drive a CustomJoint's transform axes, evaluated on arrays (numpy).

An OpenSim ``TransformAxis`` maps one coordinate to an angle (rad) or a displacement (m) through a
function. The paper's model uses ``LinearFunction``, ``Constant``, ``SimmSpline`` and, in scaled
models, ``MultiplierFunction`` wrapping either. :class:`AxisFunction` folds nested multipliers into one
``scale`` so that every function is ``scale * inner(q)``.

``SimmSpline`` is the Forsythe-Malcolm-Moler natural cubic spline OpenSim uses (``SimmSpline.cpp``),
extended linearly beyond its first and last knots with the end slopes. ``tests/test_osim.py`` checks it
against OpenSim's own ``calcValue`` including extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AxisFunction", "fmm_spline", "fmm_eval", "fmm_derivative"]


def fmm_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (b, c, d) of the Forsythe-Malcolm-Moler cubic spline through (x, y) (n >= 4 knots):
    on [x_i, x_i+1], s(t) = y_i + b_i dt + c_i dt^2 + d_i dt^3; end conditions match the third derivative of
    the cubic through the first (last) four points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 4:
        raise ValueError("spline needs at least 4 knots")
    d, b, c = np.zeros(n), np.zeros(n), np.zeros(n)
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, n - 1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0], b[n - 1] = -d[0], -d[n - 2]
    c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
    c[n - 1] = c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
    c[0] = c[0] * d[0] ** 2 / (x[3] - x[0])
    c[n - 1] = -c[n - 1] * d[n - 2] ** 2 / (x[n - 1] - x[n - 4])
    for i in range(1, n):                                   # tridiagonal solve
        t = d[i - 1] / b[i - 1]
        b[i] -= t * d[i - 1]
        c[i] -= t * c[i - 1]
    c[n - 1] /= b[n - 1]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[n - 1] = (y[n - 1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2 * c[n - 1])
    for i in range(n - 1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3 * c[i]
    c[n - 1] = 3 * c[n - 1]
    d[n - 1] = d[n - 2]
    return b, c, d


def fmm_eval(x: np.ndarray, y: np.ndarray, coef, q: np.ndarray) -> np.ndarray:
    """Evaluate :func:`fmm_spline` at ``q``; linear beyond the first and last knots."""
    b, c, d = coef
    i = np.clip(np.searchsorted(x, q, side="right") - 1, 0, len(x) - 2)
    dx = q - x[i]
    v = y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))
    v = np.where(q < x[0], y[0] + (q - x[0]) * b[0], v)
    return np.where(q > x[-1], y[-1] + (q - x[-1]) * b[-1], v)


def fmm_derivative(x: np.ndarray, coef, q: np.ndarray) -> np.ndarray:
    """d/dq of :func:`fmm_eval` (the end slopes beyond the knots)."""
    b, c, d = coef
    i = np.clip(np.searchsorted(x, q, side="right") - 1, 0, len(x) - 2)
    dx = q - x[i]
    v = b[i] + dx * (2 * c[i] + 3 * dx * d[i])
    v = np.where(q < x[0], b[0], v)
    return np.where(q > x[-1], b[-1], v)


@dataclass(frozen=True)
class AxisFunction:
    """``scale * f(q)`` with f one of ``constant`` (value), ``linear`` (slope, intercept), ``spline`` (x, y).

    Call it on a (T,) array of coordinate values (rad or m) to get the axis' angle (rad) or displacement (m).
    """

    kind: str
    scale: float = 1.0
    value: float = 0.0
    slope: float = 0.0
    intercept: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    coef: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "linear", "spline"):
            raise ValueError(f"unknown axis function kind {self.kind!r}")
        if self.kind == "spline" and self.coef is None:
            object.__setattr__(self, "coef", fmm_spline(np.array(self.x), np.array(self.y)))

    def scaled(self, factor: float) -> AxisFunction:
        """The same function times ``factor`` (an OpenSim ``MultiplierFunction``)."""
        return AxisFunction(self.kind, self.scale * factor, self.value, self.slope, self.intercept, self.x,
                            self.y, self.coef)

    def __call__(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if self.kind == "linear":
            v = self.slope * q + self.intercept
        elif self.kind == "constant":
            v = np.full_like(q, self.value)
        else:
            v = fmm_eval(np.array(self.x), np.array(self.y), self.coef, q)
        return self.scale * v

    def derivative(self, q: np.ndarray) -> np.ndarray:
        """d/dq, same shape as ``q``."""
        q = np.asarray(q, dtype=np.float64)
        if self.kind == "linear":
            v = np.full_like(q, self.slope)
        elif self.kind == "constant":
            v = np.zeros_like(q)
        else:
            v = fmm_derivative(np.array(self.x), self.coef, q)
        return self.scale * v
