"""The variables of batched IK (couplers substituted, bounds, temporal weights) and its starting pose.

:class:`IKVariables` maps the model's C coordinates onto n variables: each independent, unlocked coordinate
that moves at least one IK marker is a variable; a coupled coordinate follows its independent one exactly
(``q = slope * z + intercept``); all others stay at their default value (locked coordinates, as OpenSim's IK
holds them, and coordinates no marker sees, which OpenSim's IK leaves at its starting value).

:func:`initial_coordinates` places the root body (the ground's child) on its markers per frame (Kabsch)
and leaves the other coordinates at their defaults.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from simspine_hub.osim.xml import KinematicTree

__all__ = ["IKVariables", "initial_coordinates"]


class IKVariables:
    """Coordinates -> variables of one model and marker set (see the module docstring).

    Attributes:
        n: number of variables; names: their coordinate names.
        var_of_coord (C,): variable index of each coordinate (-1: fixed); var_scale (C,): dq / dz;
        q0 (C,): q = q0 + var_scale * z[var_of_coord] (q0 alone where fixed).
        lower, upper (n,): bounds (+-inf where unbounded); smooth_weight (n,): sum of var_scale^2 over the
        coordinates a variable drives (the temporal term over all coordinates, in variables);
        periodic (n,): whether a whole turn of the variable leaves every marker where it was.
    """

    def __init__(self, tree: KinematicTree, fk) -> None:
        names = tree.coordinate_names
        C = len(names)
        col = {n: i for i, n in enumerate(names)}
        coords = tree.coordinates
        couplers = [c for c in tree.couplers if c.enforced]
        dep = {col[c.dependent]: (col[c.independent], c.slope, c.intercept) for c in couplers}
        if any(ind in dep for ind, _, _ in dep.values()):
            raise ValueError("chained couplers (a dependent coordinate driving another) are not supported")
        seen = {fk.axes[i].col for _, i in fk._pairs}
        drives = {i: [i] + [d for d, (ind, _, _) in dep.items() if ind == i] for i in range(C) if i not in dep}
        self.free = [i for i in range(C) if i in drives and not coords[i].locked and seen & set(drives[i])]
        self.n = len(self.free)
        self.names = tuple(names[i] for i in self.free)
        default = np.array([c.default for c in coords])
        var = {c: k for k, c in enumerate(self.free)}
        self.var_of_coord = np.full(C, -1, dtype=np.int64)
        self.var_scale = np.zeros(C)
        self.q0 = default.copy()
        for c in range(C):
            if c in var:
                self.var_of_coord[c], self.var_scale[c], self.q0[c] = var[c], 1.0, 0.0
            elif c in dep:
                ind, slope, icpt = dep[c]
                if ind in var:
                    self.var_of_coord[c], self.var_scale[c], self.q0[c] = var[ind], slope, icpt
                else:
                    self.q0[c] = slope * default[ind] + icpt
        self.lower, self.upper = np.full(self.n, -np.inf), np.full(self.n, np.inf)
        self.smooth_weight = np.zeros(self.n)
        for c in range(C):
            k = self.var_of_coord[c]
            if k < 0:
                continue
            self.smooth_weight[k] += self.var_scale[c] ** 2
            if coords[c].clamped:
                lo, hi = sorted(((coords[c].range[0] - self.q0[c]) / self.var_scale[c],
                                 (coords[c].range[1] - self.q0[c]) / self.var_scale[c]))
                self.lower[k], self.upper[k] = max(self.lower[k], lo), min(self.upper[k], hi)
        if (self.lower > self.upper).any():
            raise ValueError("coupled coordinate ranges leave no admissible value")
        #: (n,) bool: the variable moves markers only through rotations by exactly its value (+-1 slope),
        #: unbounded, so adding 2 pi changes nothing
        self.periodic = np.isinf(self.lower) & np.isinf(self.upper)
        for a in fk.axes:
            k = self.var_of_coord[a.col] if a.col is not None else -1
            if k >= 0 and not (a.rot and a.fn.kind == "linear"
                               and abs(abs(a.fn.scale * a.fn.slope * self.var_scale[a.col]) - 1.0) < 1e-12):
                self.periodic[k] = False

    def variables_of(self, q: np.ndarray) -> np.ndarray:
        """(T, C) coordinates -> (T, n) variables (the independent coordinates' values), clipped to the bounds."""
        return np.clip(np.asarray(q, dtype=np.float64)[:, self.free], self.lower, self.upper)


def _kabsch(local: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best rotation R and translation p with R @ local + p ~ target: (k, 3), (T, k, 3) -> (T, 3, 3), (T, 3)."""
    lc = local.mean(0)
    tc = target.mean(1)
    Hm = np.einsum("ki,tkj->tij", local - lc, target - tc[:, None])
    U, _, Vt = np.linalg.svd(Hm)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, 1, 2) @ np.swapaxes(U, 1, 2)))
    D = np.broadcast_to(np.eye(3), Hm.shape).copy()
    D[:, 2, 2] = d
    R = np.swapaxes(Vt, 1, 2) @ D @ np.swapaxes(U, 1, 2)
    return R, tc - R @ lc


def _principal(axis: np.ndarray) -> tuple[str, float] | None:
    k = int(np.argmax(np.abs(axis)))
    if abs(abs(axis[k]) - 1.0) > 1e-12:
        return None
    return "XYZ"[k], float(np.sign(axis[k]))


def initial_coordinates(tree: KinematicTree, markers: tuple[str, ...], seq: np.ndarray,
                        pose: np.ndarray | None = None) -> np.ndarray:
    """(T, M, 3) markers (m, ground) -> (T, C) starting coordinates: the root joint's six coordinates from a
    Kabsch fit of the root body's markers (>= 3 present; other frames copy the nearest fitted one), the rest
    at ``pose`` ((C,), default: the model's default values). Without a root fit (the root joint is not a free
    CustomJoint with principal axes and identity functions) all coordinates come from ``pose``."""
    T = len(seq)
    q = np.tile([c.default for c in tree.coordinates] if pose is None else pose, (T, 1))
    root = next((j for j in tree.joints if j.parent == "ground"), None)
    if root is None or root.kind != "CustomJoint" or len(root.coordinates) != 6:
        return q
    axes = [_principal(a) for a, _, _ in root.axes]
    if any(a is None for a in axes) or any(c is None or fn.kind != "linear" or fn.scale * fn.slope != 1.0
                                           or fn.intercept != 0.0 for _, c, fn in root.axes):
        return q
    on_root = [k for k, n in enumerate(markers) if tree.markers[n][0] == root.child]
    ok = np.isfinite(seq[:, on_root]).all(-1).all(-1) if len(on_root) >= 3 else np.zeros(T, bool)
    if not ok.any():
        return q
    local = np.stack([tree.markers[markers[k]][1] for k in on_root])
    R, p = _kabsch(local, seq[ok][:, on_root])
    (RF, tF), (RM, tM) = root.parent_offset, root.child_offset
    Rj = RF.T @ R @ RM                                            # child = RF Rj RM^T
    pj = np.einsum("ij,tj->ti", RF.T, p + R @ tM - tF)
    seqname = "".join(a[0] for a in axes[:3])
    angles = Rotation.from_matrix(Rj).as_euler(seqname) * np.array([a[1] for a in axes[:3]])
    trans = np.stack([pj[:, "XYZ".index(a[0])] * a[1] for a in axes[3:]], 1)
    idx = np.flatnonzero(ok)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(T)), 0, len(idx) - 1)]
    col = {n: i for i, n in enumerate(tree.coordinate_names)}
    for k, (_, c, _) in enumerate(root.axes):
        vals = angles[:, k] if k < 3 else trans[:, k - 3]
        q[:, col[c]] = vals[np.searchsorted(idx, nearest)]
    return q
