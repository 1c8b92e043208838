"""Batched inverse kinematics: the paper's IK objective over whole sequences, in torch (CPU or CUDA).

For a sequence of marker frames ``z_{m,t}`` (metres, OpenSim ground, Y-up; NaN where missing) it minimises

    F(q) = sum_t sum_m w_m ||z_{m,t} - z_m(q_t)||^2  +  lam * sum_c ||D q_c||^2

over the coordinates ``q_t`` (rad / m), ``D`` the order-``order`` difference along time (2: acceleration,
the default), the sum over all of the model's coordinates. Constraints as OpenSim's IK applies them:

* linear ``CoordinateCouplerConstraint`` s substituted exactly: the variables are the independent,
  unlocked coordinates that move a marker (40 of the paper model's 62 at most; coupled ones follow as
  ``slope * q_ind + intercept``); locked coordinates and those that move no marker stay at their default;
* coordinate ranges are bounds for ``clamped`` coordinates (dependent ones bound their independent);
* a NaN marker leaves its frame's sum.

The solver is Levenberg-Marquardt with an active set for the bounds (projected steps). ``lam = 0`` is
per-frame IK: every frame is its own small problem, all frames solved at once (batched n x n Cholesky).
``lam > 0`` couples frames: starting from the per-frame solution of every 16th frame, interpolated in
between, it iterates on the stacked problem,
whose normal matrix is block-banded in time (:mod:`simspine_hub.osim.ik_temporal`, solved by a block
Cholesky in torch, :mod:`simspine_hub.osim.banded`; never dense). Jacobians are analytic: torch
(:class:`~simspine_hub.osim.torch_fk.TorchFK`, any device) or, on the CPU in float64, the same arithmetic
compiled (:mod:`simspine_hub.osim._ik_kernel`). Initial guess: the root body placed on its markers (Kabsch),
other coordinates at ``start_pose``; warm starts coarse to fine in time (:meth:`BatchedIK.per_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simspine_hub.osim import _ik_kernel
from simspine_hub.osim.ik_setup import IKVariables, initial_coordinates
from simspine_hub.osim.ik_temporal import solve_jointly
from simspine_hub.osim.torch_fk import TorchFK
from simspine_hub.osim.xml import KinematicTree

__all__ = ["BatchedIK", "IKResult"]


@dataclass
class IKResult:
    """Per sequence: coordinates (T, C) rad / m, weighted marker cost per frame (T,) m^2, marker RMS (T,) m
    (unweighted, over the markers present), and the full objective (the temporal term included)."""

    q: np.ndarray
    marker_cost: np.ndarray
    marker_rms: np.ndarray
    objective: float
    iterations: int


class BatchedIK:
    """IK of one model with a fixed marker set and weights.

    Args:
        tree: the (scaled) model, read from its .osim (:func:`~simspine_hub.osim.xml.read_osim`).
        markers: the M marker names, in the column order of the marker arrays given to :meth:`solve`.
        weights: (M,) weights w_m (> 0).
        device, dtype: where and in which precision to compute (float64 on the CPU by default).
    """

    def __init__(self, tree: KinematicTree, markers: list[str] | tuple[str, ...], weights: np.ndarray,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64,
                 backend: str = "auto") -> None:
        self.tree, self.markers = tree, tuple(markers)
        self.weights = np.asarray(weights, dtype=np.float64)
        if self.weights.shape != (len(self.markers),) or not (self.weights > 0).all():
            raise ValueError(f"weights: expected {len(self.markers)} positive values, got {self.weights}")
        self.device, self.dtype = torch.device(device), dtype
        self.fk = TorchFK(tree, self.markers, dtype=dtype, device=device)
        self.vars = IKVariables(tree, self.fk)
        self.fk.use_variables(self.vars.var_of_coord, self.vars.var_scale, self.vars.n)
        t = self._t
        C = len(tree.coordinates)
        cmat = np.zeros((self.vars.n, C))                  # q = q0 + z @ cmat
        cols = np.flatnonzero(self.vars.var_of_coord >= 0)
        cmat[self.vars.var_of_coord[cols], cols] = self.vars.var_scale[cols]
        self._q0, self._cmat = t(self.vars.q0), t(cmat)
        self._lo, self._hi = t(self.vars.lower), t(self.vars.upper)
        self._w = t(self.weights)
        if backend not in ("auto", "torch", "numba"):
            raise ValueError(f"backend must be auto, torch or numba, got {backend!r}")
        cpu64 = self.device.type == "cpu" and dtype == torch.float64
        if backend == "numba" and not (cpu64 and _ik_kernel.available()):
            raise ValueError("the numba backend runs on the CPU in float64 only")
        self.backend = "numba" if backend == "numba" or (backend == "auto" and cpu64 and _ik_kernel.available()) \
            else "torch"
        self._tables = _ik_kernel.KernelTables(self.fk, self.vars.var_of_coord, self.vars.var_scale, self.vars.n) \
            if self.backend == "numba" else None
        self.marquardt = 0.0

    def _t(self, x) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=self.dtype, device=self.device)

    # --- model side ---------------------------------------------------------------------------------------
    def coordinates(self, z: torch.Tensor) -> torch.Tensor:
        """(B, n) variables -> (B, C) coordinates (couplers applied, fixed coordinates at their defaults)."""
        return torch.addmm(self._q0, z, self._cmat)

    def _evaluate(self, z, Z, w, normal: bool = True):
        """Cost (B,), and when ``normal`` the Gauss-Newton blocks H = J^T W J (B, n, n), g = J^T W r (B, n)."""
        if self.backend == "numba":
            cost, H, g, _ = _ik_kernel.evaluate(self._tables, self.coordinates(z).numpy(), Z.numpy(), w.numpy(), normal)
            return torch.from_numpy(cost), None if H is None else torch.from_numpy(H), \
                None if g is None else torch.from_numpy(g)
        P, J = self.fk.forward(self.coordinates(z), jacobian=normal)
        r = torch.nan_to_num(Z - P) * (w > 0)[..., None]
        cost = (w * (r * r).sum(-1)).sum(-1)
        if not normal:
            return cost, None, None
        B, M, _, n = J.shape
        sw = w.sqrt()
        Jw = (J * sw[:, :, None, None]).reshape(B, 3 * M, n)
        H = Jw.transpose(1, 2) @ Jw
        g = (Jw.transpose(1, 2) @ (r * sw[..., None]).reshape(B, 3 * M, 1))[..., 0]
        return cost, H, g

    def _step(self, z, H, g, mu):
        """Damped, bound-aware Gauss-Newton step per frame: the trial point (B, n), the decrease of the cost
        the quadratic model predicts for it (B,), and whether the damped system was factorised (B,)."""
        if self.backend == "numba":
            out = _ik_kernel.lm_step(z.numpy(), H.numpy(), g.numpy(), mu.numpy(), self._lo.numpy(), self._hi.numpy())
            return tuple(torch.from_numpy(x) for x in out)
        fixed = ((z <= self._lo) & (g < 0)) | ((z >= self._hi) & (g > 0))
        free = (~fixed).to(z.dtype)
        d = torch.diagonal(H, dim1=-2, dim2=-1)
        scale = d.amax(-1, keepdim=True).clamp_min(1e-12)
        A = H * free[:, :, None] * free[:, None, :] + torch.diag_embed(mu[:, None] * scale + (1 - free))
        L, info = torch.linalg.cholesky_ex(A)
        delta = torch.cholesky_solve((g * free)[..., None], L)[..., 0]
        factored = info == 0
        delta = torch.where(factored[:, None], delta, torch.zeros_like(delta)) * free
        zt = torch.minimum(torch.maximum(z + delta, self._lo), self._hi)
        delta = zt - z
        pred = 2 * (g * delta).sum(-1) - (delta[:, None, :] @ H @ delta[:, :, None])[:, 0, 0]
        return zt, pred, factored

    # --- per-frame stage ----------------------------------------------------------------------------------
    def solve_frames(self, Z: torch.Tensor, w: torch.Tensor, z: torch.Tensor, max_iter: int = 60,
                     rtol: float = 1e-5, mu0: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Levenberg-Marquardt per frame on (B, M, 3) markers with (B, M) weights from (B, n) starts, all
        frames at once; a frame stops when an accepted step lowers its cost by less than ``rtol`` of it.
        Damping mu * max(diag H) * I, updated from the gain ratio (Nielsen's rule). Returns z, cost, iterations."""
        z = torch.minimum(torch.maximum(z, self._lo), self._hi)
        cost, H, g = self._evaluate(z, Z, w)
        mu = torch.full_like(cost, mu0)
        nu = torch.full_like(cost, 2.0)
        todo = torch.arange(len(z), device=self.device)
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007
            c0 = cost[todo]
            zt, pred, factored = self._step(z[todo], H[todo], g[todo], mu[todo])
            ct, Ht, gt = self._evaluate(zt, Z[todo], w[todo])
            ok = (ct <= c0) & factored
            rho = torch.where(pred > 0, (c0 - ct) / pred.clamp_min(1e-300), torch.full_like(c0, 0.5))
            done = (ok & (c0 - ct <= rtol * c0)) | (factored & (pred >= 0) & (pred <= rtol * c0)) | (mu[todo] > 1e10)
            acc = todo[ok]
            z[acc], cost[acc], H[acc], g[acc] = zt[ok], ct[ok], Ht[ok], gt[ok]
            shrink = torch.clamp(1 - (2 * rho - 1) ** 3, min=1 / 3)
            mu[todo] = torch.where(ok, (mu[todo] * shrink).clamp_min(1e-15), mu[todo] * nu[todo])
            nu[todo] = torch.where(ok, torch.full_like(ct, 2.0), nu[todo] * 2)
            todo = todo[~done]
            if len(todo) == 0:
                break
        return z, cost, it

    # --- per-frame IK, coarse to fine in time -------------------------------------------------------------
    def per_frame(self, Z: torch.Tensor, w: torch.Tensor, z: torch.Tensor, lengths: list[int], stride: int = 16,
                  rounds: int = 2, max_iter: int = 60, coarse_only: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Per-frame IK of sequences laid end to end ((N, M, 3) markers, (N, M) weights, (N, n) starts,
        ``lengths`` summing to N), each frame warm-started from its neighbours in time:

        1. every ``stride``-th frame (and each sequence's last) from ``z``; then, ``rounds`` times, also from
           the previous such frame's solution, keeping the lower cost (ties to the warm start);
        2. periodic (2 pi) variables unwrapped along those frames;
        3. the frames halfway between solved ones, started from the linear interpolation of their two
           solved neighbours, halving the gap until every frame is solved.

        With ``coarse_only`` step 3 only interpolates (a smooth start for the temporal stage; cost then 0 on
        the interpolated frames). Returns z (N, n), cost (N,), LM iterations run (summed over the batched
        solves)."""
        dev = self.device
        N = len(z)
        seq = np.repeat(np.arange(len(lengths)), lengths)
        pos = np.arange(N) - np.repeat(np.cumsum([0] + list(lengths))[:-1], lengths)
        last = pos == np.repeat(np.asarray(lengths) - 1, lengths)
        coarse = np.flatnonzero((pos % stride == 0) | last)
        z, cost = z.clone(), z.new_zeros(N)
        idx = torch.as_tensor(coarse, device=dev)
        z[idx], cost[idx], iters = self.solve_frames(Z[idx], w[idx], z[idx], max_iter)
        has_prev = np.flatnonzero(pos[coarse] > 0)
        for _ in range(rounds if len(has_prev) else 0):
            tgt, src = idx[has_prev], idx[has_prev - 1]
            zc, cc, it = self.solve_frames(Z[tgt], w[tgt], z[src].clone(), max_iter, mu0=1e-6)
            better = cc <= cost[tgt] * (1 + 1e-9) + 1e-18
            z[tgt[better]], cost[tgt[better]] = zc[better], cc[better]
            iters += it
        z[idx] = self._unwrap(z[idx], seq[coarse])
        solved = np.zeros(N, bool)
        solved[coarse] = True
        step = stride
        while not solved.all():
            step = max(step // 2, 1)
            have = np.flatnonzero(solved)
            todo = np.flatnonzero(~solved & (pos % step == 0))
            if len(todo) == 0:
                continue
            k = np.searchsorted(have, todo)
            left, right = have[k - 1], have[np.minimum(k, len(have) - 1)]
            frac = torch.as_tensor((todo - left) / np.maximum(right - left, 1), dtype=self.dtype, device=dev)
            lt, rt, tt = (torch.as_tensor(a, device=dev) for a in (left, right, todo))
            z0 = z[lt] + frac[:, None] * (z[rt] - z[lt])
            if coarse_only:
                z[tt] = z0
            else:
                z[tt], cost[tt], it = self.solve_frames(Z[tt], w[tt], z0, max_iter, mu0=1e-6)
                iters += it
            solved[todo] = True
        z = self._unwrap(z, seq)
        if not coarse_only:
            z, cost, iters = self._repair(Z, w, z, cost, seq, iters, max_iter)
        return z, cost, iters

    def _repair(self, Z, w, z, cost, seq, iters, max_iter, rounds: int = 3, jump: float = 0.1, spike: float = 1.5):
        """Frames that look stuck in another basin than their neighbours -- the solution leaves the line between
        them by more than ``jump`` (rad or m) in some variable, and the cost exceeds ``spike`` times the lower
        neighbour's -- are solved again from each neighbour's solution; the lowest cost wins. Repeated while
        something improves (at most ``rounds`` times)."""
        same_prev = np.r_[False, seq[1:] == seq[:-1]]
        same_next = np.r_[seq[:-1] == seq[1:], False]
        inner = torch.as_tensor(same_prev & same_next, device=self.device)
        for _ in range(rounds):
            dev = (z - 0.5 * (torch.roll(z, 1, 0) + torch.roll(z, -1, 0))).abs().amax(-1)
            low = torch.minimum(torch.roll(cost, 1, 0), torch.roll(cost, -1, 0))
            cand = torch.nonzero(inner & (dev > jump) & (cost > spike * low + 1e-12))[:, 0]
            if len(cand) == 0:
                break
            improved = False
            for nb in (cand - 1, cand + 1):
                zc, cc, it = self.solve_frames(Z[cand], w[cand], z[nb].clone(), max_iter, mu0=1e-6)
                iters += it
                better = cc < cost[cand] * (1 - 1e-6)
                improved |= bool((cc < cost[cand] * (1 - 1e-3)).any())        # worth another round
                z[cand[better]], cost[cand[better]] = zc[better], cc[better]
            if not improved:
                break
        return z, cost, iters

    def _unwrap(self, z: torch.Tensor, seq: np.ndarray) -> torch.Tensor:
        """Shift 2 pi-periodic variables by whole turns so that consecutive frames of a sequence differ by < pi."""
        per = np.flatnonzero(self.vars.periodic)
        if len(per) == 0:
            return z
        zn = z.cpu().numpy().copy()
        for s in np.unique(seq):
            rows = np.flatnonzero(seq == s)
            zn[np.ix_(rows, per)] = np.unwrap(zn[np.ix_(rows, per)], axis=0)
        return torch.as_tensor(zn, dtype=self.dtype, device=self.device)

    def objective(self, q: np.ndarray, markers: np.ndarray, lam: float = 0.0, order: int = 2
                  ) -> tuple[float, np.ndarray]:
        """The full objective F of (T, C) coordinates ``q`` (taken as given: apply the couplers first) on (T, M, 3)
        markers (m, NaN = missing): (F, per-frame weighted marker cost (T,)). The temporal term sums over all
        C coordinates, as :meth:`solve` minimises it."""
        Z = self._t(markers)
        w = self._w * torch.isfinite(Z).all(-1)
        P, _ = self.fk.forward(self._t(q))
        cost = (w * (torch.nan_to_num(Z - P) ** 2).sum(-1)).sum(-1).cpu().numpy()
        dq = np.diff(np.asarray(q, dtype=np.float64), n=order, axis=0)
        return float(cost.sum() + lam * (dq ** 2).sum()), cost

    # --- public entry -------------------------------------------------------------------------------------
    def solve(self, sequences: list[np.ndarray] | np.ndarray, lam: float = 0.0, order: int = 2,
              q_init: list[np.ndarray] | None = None, start_pose: np.ndarray | None = None,
              max_iter: int = 60, coarse_start: bool = True) -> list[IKResult]:
        """IK of one or more sequences of (T, M, 3) markers (metres, OpenSim ground, NaN = missing).

        ``q_init``: per sequence (T, C) starting coordinates (default: root on its markers, the rest at
        ``start_pose`` (C,), itself by default the model's default pose). Returns one :class:`IKResult`
        per sequence. With ``lam > 0`` and ``coarse_start`` the temporal stage starts from the per-frame
        solution of every 16th frame interpolated in between (smooth), else from the full per-frame solution.
        """
        if isinstance(sequences, np.ndarray):
            sequences = [sequences]
        M = len(self.markers)
        for k, seq in enumerate(sequences):
            if seq.ndim != 3 or seq.shape[1:] != (M, 3):
                raise ValueError(f"sequence {k}: markers must be (T, {M}, 3) metres, got {seq.shape}")
        if lam < 0 or order not in (1, 2, 3):
            raise ValueError(f"need lam >= 0 and order in 1..3, got lam={lam}, order={order}")
        if not sequences:
            return []
        Zs = [self._t(seq) for seq in sequences]
        ws = [self._w * torch.isfinite(Zi).all(-1) for Zi in Zs]
        if q_init is None:
            q_init = [initial_coordinates(self.tree, self.markers, seq, start_pose) for seq in sequences]
        zs = [self._t(self.vars.variables_of(q)) for q in q_init]
        split = [len(x) for x in zs]
        z, cost, iters = self.per_frame(torch.cat(Zs), torch.cat(ws), torch.cat(zs), split, max_iter=max_iter,
                                        coarse_only=lam > 0 and coarse_start)
        zs, costs = list(torch.split(z, split)), list(torch.split(cost, split))
        F = torch.stack([c.sum() for c in costs])
        if lam > 0:
            zs, costs, F, it2 = solve_jointly(self, Zs, ws, zs, lam, order)
            iters += it2
        out = []
        for Zi, wi, zi, ci, Fi in zip(Zs, ws, zs, costs, F):
            q = self.coordinates(zi)
            P, _ = self.fk.forward(q)
            d2 = (torch.nan_to_num(Zi - P) ** 2).sum(-1) * (wi > 0)
            rms = (d2.sum(-1) / (wi > 0).sum(-1).clamp_min(1)).sqrt()
            out.append(IKResult(q.cpu().numpy(), ci.cpu().numpy(), rms.cpu().numpy(), float(Fi), iters))
        return out
