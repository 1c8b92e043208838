"""Forward kinematics of an OpenSim model, vectorised over frames (numpy), exact to OpenSim's own.

The model's joint tree is read once through the OpenSim API: offset frames (translation, body-fixed XYZ
orientation), joint types (Weld, Pin about Z, Universal X then Y, Custom), and each CustomJoint's six
transform axes with their functions of the coordinates (Linear, Constant, Multiplier and SimmSpline; the
latter is the Forsythe-Malcolm-Moler cubic spline OpenSim uses, extended linearly beyond its knots). A
CustomJoint rotates about its three rotation axes in sequence (body-fixed), then translates along its
three translation axes in the parent offset frame. Poses compose ground -> parent offset -> joint ->
child offset^-1. ``tests/test_fastfk.py`` checks every marker against OpenSim to 1e-9 m.

Units: coordinates (T, 62) radians / metres; positions metres in OpenSim's ground frame (Y-up).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["VectorizedFK", "fmm_spline", "fmm_eval"]


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


def _axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(3,) unit axis, (T,) radians -> (T, 3, 3)."""
    return Rotation.from_rotvec(axis[None] * angle[:, None]).as_matrix()


class _Function:
    """A coordinate function of an OpenSim TransformAxis, evaluated on arrays."""

    def __init__(self, fn, osim):
        kind = fn.getConcreteClassName()
        self.scale = 1.0
        if kind == "MultiplierFunction":
            mf = osim.MultiplierFunction.safeDownCast(fn)
            self.scale, fn = mf.getScale(), mf.getFunction()
            kind = fn.getConcreteClassName()
        self.kind = kind
        if kind == "LinearFunction":
            lf = osim.LinearFunction.safeDownCast(fn)
            self.a, self.b = lf.getSlope(), lf.getIntercept()
        elif kind == "Constant":
            self.value = osim.Constant.safeDownCast(fn).getValue()
        elif kind == "SimmSpline":
            sp = osim.SimmSpline.safeDownCast(fn)
            self.x = np.array([sp.getX(i) for i in range(sp.getSize())])
            self.y = np.array([sp.getY(i) for i in range(sp.getSize())])
            self.coef = fmm_spline(self.x, self.y)
        else:
            raise NotImplementedError(f"transform-axis function {kind} is not supported")

    def __call__(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "LinearFunction":
            v = self.a * q + self.b
        elif self.kind == "Constant":
            v = np.full_like(q, self.value)
        else:
            v = fmm_eval(self.x, self.y, self.coef, q)
        return self.scale * v


def _offset(frame, osim) -> tuple[np.ndarray, np.ndarray, str]:
    f = osim.PhysicalOffsetFrame.safeDownCast(frame)
    if f is None:                                           # a body or ground used directly
        return np.eye(3), np.zeros(3), frame.getName()
    R = Rotation.from_euler("XYZ", f.get_orientation().to_numpy()).as_matrix()
    return R, f.get_translation().to_numpy(), f.getParentFrame().findBaseFrame().getName()


class VectorizedFK:
    """Batched forward kinematics of an ``opensim.Model`` (see module docstring).

    Args:
        model: an initialised ``opensim.Model``; coordinate_names: the column order of ``q``.
    """

    def __init__(self, model, coordinate_names: tuple[str, ...]):
        import opensim as osim

        col = {n: i for i, n in enumerate(coordinate_names)}
        self.joints = []
        js = model.getJointSet()
        todo = [js.get(i) for i in range(js.getSize())]
        known = {"ground"}
        while todo:
            progressed = False
            for j in list(todo):
                RF, tF, parent = _offset(j.getParentFrame(), osim)
                if parent not in known:
                    continue
                RM, tM, child = _offset(j.getChildFrame(), osim)
                self.joints.append((parent, child, RF, tF, RM, tM, self._joint_spec(j, col, osim)))
                known.add(child)
                todo.remove(j)
                progressed = True
            if not progressed:
                raise ValueError("joint tree is not connected to ground")
        ms = model.getMarkerSet()
        self.markers = {ms.get(i).getName(): (ms.get(i).getParentFrame().findBaseFrame().getName(),
                                               ms.get(i).get_location().to_numpy()) for i in range(ms.getSize())}

    @staticmethod
    def _joint_spec(j, col, osim):
        kind = j.getConcreteClassName()
        coords = [col[j.get_coordinates(i).getName()] for i in range(j.numCoordinates())]
        if kind in ("WeldJoint", "PinJoint", "UniversalJoint"):
            return kind, coords
        if kind != "CustomJoint":
            raise NotImplementedError(f"joint type {kind} ({j.getName()}) is not supported")
        st = osim.CustomJoint.safeDownCast(j).getSpatialTransform()
        axes = []
        for a in range(6):
            ta = st.getTransformAxis(a)
            names = ta.getCoordinateNamesInArray()
            c = col[names.get(0)] if names.getSize() > 0 else None
            axes.append((ta.getAxis().to_numpy(), c, _Function(ta.get_function(), osim)))
        return kind, axes

    def body_poses(self, q: np.ndarray, bodies: set[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(T, C) coordinates -> {body: (R (T, 3, 3), p (T, 3) m)} in ground (all bodies, or those asked
        for and their ancestors)."""
        q = np.atleast_2d(np.asarray(q, dtype=np.float64))
        T = len(q)
        eye = np.broadcast_to(np.eye(3), (T, 3, 3))
        poses = {"ground": (eye, np.zeros((T, 3)))}
        needed = None
        if bodies is not None:
            parent_of = {c: p for p, c, *_ in self.joints}
            needed = set()
            for b in bodies:
                while b in parent_of and b not in needed:
                    needed.add(b)
                    b = parent_of[b]
        for parent, child, RF, tF, RM, tM, (kind, spec) in self.joints:
            if needed is not None and child not in needed:
                continue
            RG, pG = poses[parent]
            Rj, pj = eye, np.zeros((T, 3))
            if kind == "PinJoint":
                Rj = _axis_rotation(np.array([0.0, 0.0, 1.0]), q[:, spec[0]])
            elif kind == "UniversalJoint":
                Rj = _axis_rotation(np.array([1.0, 0.0, 0.0]), q[:, spec[0]]) @ \
                    _axis_rotation(np.array([0.0, 1.0, 0.0]), q[:, spec[1]])
            elif kind == "CustomJoint":
                for k, (axis, c, fn) in enumerate(spec):
                    v = fn(q[:, c] if c is not None else np.zeros(T))
                    if k < 3:
                        Rj = Rj @ _axis_rotation(axis, v)
                    else:
                        pj = pj + v[:, None] * axis
            RGF = RG @ RF
            pGF = pG + RG @ tF
            RGM = RGF @ Rj
            pGM = pGF + np.einsum("tij,tj->ti", RGF, pj)
            Rc = RGM @ RM.T
            poses[child] = (Rc, pGM - Rc @ tM)
        return poses

    def marker_positions(self, q: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """(T, C) coordinates -> (T, M, 3) marker positions in ground, metres."""
        bodies = {self.markers[n][0] for n in names}
        poses = self.body_poses(q, bodies)
        out = np.empty((len(np.atleast_2d(q)), len(names), 3))
        for k, n in enumerate(names):
            body, loc = self.markers[n]
            R, p = poses[body]
            out[:, k] = R @ loc + p
        return out
