"""Forward kinematics of an OpenSim model in torch, with its analytic Jacobian; batched over frames.

The same kinematics as :class:`simspine_hub.osim.fk.VectorizedFK` (read from the ``.osim`` XML), written for
torch so that it runs on CPU or CUDA, in float64 or float32, and is differentiable (autograd flows through
it). :meth:`TorchFK.forward` also returns the Jacobian of the marker positions analytically: a rotation
axis ``w`` (unit, ground frame) through the point ``c`` moves a downstream marker ``p`` at ``w x (p - c)``
per radian, a translation axis at ``w`` per metre; both times the derivative of the axis' function of its
coordinate. Coordinates can be mapped linearly onto fewer variables (``var_of_coord``, ``var_scale``):
the coupled lumbar coordinates then contribute to their independent one, as the IK needs.

Units: coordinates (B, C) rad / m in the tree's coordinate order; positions (B, M, 3) m, OpenSim ground (Y-up).
"""

from __future__ import annotations

import numpy as np
import torch

from simspine_hub.osim.functions import AxisFunction
from simspine_hub.osim.xml import KinematicTree

__all__ = ["TorchFK"]

_UNIT = np.eye(3)


class _Axis:
    """One joint axis in the flattened list: kind 'rot'/'trans', unit vector, coordinate column or None."""

    def __init__(self, rot: bool, axis: np.ndarray, col: int | None, fn: AxisFunction):
        self.rot, self.axis, self.col, self.fn = rot, np.asarray(axis, float), col, fn


class TorchFK:
    """Batched forward kinematics (and Jacobian) of ``tree``'s ``markers``.

    Args:
        tree: the model (:func:`~simspine_hub.osim.xml.read_osim`).
        markers: names of the markers to place (all of the tree's when None).
        dtype, device: torch dtype and device of the constants (and so of the computation).
    """

    def __init__(self, tree: KinematicTree, markers: list[str] | tuple[str, ...] | None = None,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> None:
        self.tree = tree
        self.dtype, self.device = dtype, torch.device(device)
        self.marker_names = tuple(tree.markers) if markers is None else tuple(markers)
        missing = [n for n in self.marker_names if n not in tree.markers]
        if missing:
            raise KeyError(f"marker {missing[0]!r} is not on the model")
        col = {n: i for i, n in enumerate(tree.coordinate_names)}
        parent_of = {j.child: j.parent for j in tree.joints}
        needed = set()
        for n in self.marker_names:
            b = tree.markers[n][0]
            while b in parent_of and b not in needed:
                needed.add(b)
                b = parent_of[b]
        t = self._t
        self.axes: list[_Axis] = []
        self.joints = []                      # (parent, child, RF, tF, RM^T, tM, kind, [axis indices])
        for j in tree.joints:
            if j.child not in needed:
                continue
            if j.kind == "CustomJoint":
                spec = [(k < 3, a, None if c is None else col[c], fn) for k, (a, c, fn) in enumerate(j.axes)]
            elif j.kind == "PinJoint":
                spec = [(True, _UNIT[2], col[j.coordinates[0]], AxisFunction("linear", slope=1.0))]
            elif j.kind == "UniversalJoint":
                spec = [(True, _UNIT[k], col[c], AxisFunction("linear", slope=1.0)) for k, c in enumerate(j.coordinates)]
            else:
                spec = []
            ids = []
            for rot, a, c, fn in spec:
                ids.append(len(self.axes))
                self.axes.append(_Axis(rot, a, c, fn))
            (RF, tF), (RM, tM) = j.parent_offset, j.child_offset
            self.joints.append((j.parent, j.child, t(RF), t(tF), t(RM.T), t(tM), j.kind, ids))
        self.marker_body = [tree.markers[n][0] for n in self.marker_names]
        self.marker_loc = t(np.stack([tree.markers[n][1] for n in self.marker_names]))     # (M, 3)
        self.axis_vec = t(np.stack([a.axis for a in self.axes]))                            # (A, 3)
        self._prepare_functions()
        # which axes move which marker: those of the joints on the marker body's chain to the ground
        joint_of_axis = {i: k for k, jt in enumerate(self.joints) for i in jt[7]}
        chain = {}
        for k, jt in enumerate(self.joints):
            chain[jt[1]] = chain.get(jt[0], []) + [k]
        self._pairs = [(m, i) for m, b in enumerate(self.marker_body) for i in range(len(self.axes))
                       if self.axes[i].col is not None and joint_of_axis[i] in chain[b]]

    def _t(self, x) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=self.dtype, device=self.device)

    def _prepare_functions(self) -> None:
        """Group the axes by function kind for vectorised evaluation."""
        lin = [i for i, a in enumerate(self.axes) if a.fn.kind == "linear" and a.col is not None]
        self._lin = (torch.tensor(lin, dtype=torch.long, device=self.device),
                     torch.tensor([self.axes[i].col for i in lin], dtype=torch.long, device=self.device),
                     self._t([a.fn.scale * a.fn.slope for a in (self.axes[i] for i in lin)]),
                     self._t([a.fn.scale * a.fn.intercept for a in (self.axes[i] for i in lin)]))
        const = [i for i, a in enumerate(self.axes) if i not in set(lin) and a.col is None]
        self._const = (torch.tensor(const, dtype=torch.long, device=self.device),
                       self._t([float(self.axes[i].fn(np.zeros(1))[0]) for i in const]))
        self._splines = []
        for i, a in enumerate(self.axes):
            if a.col is None or a.fn.kind == "linear":
                continue
            if a.fn.kind == "constant":
                self._splines.append((i, a.col, None))
                continue
            b, c, d = a.fn.coef
            self._splines.append((i, a.col, (self._t(a.fn.x), self._t(a.fn.y), self._t(b), self._t(c), self._t(d),
                                             a.fn.scale)))

    def _functions(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) coordinates -> axis values (B, A) and their derivatives d value / d coordinate (B, A)."""
        B, A = q.shape[0], len(self.axes)
        v = q.new_zeros(B, A)
        dv = q.new_zeros(B, A)
        idx, cols, slope, icpt = self._lin
        if len(idx):
            v[:, idx] = q[:, cols] * slope + icpt
            dv[:, idx] = slope.expand(B, -1)
        cidx, cval = self._const
        if len(cidx):
            v[:, cidx] = cval.expand(B, -1)
        for i, c, spl in self._splines:
            if spl is None:                  # a constant function of a coordinate
                v[:, i] = float(self.axes[i].fn(np.zeros(1))[0])
                continue
            x, y, b, cc, d, scale = spl
            qi = q[:, c]
            k = torch.clamp(torch.searchsorted(x, qi.detach().contiguous(), right=True) - 1, 0, len(x) - 2)
            dx = qi - x[k]
            val = y[k] + dx * (b[k] + dx * (cc[k] + dx * d[k]))
            der = b[k] + dx * (2 * cc[k] + 3 * dx * d[k])
            lo, hi = qi < x[0], qi > x[-1]
            val = torch.where(lo, y[0] + (qi - x[0]) * b[0], torch.where(hi, y[-1] + (qi - x[-1]) * b[-1], val))
            der = torch.where(lo, b[0], torch.where(hi, b[-1], der))
            v[:, i], dv[:, i] = scale * val, scale * der
        return v, dv

    def _rotations(self, v: torch.Tensor) -> torch.Tensor:
        """Axis values (B, A) -> rotation matrices (B, A, 3, 3) about each axis (Rodrigues; translations unused)."""
        a = self.axis_vec
        K = torch.zeros(len(self.axes), 3, 3, dtype=self.dtype, device=self.device)
        K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -a[:, 2], a[:, 1], -a[:, 0]
        K = K - K.transpose(1, 2)
        aaT = a[:, :, None] * a[:, None, :]
        c, s = torch.cos(v)[..., None, None], torch.sin(v)[..., None, None]
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        return eye * c + s * K + (1.0 - c) * aaT

    def use_variables(self, var_of_coord: np.ndarray, var_scale: np.ndarray, n_vars: int) -> None:
        """Differentiate with respect to V variables instead of the C coordinates: coordinate c depends on
        variable ``var_of_coord[c]`` (-1: on none) with d coordinate / d variable = ``var_scale[c]``."""
        var_of_coord = np.asarray(var_of_coord, dtype=np.int64)
        pairs = [(m, i) for m, i in self._pairs if var_of_coord[self.axes[i].col] >= 0]
        dev = self.device
        cols = np.array([self.axes[i].col for _, i in pairs], dtype=np.int64)
        self._jac = (n_vars,
                     torch.tensor([m for m, _ in pairs], dtype=torch.long, device=dev),
                     torch.tensor([i for _, i in pairs], dtype=torch.long, device=dev),
                     torch.tensor([self.axes[i].rot for _, i in pairs], dtype=torch.bool, device=dev),
                     self._t(np.asarray(var_scale, dtype=np.float64)[cols]),
                     torch.tensor(np.array([m for m, _ in pairs], dtype=np.int64) * n_vars + var_of_coord[cols],
                                  dtype=torch.long, device=dev))

    def forward(self, q: torch.Tensor, jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Marker positions (B, M, 3) m, and their Jacobian (B, M, 3, V) when ``jacobian``.

        Args:
            q: (B, C) coordinates (rad / m), C = the tree's coordinate count.
            jacobian: also return d positions / d variables (the coordinates themselves, V = C, unless
                :meth:`use_variables` set others).
        """
        B = q.shape[0]
        v, dv = self._functions(q)
        R_ax = self._rotations(v)
        eye = torch.eye(3, dtype=self.dtype, device=self.device).expand(B, 3, 3)
        poses = {"ground": (eye, q.new_zeros(B, 3))}
        W = [None] * len(self.axes)
        centre = [None] * len(self.axes)
        for parent, child, RF, tF, RMT, tM, _kind, ids in self.joints:
            RG, pG = poses[parent]
            RGF = RG @ RF
            pGF = pG + RG @ tF
            Rcum, pGM = RGF, pGF
            rot_ids = [i for i in ids if self.axes[i].rot]
            for i in ids:
                if not self.axes[i].rot:
                    w = RGF @ self.axis_vec[i]
                    pGM = pGM + v[:, i:i + 1] * w
                    W[i] = w
            for i in rot_ids:
                W[i] = Rcum @ self.axis_vec[i]
                Rcum = Rcum @ R_ax[:, i]
            for i in rot_ids:
                centre[i] = pGM
            Rc = Rcum @ RMT
            poses[child] = (Rc, pGM - Rc @ tM)
        R = torch.stack([poses[b][0] for b in self.marker_body], 1)             # (B, M, 3, 3)
        p = torch.stack([poses[b][1] for b in self.marker_body], 1)
        P = p + (R @ self.marker_loc[..., None])[..., 0]
        if not jacobian:
            return P, None
        return P, self._jacobian(P, W, centre, dv)

    def _jacobian(self, P, W, centre, dv) -> torch.Tensor:
        if getattr(self, "_jac", None) is None:
            C = len(self.tree.coordinates)
            self.use_variables(np.arange(C), np.ones(C), C)
        n_vars, m_idx, a_idx, rot, scale, target = self._jac
        B, M = P.shape[:2]
        J = P.new_zeros(B, M * n_vars, 3)
        if len(m_idx):
            Wt = torch.stack(W, 1)                                               # (B, A, 3)
            Ct = torch.stack([c if c is not None else torch.zeros_like(W[0]) for c in centre], 1)
            w = Wt[:, a_idx]
            moved = torch.where(rot[:, None], torch.linalg.cross(w, P[:, m_idx] - Ct[:, a_idx], dim=-1), w)
            J.index_add_(1, target, moved * (dv[:, a_idx] * scale)[..., None])
        return J.view(B, M, n_vars, 3).transpose(2, 3)
