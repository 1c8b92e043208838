"""Symmetric block-banded linear systems of the temporal IK problem, solved without forming a dense matrix.

The normal matrix of ``sum_t ||r_t(z_t)||^2_W + lam * sum_k s_k ||D z_k||^2`` (``D`` the order-``p`` finite
difference along time, ``z_t`` the n variables of frame t) is block-banded: a dense n x n block per frame on
the diagonal, and ``p`` block diagonals below it whose blocks are diagonal matrices (``lam * s_k *
(D^T D)[t + e, t]``). Ordered frame-major, its scalar bandwidth is ``p * n``.

Two solvers of the same system, checked against each other and a dense solve in ``tests/test_ik.py``
(:func:`solve_banded` picks one):

* :func:`solve_banded_lapack`: LAPACK's banded Cholesky (``scipy.linalg.cholesky_banded``), per sequence,
  float64 numpy on the CPU (the faster one there: 2.7-4.7x in two runs at 43,650 frames x 36 variables, one
  thread, and under half the working memory);
* :func:`solve_block_banded`: a block Cholesky in torch over groups of p frames, batched over sequences (CPU
  or CUDA).

Shapes: ``diag`` (S, T, n, n), ``off`` (S, p, T, n) with ``off[:, e - 1, t]`` the diagonal of block
(t + e, t) (entries past the end ignored), ``rhs`` (S, T, n).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import cho_solve_banded, cholesky_banded
from threadpoolctl import threadpool_limits

__all__ = ["difference_gram", "solve_banded", "solve_banded_lapack", "solve_block_banded"]


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


def solve_banded_lapack(diag: np.ndarray, off: np.ndarray, rhs: np.ndarray,
                        lengths: list[int] | None = None) -> np.ndarray:
    """Solve each sequence's system with LAPACK's banded Cholesky (``dpbtrf``/``dpbtrs``): (S, T, n) out.

    ``lengths``: frames of each sequence (default T); frames past a sequence's length are not solved (zero).
    Band storage ``ab[k, j] = A[j + k, j]``, filled one diagonal at a time (no per-entry index arrays)."""
    S, T, n, _ = diag.shape
    p = off.shape[1]
    kd = p * n
    out = np.zeros_like(rhs)
    for s in range(S):
        L = T if lengths is None else int(lengths[s])
        if L == 0:
            continue
        ab = np.zeros((kd + 1, L * n))
        for k in range(n):                                     # diagonal k below the main one, inside frames
            ab[k].reshape(L, n)[:, :n - k] = np.diagonal(diag[s, :L], offset=-k, axis1=1, axis2=2)
        for e in range(1, p + 1):                              # frame t + e to frame t: diagonal blocks
            if L > e:
                ab[e * n, :(L - e) * n] = off[s, e - 1, :L - e].reshape(-1)
        chol = cholesky_banded(ab, lower=True, check_finite=False)
        out[s, :L] = cho_solve_banded((chol, True), rhs[s, :L].reshape(-1), check_finite=False).reshape(L, n)
    return out


def solve_banded(diag: torch.Tensor, off: torch.Tensor, rhs: torch.Tensor, lengths: list[int] | None = None
                 ) -> torch.Tensor:
    """The block-banded system by the fastest exact solver for its device: LAPACK's banded Cholesky on the CPU
    in float64 (each sequence over its own ``lengths``), else the batched block Cholesky. Same shapes as
    :func:`solve_block_banded`; raises ``torch.linalg.LinAlgError`` if the system is not positive definite."""
    if diag.device.type != "cpu" or diag.dtype != torch.float64:
        return solve_block_banded(diag, off, rhs)
    try:
        with threadpool_limits(1, user_api="blas"):    # one BLAS thread: same numbers in every process, and no
            x = solve_banded_lapack(diag.numpy(), off.numpy(), rhs.numpy(), lengths)   # spin-waits among workers
    except np.linalg.LinAlgError as exc:
        raise torch.linalg.LinAlgError(str(exc)) from exc
    return torch.from_numpy(x)


def solve_block_banded(diag: torch.Tensor, off: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Block Cholesky of the block-banded system, batched over S (any device and float dtype): (S, T, n) out.

    Frames are grouped ``p`` at a time, which makes the system block-tridiagonal in groups of size p n; one
    Cholesky, one triangular solve and one product per group, then the two triangular sweeps (a loop over
    T / p groups, each step batched over the sequences). Raises ``torch.linalg.LinAlgError`` if the system
    is not positive definite."""
    S, T, n, _ = diag.shape
    p = off.shape[1]
    G = -(-T // p)                                             # groups of p frames (the last one padded)
    pad = G * p - T
    eye = torch.eye(n, dtype=diag.dtype, device=diag.device)
    off = off.clone()
    if pad:
        diag = torch.cat([diag, eye.expand(S, pad, n, n)], 1)
        off = torch.nn.functional.pad(off, (0, 0, 0, pad))
        rhs = torch.nn.functional.pad(rhs, (0, 0, 0, pad))
    Tp = G * p
    for e in range(1, p + 1):                                  # couplings past the real end are none
        off[:, e - 1, max(T - e, 0):] = 0.0
    m = p * n
    D = diag.new_zeros(S, G, m, m)                             # group diagonal blocks
    C = diag.new_zeros(S, G, m, m)                             # C[j] = block (group j + 1, group j)
    for a in range(p):
        D[:, :, a * n:(a + 1) * n, a * n:(a + 1) * n] = diag[:, a::p]
        for b in range(a):                                     # frame a couples to frame b < a in the group
            v = torch.diag_embed(off[:, a - b - 1, b::p])
            D[:, :, a * n:(a + 1) * n, b * n:(b + 1) * n] = v
            D[:, :, b * n:(b + 1) * n, a * n:(a + 1) * n] = v
        for b in range(p):                                     # frame a of group j+1 to frame b of group j
            e = a + p - b
            if e <= p:
                C[:, :Tp // p - 1, a * n:(a + 1) * n, b * n:(b + 1) * n] = \
                    torch.diag_embed(off[:, e - 1, b::p][:, :G - 1])
    R = rhs.reshape(S, G, m)
    Ld, Lo, y = [], [], []
    for j in range(G):
        M = D[:, j] if j == 0 else D[:, j] - Lo[j - 1] @ Lo[j - 1].transpose(-1, -2)
        L = torch.linalg.cholesky(M)
        Ld.append(L)
        if j + 1 < G:
            Lo.append(torch.linalg.solve_triangular(L, C[:, j].transpose(-1, -2), upper=False).transpose(-1, -2))
        b = R[:, j, :, None] if j == 0 else R[:, j, :, None] - Lo[j - 1] @ y[j - 1]
        y.append(torch.linalg.solve_triangular(L, b, upper=False))
    x = [None] * G
    for j in range(G - 1, -1, -1):
        b = y[j] if j == G - 1 else y[j] - Lo[j].transpose(-1, -2) @ x[j + 1]
        x[j] = torch.linalg.solve_triangular(Ld[j].transpose(-1, -2), b, upper=True)
    return torch.stack(x, 1).reshape(S, Tp, n)[:, :T]
