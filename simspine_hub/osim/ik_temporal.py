"""The temporal stage of batched IK: Levenberg-Marquardt on the stacked problem of whole sequences.

Minimises, per sequence, ``F(z) = sum_t c_t(z_t) + lam * sum_k s_k ||D z_k||^2`` (``c_t`` the weighted marker
cost of frame t, ``D`` the order-p difference along time, ``s_k`` the variable's temporal weight, see
:class:`~simspine_hub.osim.ik_setup.IKVariables`) from a per-frame solution. Each step solves

    (blockdiag(J_t^T W J_t) + lam * (D^T D kron diag(s)) + mu * scale * I) delta = -grad F / 2

with the normal matrix block-banded in time (:func:`~simspine_hub.osim.banded.solve_banded`: LAPACK's banded
Cholesky per sequence on the CPU, a batched block Cholesky on CUDA; never dense); variables at an active bound
are held (their rows and columns replaced by the identity). Sequences of different lengths are padded to the
longest and evaluated together; padded frames are decoupled identities.
A sequence's step is kept when F does not increase; the damping follows Nielsen's rule.
"""

from __future__ import annotations

import numpy as np
import torch

from simspine_hub.osim.banded import difference_gram, solve_banded

__all__ = ["solve_jointly"]


def _pad(xs: list[torch.Tensor], T: int) -> torch.Tensor:
    return torch.stack([torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, T - len(x))) for x in xs])


def _temporal(z: torch.Tensor, valid_d: torch.Tensor, s: torch.Tensor, lam: float, order: int):
    """Padded (S, T, n) variables -> lam * sum s_k ||D z_k||^2 per sequence (S,) and its gradient / 2 (S, T, n)."""
    dz = torch.diff(z, n=order, dim=1) * valid_d[..., None]
    value = lam * (s * dz * dz).sum((1, 2))
    grad = lam * s * (-1) ** order * torch.diff(torch.nn.functional.pad(dz, (0, 0, order, order)), n=order, dim=1)
    return value, grad


def solve_jointly(ik, Zs: list[torch.Tensor], ws: list[torch.Tensor], zs: list[torch.Tensor], lam: float,
                  order: int = 2, max_iter: int = 6, rtol: float = 1e-5):
    """Joint solve of S sequences ((T_s, M, 3) markers, (T_s, M) weights, (T_s, n) starts) for a
    :class:`~simspine_hub.osim.ik.BatchedIK` ``ik``. Returns (z list, per-frame cost list, F (S,), iterations)."""
    dev, dt = ik.device, ik.dtype
    lengths = [len(z) for z in zs]
    S, T, n = len(zs), max(lengths), ik.vars.n
    valid = torch.as_tensor(np.arange(T)[None] < np.array(lengths)[:, None], device=dev)       # (S, T)
    valid_d = valid[:, order:] if T > order else valid[:, :0]
    s = torch.as_tensor(ik.vars.smooth_weight, dtype=dt, device=dev)
    bands = torch.as_tensor(np.stack([np.pad(difference_gram(L, order), ((0, 0), (0, T - L))) for L in lengths]),
                            dtype=dt, device=dev) * lam                                         # (S, p+1, T)
    Z, w = torch.cat(Zs), torch.cat(ws)
    flat = valid.reshape(-1)
    z = _pad(zs, T)

    def evaluate(z):
        cost_f, H_f, g_f = ik._evaluate(z.reshape(-1, n)[flat], Z, w)
        cost = z.new_zeros(S * T).masked_scatter(flat, cost_f).reshape(S, T)
        H = z.new_zeros(S * T, n, n)
        H[flat] = H_f
        g = z.new_zeros(S * T, n)
        g[flat] = g_f
        return cost, H.reshape(S, T, n, n), g.reshape(S, T, n)

    cost, H, g = evaluate(z)
    F = cost.sum(1) + _temporal(z, valid_d, s, lam, order)[0]
    mu = torch.full((S,), 1e-6, dtype=dt, device=dev)
    nu = torch.full((S,), 2.0, dtype=dt, device=dev)
    active = torch.ones(S, dtype=torch.bool, device=dev)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        zt, pred = _step(ik, z, H, g, mu, bands, s, valid, valid_d, lam, order)
        ct, Ht, gt = evaluate(zt)
        Ft = ct.sum(1) + _temporal(zt, valid_d, s, lam, order)[0]
        ok = (Ft <= F) & active
        rho = torch.where(pred > 0, (F - Ft) / pred.clamp_min(1e-300), torch.full_like(F, 0.5))
        done = (ok & (F - Ft <= rtol * F)) | ((pred >= 0) & (pred <= rtol * F)) | (mu > 1e10)
        z = torch.where(ok[:, None, None], zt, z)
        cost = torch.where(ok[:, None], ct, cost)
        H = torch.where(ok[:, None, None, None], Ht, H)
        g = torch.where(ok[:, None, None], gt, g)
        F = torch.where(ok, Ft, F)
        shrink = torch.clamp(1 - (2 * rho - 1) ** 3, min=1 / 3)
        mu = torch.where(ok, (mu * shrink).clamp_min(1e-15), torch.where(active, mu * nu, mu))
        nu = torch.where(ok, torch.full_like(nu, 2.0), nu * 2)
        active &= ~done
        if not active.any():
            break
    return [z[k, :L] for k, L in enumerate(lengths)], [cost[k, :L] for k, L in enumerate(lengths)], F, it


def _step(ik, z, H, g, mu, bands, s, valid, valid_d, lam, order):
    """One damped, bound-aware step of the stacked problems: trial (S, T, n) and predicted decrease of F (S,)."""
    S, T, n = z.shape
    rhs = (g - _temporal(z, valid_d, s, lam, order)[1]) * valid[..., None]
    fixed = ((z <= ik._lo) & (rhs < 0)) | ((z >= ik._hi) & (rhs > 0)) | ~valid[..., None]
    free = (~fixed).to(z.dtype)
    tdiag = bands[:, 0, :, None] * s                                                   # (S, T, n)
    A = H + torch.diag_embed(tdiag)
    scale = torch.diagonal(A, dim1=-2, dim2=-1).amax((-1, -2)).clamp_min(1e-12)     # (S,)
    A = A * free[..., :, None] * free[..., None, :] + torch.diag_embed(mu[:, None, None] * scale[:, None, None]
                                                                       * free + (1 - free))
    off = torch.zeros(S, order, T, n, dtype=z.dtype, device=z.device)
    for e in range(1, order + 1):
        if T > e:
            off[:, e - 1, :T - e] = bands[:, e, :T - e, None] * s * free[:, :T - e] * free[:, e:]
    delta = solve_banded(A, off, rhs * free, valid.sum(1).tolist()) * free
    zt = torch.minimum(torch.maximum(z + delta, ik._lo), ik._hi)
    delta = zt - z
    Hd = (H @ delta[..., None])[..., 0]
    quad = (delta * Hd).sum((1, 2)) + _temporal(delta, valid_d, s, lam, order)[0]
    pred = 2 * (rhs * delta).sum((1, 2)) - quad
    return zt, pred
