"""Compiled CPU kernel of batched IK (numba): per frame, forward kinematics, the analytic marker Jacobian and
the Gauss-Newton blocks, fused in one pass that stays in cache; and the damped, bound-aware step.

Same mathematics as :class:`~simspine_hub.osim.torch_fk.TorchFK` and ``BatchedIK._evaluate`` (torch), from
the same flattened tables; ``tests/test_ik.py`` checks that both give the same cost, ``H = J^T W J`` and
``g = J^T W r`` to 1e-12. Each marker row of ``J`` is nonzero only on the variables of its body's chain
(at most ~14 of the 40), so ``H`` is accumulated from those entries alone. One thread: parallelism comes
from processes (``--workers``, Ray); numba's thread pools cost ~10 ms a call on a loaded 2-core machine, more
than a call's work, and a single thread keeps the numbers independent of the machine.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the torch path remains
    njit = None

__all__ = ["available", "KernelTables", "evaluate", "lm_step"]



def available() -> bool:
    return njit is not None


class KernelTables:
    """The flattened model of a :class:`~simspine_hub.osim.torch_fk.TorchFK` (after ``use_variables``) as
    numpy arrays for the kernel."""

    def __init__(self, fk, var_of_coord: np.ndarray, var_scale: np.ndarray, n_vars: int) -> None:
        bodies = ["ground"] + [jt[1] for jt in fk.joints]
        bidx = {b: i for i, b in enumerate(bodies)}
        npf = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
        self.parent = np.array([bidx[jt[0]] for jt in fk.joints], np.int64)
        self.child = np.array([bidx[jt[1]] for jt in fk.joints], np.int64)
        self.RF = np.stack([npf(jt[2]) for jt in fk.joints])
        self.tF = np.stack([npf(jt[3]) for jt in fk.joints])
        self.RMT = np.stack([npf(jt[4]) for jt in fk.joints])
        self.tM = np.stack([npf(jt[5]) for jt in fk.joints])
        self.axis_start = np.cumsum([0] + [len(jt[7]) for jt in fk.joints]).astype(np.int64)
        order = [i for jt in fk.joints for i in jt[7]]
        if order != list(range(len(fk.axes))):
            raise ValueError("axes are not numbered joint by joint")
        ax = fk.axes
        self.is_rot = np.array([a.rot for a in ax], np.bool_)
        self.vec = np.stack([a.axis for a in ax])
        self.col = np.array([-1 if a.col is None else a.col for a in ax], np.int64)
        self.kind = np.array([{"constant": 0, "linear": 1, "spline": 2}[a.fn.kind] for a in ax], np.int64)
        self.fscale = np.array([a.fn.scale for a in ax])
        self.fslope = np.array([a.fn.slope for a in ax])
        self.fint = np.array([a.fn.intercept for a in ax])
        self.fconst = np.array([a.fn.value for a in ax])
        knots = [(np.array(a.fn.x), np.array(a.fn.y), *a.fn.coef) if a.fn.kind == "spline" else None for a in ax]
        lens = [0 if k is None else len(k[0]) for k in knots]
        self.spl_start = np.cumsum([0] + lens).astype(np.int64)
        cat = [np.concatenate([k[i] for k in knots if k is not None] or [np.zeros(0)]) for i in range(5)]
        self.sx, self.sy, self.sb, self.sc, self.sd = cat
        self.marker_body = np.array([bidx[b] for b in fk.marker_body], np.int64)
        self.marker_loc = npf(fk.marker_loc)
        var_of_coord = np.asarray(var_of_coord, np.int64)
        self.var_of_coord, self.var_scale, self.n = var_of_coord, np.asarray(var_scale, np.float64), n_vars
        pairs = [(m, i) for m, i in fk._pairs if var_of_coord[ax[i].col] >= 0]
        M = len(fk.marker_body)
        self.pair_start = np.searchsorted([m for m, _ in pairs], np.arange(M + 1)).astype(np.int64)
        self.pair_axis = np.array([i for _, i in pairs], np.int64)
        mvars = [sorted({int(var_of_coord[ax[i].col]) for mm, i in pairs if mm == m}) for m in range(M)]
        self.mvar_start = np.cumsum([0] + [len(v) for v in mvars]).astype(np.int64)
        self.mvar = np.array([k for v in mvars for k in v], np.int64)
        self.pair_slot = np.array([mvars[m].index(int(var_of_coord[ax[i].col])) for m, i in pairs], np.int64)

    def args(self) -> tuple:
        return (self.parent, self.child, self.RF, self.tF, self.RMT, self.tM, self.axis_start, self.is_rot,
                self.vec, self.col, self.kind, self.fscale, self.fslope, self.fint, self.fconst, self.spl_start,
                self.sx, self.sy, self.sb, self.sc, self.sd, self.marker_body, self.marker_loc, self.var_of_coord,
                self.var_scale, self.pair_start, self.pair_axis, self.pair_slot, self.mvar_start, self.mvar)


#: fast-math flags that keep NaN and infinity semantics (the bounds may be infinite)
_FAST = {"reassoc", "contract", "nsz", "arcp"}

if njit is not None:
    @njit(cache=True, inline="always", fastmath=_FAST, error_model="numpy")
    def _fn(a, x, kind, fscale, fslope, fint, fconst, spl_start, sx, sy, sb, sc, sd):  # pragma: no cover
        """Value and derivative of axis a's function at x."""
        if kind[a] == 0:
            return fscale[a] * fconst[a], 0.0
        if kind[a] == 1:
            return fscale[a] * (fslope[a] * x + fint[a]), fscale[a] * fslope[a]
        s0, s1 = spl_start[a], spl_start[a + 1]
        if x < sx[s0]:
            return fscale[a] * (sy[s0] + (x - sx[s0]) * sb[s0]), fscale[a] * sb[s0]
        if x > sx[s1 - 1]:
            return fscale[a] * (sy[s1 - 1] + (x - sx[s1 - 1]) * sb[s1 - 1]), fscale[a] * sb[s1 - 1]
        k = s0
        while k < s1 - 2 and sx[k + 1] <= x:
            k += 1
        dx = x - sx[k]
        v = sy[k] + dx * (sb[k] + dx * (sc[k] + dx * sd[k]))
        return fscale[a] * v, fscale[a] * (sb[k] + dx * (2.0 * sc[k] + 3.0 * dx * sd[k]))

    @njit(cache=True, inline="always", fastmath=_FAST, error_model="numpy")
    def _rotate(Rc, kx, ky, kz, v, Rr, Rn):  # pragma: no cover - compiled
        """Rc <- Rc @ (rotation by v radians about the unit axis (kx, ky, kz)), Rodrigues; Rr, Rn scratch."""
        cs, sn = math.cos(v), math.sin(v)
        Rr[0, 0] = cs + (1 - cs) * kx * kx
        Rr[0, 1] = -sn * kz + (1 - cs) * kx * ky
        Rr[0, 2] = sn * ky + (1 - cs) * kx * kz
        Rr[1, 0] = sn * kz + (1 - cs) * ky * kx
        Rr[1, 1] = cs + (1 - cs) * ky * ky
        Rr[1, 2] = -sn * kx + (1 - cs) * ky * kz
        Rr[2, 0] = -sn * ky + (1 - cs) * kz * kx
        Rr[2, 1] = sn * kx + (1 - cs) * kz * ky
        Rr[2, 2] = cs + (1 - cs) * kz * kz
        for r in range(3):
            for c in range(3):
                Rn[r, c] = Rc[r, 0] * Rr[0, c] + Rc[r, 1] * Rr[1, c] + Rc[r, 2] * Rr[2, c]
        Rc[:, :] = Rn

    @njit(cache=True, inline="always", fastmath=_FAST, error_model="numpy")
    def _add_marker(b, m, wm, res, P, W, Cn, dv, is_rot, col, var_scale, pair_start, pair_axis, pair_slot,
                    mvar_start, mvar, Jr, H, g):  # pragma: no cover - compiled
        """Marker m's rows of J (its chain's variables only) -> H += w J^T J, g += w J^T r."""
        nv = mvar_start[m + 1] - mvar_start[m]
        Jr[:, :nv] = 0.0
        for p in range(pair_start[m], pair_start[m + 1]):
            a = pair_axis[p]
            gain = dv[a] * var_scale[col[a]]
            s = pair_slot[p]
            if is_rot[a]:                        # w x (p - c)
                dx, dy, dz = P[b, m, 0] - Cn[a, 0], P[b, m, 1] - Cn[a, 1], P[b, m, 2] - Cn[a, 2]
                Jr[0, s] += gain * (W[a, 1] * dz - W[a, 2] * dy)
                Jr[1, s] += gain * (W[a, 2] * dx - W[a, 0] * dz)
                Jr[2, s] += gain * (W[a, 0] * dy - W[a, 1] * dx)
            else:
                for r in range(3):
                    Jr[r, s] += gain * W[a, r]
        base = mvar_start[m]
        for s1 in range(nv):
            k = mvar[base + s1]
            g[b, k] += wm * (Jr[0, s1] * res[0] + Jr[1, s1] * res[1] + Jr[2, s1] * res[2])
            for s2 in range(s1 + 1):
                l = mvar[base + s2]  # noqa: E741
                h = wm * (Jr[0, s1] * Jr[0, s2] + Jr[1, s1] * Jr[1, s2] + Jr[2, s1] * Jr[2, s2])
                H[b, k, l] += h
                if l != k:
                    H[b, l, k] += h

    @njit(cache=True, fastmath=_FAST, error_model="numpy")
    def _frame(b, q, Z, w, want_normal, parent, child, RF, tF, RMT, tM, axis_start, is_rot, vec, col, kind,
               fscale, fslope, fint, fconst, spl_start, sx, sy, sb, sc, sd, marker_body, marker_loc,
               var_scale, pair_start, pair_axis, pair_slot, mvar_start, mvar, cost, H, g, P,
               BR, Bp, W, Cn, dv, val, RGF, Rc, Rn, Rr, pGM, Jr, res):  # pragma: no cover - compiled
            nJ = parent.shape[0]
            M = marker_body.shape[0]
            for j in range(nJ):
                pa = parent[j]
                for r in range(3):
                    for c in range(3):
                        RGF[r, c] = BR[pa, r, 0] * RF[j, 0, c] + BR[pa, r, 1] * RF[j, 1, c] + BR[pa, r, 2] * RF[j, 2, c]
                    pGM[r] = Bp[pa, r] + BR[pa, r, 0] * tF[j, 0] + BR[pa, r, 1] * tF[j, 1] + BR[pa, r, 2] * tF[j, 2]
                for a in range(axis_start[j], axis_start[j + 1]):
                    x = q[b, col[a]] if col[a] >= 0 else 0.0
                    v, dv[a] = _fn(a, x, kind, fscale, fslope, fint, fconst, spl_start, sx, sy, sb, sc, sd)
                    val[a] = v
                    if not is_rot[a]:
                        for r in range(3):
                            W[a, r] = RGF[r, 0] * vec[a, 0] + RGF[r, 1] * vec[a, 1] + RGF[r, 2] * vec[a, 2]
                            pGM[r] += v * W[a, r]
                Rc[:, :] = RGF
                for a in range(axis_start[j], axis_start[j + 1]):
                    if not is_rot[a]:
                        continue
                    v = val[a]
                    for r in range(3):
                        W[a, r] = Rc[r, 0] * vec[a, 0] + Rc[r, 1] * vec[a, 1] + Rc[r, 2] * vec[a, 2]
                    _rotate(Rc, vec[a, 0], vec[a, 1], vec[a, 2], v, Rr, Rn)
                for a in range(axis_start[j], axis_start[j + 1]):
                    if is_rot[a]:
                        Cn[a, :] = pGM
                ch = child[j]
                for r in range(3):
                    for c in range(3):
                        BR[ch, r, c] = Rc[r, 0] * RMT[j, 0, c] + Rc[r, 1] * RMT[j, 1, c] + Rc[r, 2] * RMT[j, 2, c]
                for r in range(3):
                    Bp[ch, r] = pGM[r] - (BR[ch, r, 0] * tM[j, 0] + BR[ch, r, 1] * tM[j, 1] + BR[ch, r, 2] * tM[j, 2])
            total = 0.0
            for m in range(M):
                bb = marker_body[m]
                for r in range(3):
                    P[b, m, r] = Bp[bb, r] + BR[bb, r, 0] * marker_loc[m, 0] + BR[bb, r, 1] * marker_loc[m, 1] \
                        + BR[bb, r, 2] * marker_loc[m, 2]
                wm = w[b, m]
                if wm <= 0.0:
                    continue
                for r in range(3):
                    res[r] = Z[b, m, r] - P[b, m, r]
                    total += wm * res[r] * res[r]
                if want_normal:
                    _add_marker(b, m, wm, res, P, W, Cn, dv, is_rot, col, var_scale, pair_start, pair_axis,
                                pair_slot, mvar_start, mvar, Jr, H, g)
            cost[b] = total


    @njit(cache=True, fastmath=_FAST, error_model="numpy")
    def _evaluate(q, Z, w, want_normal, parent, child, RF, tF, RMT, tM, axis_start, is_rot, vec, col, kind,
                  fscale, fslope, fint, fconst, spl_start, sx, sy, sb, sc, sd, marker_body, marker_loc,
                  var_of_coord, var_scale, pair_start, pair_axis, pair_slot, mvar_start, mvar,
                  cost, H, g, P):  # pragma: no cover - compiled
        B = q.shape[0]
        nJ = parent.shape[0]
        A = is_rot.shape[0]
        if B > 0:                                    # scratch, allocated once
            BR = np.zeros((nJ + 1, 3, 3))
            Bp = np.zeros((nJ + 1, 3))
            for i in range(3):
                BR[0, i, i] = 1.0
            W = np.zeros((A, 3))
            Cn = np.zeros((A, 3))
            dv = np.zeros(A)
            val = np.zeros(A)
            RGF = np.empty((3, 3))
            Rc = np.empty((3, 3))
            Rn = np.empty((3, 3))
            Rr = np.empty((3, 3))
            pGM = np.empty(3)
            Jr = np.zeros((3, 16))
            res = np.zeros(3)
            for b in range(B):
                _frame(b, q, Z, w, want_normal, parent, child, RF, tF, RMT, tM, axis_start, is_rot, vec, col, kind,
                       fscale, fslope, fint, fconst, spl_start, sx, sy, sb, sc, sd, marker_body, marker_loc,
                       var_scale, pair_start, pair_axis, pair_slot, mvar_start, mvar, cost, H, g, P,
                       BR, Bp, W, Cn, dv, val, RGF, Rc, Rn, Rr, pGM, Jr, res)


    @njit(cache=True, fastmath=_FAST, error_model="numpy")
    def _lm_step(z, H, g, mu, lo, hi, zt, pred, factored):  # pragma: no cover - compiled
        B, n = z.shape
        if B > 0:
            A = np.empty((n, n))
            free = np.empty(n, np.bool_)
            x = np.empty(n)
            for b in range(B):
                scale = 1e-12
                for k in range(n):
                    scale = max(scale, H[b, k, k])
                    free[k] = not ((z[b, k] <= lo[k] and g[b, k] < 0) or (z[b, k] >= hi[k] and g[b, k] > 0))
                for i in range(n):
                    for j in range(i + 1):
                        A[i, j] = H[b, i, j] if free[i] and free[j] else 0.0
                    A[i, i] = A[i, i] + mu[b] * scale if free[i] else 1.0
                ok = True
                for j in range(n):                       # Cholesky, lower triangle in place
                    s = A[j, j]
                    for k in range(j):
                        s -= A[j, k] * A[j, k]
                    if not s > 0.0:
                        ok = False
                        break
                    A[j, j] = math.sqrt(s)
                    for i in range(j + 1, n):
                        s = A[i, j]
                        for k in range(j):
                            s -= A[i, k] * A[j, k]
                        A[i, j] = s / A[j, j]
                factored[b] = ok
                for i in range(n):
                    x[i] = g[b, i] if (ok and free[i]) else 0.0
                if ok:
                    for i in range(n):                   # L y = g
                        s = x[i]
                        for k in range(i):
                            s -= A[i, k] * x[k]
                        x[i] = s / A[i, i]
                    for i in range(n - 1, -1, -1):       # L^T d = y
                        s = x[i]
                        for k in range(i + 1, n):
                            s -= A[k, i] * x[k]
                        x[i] = s / A[i, i]
                for i in range(n):
                    v = z[b, i] + (x[i] if free[i] else 0.0)
                    zt[b, i] = min(max(v, lo[i]), hi[i])
                    x[i] = zt[b, i] - z[b, i]
                p = 0.0
                for i in range(n):
                    hd = 0.0
                    for k in range(n):
                        hd += H[b, i, k] * x[k]
                    p += 2.0 * g[b, i] * x[i] - x[i] * hd
                pred[b] = p


def lm_step(z: np.ndarray, H: np.ndarray, g: np.ndarray, mu: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """The damped, bound-aware Gauss-Newton step of ``BatchedIK._step`` per frame, compiled: (B, n) z,
    (B, n, n) H, (B, n) g, (B,) mu, (n,) bounds -> trial z (B, n), predicted decrease (B,), factorised (B,)."""
    zt = np.empty_like(z)
    pred = np.empty(len(z))
    factored = np.empty(len(z), np.bool_)
    _lm_step(z, H, g, mu, lo, hi, zt, pred, factored)
    return zt, pred, factored


def evaluate(tables: KernelTables, q: np.ndarray, Z: np.ndarray, w: np.ndarray, normal: bool = True):
    """(B, C) coordinates, (B, M, 3) markers (m), (B, M) weights -> cost (B,), H (B, n, n), g (B, n),
    positions (B, M, 3). NaN markers must carry weight 0."""
    B, M = w.shape
    if (tables.mvar_start[1:] - tables.mvar_start[:-1]).max(initial=0) > 16:
        raise ValueError("a marker depends on more than 16 variables; use the torch backend")
    cost = np.zeros(B)
    n = tables.n if normal else 0
    H = np.zeros((B, n, n))
    g = np.zeros((B, n))
    P = np.zeros((B, M, 3))
    _evaluate(np.ascontiguousarray(q, np.float64), np.ascontiguousarray(np.nan_to_num(Z), np.float64),
              np.ascontiguousarray(w, np.float64), normal, *tables.args(), cost, H, g, P)
    return cost, (H if normal else None), (g if normal else None), P
