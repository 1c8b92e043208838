"""Symmetric block-banded linear systems of the temporal IK problem, solved without forming a dense matrix.

The normal matrix of ``sum_t ||r_t(z_t)||^2_W + lam * sum_k s_k ||D z_k||^2`` (``D`` the order-``p`` finite
difference along time, ``z_t`` the n variables of frame t) is block-banded: a dense n x n block per frame on
the diagonal, and ``p`` block diagonals below it whose blocks are diagonal matrices (``lam * s_k *
(D^T D)[t + e, t]``). Ordered frame-major, its scalar bandwidth is ``p * n``.

Two solvers of the same system, checked against each other and a dense solve in ``tests/test_ik.py``:

* :func:`solve_banded_lapack`: LAPACK's banded Cholesky (``scipy.linalg.cholesky_banded``), per sequence,
  float64 numpy on the CPU;
* :func:`solve_block_banded`: a block Cholesky in torch, a loop over frames batched over sequences (for CUDA).

Shapes: ``diag`` (S, T, n, n), ``off`` (S, p, T, n) with ``off[:, e - 1, t]`` the diagonal of block
(t + e, t) (entries past the end ignored), ``rhs`` (S, T, n).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import cho_solve_banded, cholesky_banded

__all__ = ["difference_gram", "solve_banded_lapack", "solve_block_banded"]


def difference_gram(T: int, order: int) -> np.ndarray:
    """Bands of ``D^T D`` for the order-``order`` difference along T frames: (order + 1, T), row e holding
    ``(D^T D)[t + e, t]`` at column t (zero where t + e >= T)."""
    c = np.diff(np.eye(order + 1), n=order, axis=0)[0]         # e.g. order 2: [1, -2, 1]
    out = np.zeros((order + 1, T))
    rows = T - order
    for i in range(order + 1):                                 # D[r, r + i] = c[i]
        for j in range(i, order + 1):
            e = j - i                                          # contributes c[i] c[j] to (r + j, r + i)
            if rows > 0:
                np.add.at(out[e], np.arange(rows) + i, c[i] * c[j])
    return out


def solve_banded_lapack(diag: np.ndarray, off: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve each sequence's system with LAPACK's banded Cholesky (``dpbtrf``/``dpbtrs``): (S, T, n) out."""
    S, T, n, _ = diag.shape
    p = off.shape[1]
    kd = p * n
    out = np.empty_like(rhs)
    a, b = np.tril_indices(n)                                  # lower triangle of each diagonal block
    for s in range(S):
        ab = np.zeros((kd + 1, T * n))
        base = np.arange(T)[:, None] * n
        ab[(a - b)[None, :].repeat(T, 0), base + b[None, :]] = diag[s][:, a, b]
        for e in range(1, p + 1):
            if T > e:
                ab[e * n, :(T - e) * n] = off[s, e - 1, :T - e].reshape(-1)
        out[s] = cho_solve_banded((cholesky_banded(ab, lower=True), True), rhs[s].reshape(-1)).reshape(T, n)
    return out


def solve_block_banded(diag: torch.Tensor, off: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Block Cholesky ``A = L L^T`` of the block-banded system and its two triangular sweeps, batched over S
    (any device and float dtype): (S, T, n) out. Raises ``torch.linalg.LinAlgError`` if A is not positive
    definite."""
    S, T, n, _ = diag.shape
    p = off.shape[1]
    Ld: list[torch.Tensor] = []                                # L[t, t]
    Lo: list[list[torch.Tensor]] = [[] for _ in range(p)]      # Lo[e-1][t] = L[t + e, t]
    for t in range(T):
        M = diag[:, t]
        for e in range(1, min(p, t) + 1):
            B = Lo[e - 1][t - e]
            M = M - B @ B.transpose(-1, -2)
        L = torch.linalg.cholesky(M)
        Ld.append(L)
        for e in range(1, p + 1):
            if t + e >= T:
                Lo[e - 1].append(diag.new_zeros(S, n, n))
                continue
            A = torch.diag_embed(off[:, e - 1, t])             # A[t + e, t]
            for j in range(1, p - e + 1):                      # - sum_j L[t+e, t-j] L[t, t-j]^T
                if t - j >= 0:
                    A = A - Lo[e + j - 1][t - j] @ Lo[j - 1][t - j].transpose(-1, -2)
            Lo[e - 1].append(torch.linalg.solve_triangular(L, A.transpose(-1, -2), upper=False).transpose(-1, -2))
    y = []
    for t in range(T):                                         # L y = rhs
        b = rhs[:, t, :, None]
        for e in range(1, min(p, t) + 1):
            b = b - Lo[e - 1][t - e] @ y[t - e]
        y.append(torch.linalg.solve_triangular(Ld[t], b, upper=False))
    x: list[torch.Tensor | None] = [None] * T
    for t in range(T - 1, -1, -1):                             # L^T x = y
        b = y[t]
        for e in range(1, p + 1):
            if t + e < T:
                b = b - Lo[e - 1][t].transpose(-1, -2) @ x[t + e]
        x[t] = torch.linalg.solve_triangular(Ld[t].transpose(-1, -2), b, upper=True)
    return torch.stack(x, 1)[..., 0]
