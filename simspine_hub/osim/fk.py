"""Forward kinematics of an OpenSim model, vectorised over frames (numpy), exact to OpenSim's own.

The joint tree comes from the ``.osim`` XML (:func:`simspine_hub.osim.xml.read_osim`), so no OpenSim is
needed: offset frames (translation, body-fixed XYZ orientation), joint types (Weld, Pin about Z, Universal
X then Y, Custom), and each CustomJoint's six transform axes with their functions of the coordinates
(:mod:`simspine_hub.osim.functions`). A CustomJoint rotates about its three rotation axes in sequence
(body-fixed), then translates along its three translation axes in the parent offset frame. Poses compose
ground -> parent offset -> joint -> child offset^-1. ``tests/test_osim.py`` checks every marker against
OpenSim to 1e-9 m where OpenSim is installed.

Units: coordinates (T, C) radians / metres in the tree's coordinate order; positions metres in OpenSim's
ground frame (Y-up).
"""

from __future__ import annotations

import numpy as np

from simspine_hub.osim.functions import fmm_eval, fmm_spline
from simspine_hub.osim.xml import KinematicTree

__all__ = ["VectorizedFK", "axis_rotation", "fmm_spline", "fmm_eval"]

_X, _Y, _Z = np.eye(3)


def axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(3,) unit axis, (T,) radians -> (T, 3, 3) rotation matrices (Rodrigues)."""
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    K = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) * c + s * K + (1.0 - c) * np.outer(axis, axis)


class VectorizedFK:
    """Batched forward kinematics of a :class:`~simspine_hub.osim.xml.KinematicTree` (see module docstring).

    Args:
        tree: the model read from its .osim file.
        coordinate_names: the column order of ``q`` (default: the tree's coordinate order).
    """

    def __init__(self, tree: KinematicTree, coordinate_names: tuple[str, ...] | None = None) -> None:
        names = tree.coordinate_names if coordinate_names is None else tuple(coordinate_names)
        col = {n: i for i, n in enumerate(names)}
        missing = [c for c in tree.coordinate_names if c not in col]
        if missing:
            raise ValueError(f"coordinate columns lack {missing}")
        self.tree = tree
        self.joints = []
        for j in tree.joints:
            coords = [col[c] for c in j.coordinates]
            spec = [(axis, None if c is None else col[c], fn) for axis, c, fn in j.axes] if j.axes else coords
            self.joints.append((j.parent, j.child, *j.parent_offset, *j.child_offset, (j.kind, spec)))
        self.markers = dict(tree.markers)

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
                Rj = axis_rotation(_Z, q[:, spec[0]])
            elif kind == "UniversalJoint":
                Rj = axis_rotation(_X, q[:, spec[0]]) @ axis_rotation(_Y, q[:, spec[1]])
            elif kind == "CustomJoint":
                for k, (axis, c, fn) in enumerate(spec):
                    v = fn(q[:, c] if c is not None else np.zeros(T))
                    if k < 3:
                        Rj = Rj @ axis_rotation(axis, v)
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
        missing = [n for n in names if n not in self.markers]
        if missing:
            raise KeyError(f"marker {missing[0]!r} is not on the model")
        bodies = {self.markers[n][0] for n in names}
        poses = self.body_poses(q, bodies)
        out = np.empty((len(np.atleast_2d(q)), len(names), 3))
        for k, n in enumerate(names):
            body, loc = self.markers[n]
            R, p = poses[body]
            out[:, k] = R @ loc + p
        return out
