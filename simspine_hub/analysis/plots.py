"""The study's figures as PNG bytes (matplotlib, Agg): the paper's Fig. 3 (left, right), Fig. 4 and Fig. B1.

Each function returns the PNG as ``bytes`` so that the report can both write it and embed it (base64) in
the self-contained HTML. Violins use every frame: their densities are binned Gaussian kernel estimates
(200 bins, Scott's bandwidth), linear in the number of frames (matplotlib's own estimate costs frames x
points). Region colours come from :data:`simspine_hub.skeleton.REGION_COLORS`.
"""

from __future__ import annotations

import io

import numpy as np

from simspine_hub import skeleton
from simspine_hub.analysis.density import BIN_MM, EXTENT_MM
from simspine_hub.analysis.rom import LUMBAR_DOFS, LUMBAR_LEVELS, NECK_DOFS, NECK_NORMATIVE, NECK_NORMATIVE_SOURCE
from simspine_hub.analysis.study import Study
from simspine_hub.analysis.tables import PAPER_B2_ACTIONS

__all__ = ["fig3_curvature", "fig3_rom", "fig4_neck", "figb1_density"]

_DOF_COLORS = {"Flex_Ext": "tab:red", "Lat_Bending": "tab:blue", "axial_rotation": "tab:green"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return buf.getvalue()


def _three_panels(n_actions: int):
    """Three panels side by side for a few actions, stacked for many."""
    plt = _plt()
    if n_actions <= 8:
        return plt.subplots(1, 3, figsize=(15, 4.5))
    return plt.subplots(3, 1, figsize=(max(10.0, 0.65 * n_actions), 12))


def _violin_stats(values: np.ndarray, bins: int = 200) -> dict:
    """matplotlib violin statistics from a binned Gaussian KDE (Scott's bandwidth): O(frames), every frame."""
    from scipy.ndimage import gaussian_filter1d

    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"coords": np.zeros(2), "vals": np.zeros(2), "mean": np.nan, "median": np.nan, "min": np.nan,
                "max": np.nan, "quantiles": []}
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, 1e-6)
    counts, edges = np.histogram(v, bins=bins, range=(lo - 0.05 * span, hi + 0.05 * span))
    width = edges[1] - edges[0]
    bandwidth = max(1.06 * v.std() * len(v) ** -0.2, 0.5 * width)
    dens = gaussian_filter1d(counts.astype(np.float64), bandwidth / width, mode="constant")
    dens /= max(dens.sum() * width, 1e-12)
    return {"coords": 0.5 * (edges[1:] + edges[:-1]), "vals": dens, "mean": float(v.mean()),
            "median": float(np.median(v)), "min": lo, "max": hi, "quantiles": []}


def _violins(ax, groups: list[np.ndarray], color: str) -> None:
    parts = ax.violin([_violin_stats(g) for g in groups], positions=np.arange(1, len(groups) + 1), widths=0.8,
                      showmedians=True, showextrema=False)
    for body in parts["bodies"]:
        body.set_facecolor(color)
        body.set_edgecolor("black")
        body.set_alpha(0.6)
    parts["cmedians"].set_color("black")


def fig3_curvature(study: Study, title: str = "") -> bytes:
    """Violins of the marker-proxy LLA and TKA and of the Cobb dLLA per action; the paper's Table B2 beside."""
    acts = study.actions
    x = np.arange(1, len(acts) + 1)
    fig, axes = _three_panels(len(acts))
    panels = (("lla", "LLA, marker proxy (deg)", skeleton.REGION_COLORS["lumbar"], 0),
              ("tka", "TKA, marker proxy (deg)", skeleton.REGION_COLORS["thoracic"], 2),
              ("cobb", "dLLA, Cobb L1-S1 from FK (deg, 0 = model neutral)", skeleton.REGION_COLORS["lumbar"], None))
    for ax, (key, label, color, ref) in zip(axes, panels):
        values = getattr(study, key)
        _violins(ax, [values[study.action_idx == a] for a in range(len(acts))], color)
        if ref is not None:
            have = [(i, PAPER_B2_ACTIONS[a]) for i, a in zip(x, acts) if a in PAPER_B2_ACTIONS]
            if have:
                xs, vals = zip(*have)
                ax.errorbar(np.array(xs) + 0.3, [v[ref] for v in vals], yerr=[v[ref + 1] for v in vals], fmt="D",
                            color="black", ms=4, capsize=2, label="paper, Table B2 (Human3.6M)")
                ax.legend(fontsize=7, loc="best")
        else:
            ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.set_xticks(x, acts, rotation=40, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "Thoracolumbar curvature per action", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def fig3_rom(rom_rows: list[dict], reference: dict[tuple[str, str], float] | None = None, title: str = "") -> bytes:
    """Per-level lumbar ROM (solid) for the three DOFs; reference values dashed when given."""
    plt = _plt()
    rom = {(r["level"], r["dof"]): r["rom_deg"] for r in rom_rows}
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    x = np.arange(len(LUMBAR_LEVELS))
    for dof in LUMBAR_DOFS:
        c = _DOF_COLORS[dof]
        ax.plot(x, [rom[(lvl, dof)] for lvl in LUMBAR_LEVELS], "o-", color=c, label=dof.replace("_", " "))
        if reference:
            pts = [(i, reference[(lvl, dof)]) for i, lvl in enumerate(LUMBAR_LEVELS) if (lvl, dof) in reference]
            if pts:
                ax.plot(*zip(*pts), "s--", color=c, alpha=0.7, mfc="none", label=f"{dof.replace('_', ' ')} (reference)")
    ax.set_xticks(x, LUMBAR_LEVELS)
    ax.set_ylabel("range of motion, p99 - p1 (deg)")
    note = "" if reference else "\nno reference drawn: White & Panjabi (1978) values not available (see report)"
    ax.set_title((title or "Lumbar range of motion per level") + note, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def fig4_neck(study: Study, title: str = "") -> bytes:
    """Neck flexion (+flex), bending, rotation per action against the normative neck ROM (dashed)."""
    acts = study.actions
    x = np.arange(1, len(acts) + 1)
    fig, axes = _three_panels(len(acts))
    for j, (ax, dof) in enumerate(zip(axes, NECK_DOFS)):
        _violins(ax, [study.neck[study.action_idx == a, j] for a in range(len(acts))], skeleton.REGION_COLORS["cervical"])
        for bound in NECK_NORMATIVE[dof]:
            ax.axhline(bound, color="black", ls="--", lw=1)
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.set_xticks(x, acts, rotation=40, ha="right", fontsize=8)
        sign = {"flexion": "+ flexion / - extension", "bending": "+ right", "rotation": "+ left"}[dof]
        ax.set_title(f"neck {dof} (deg, {sign})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle((title or "Cervical spine per action") + "\ndashed: normative ROM, " + NECK_NORMATIVE_SOURCE,
                 fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _panel(ax, hist: np.ndarray, extent_u, extent_v, joints: dict, axes: tuple[int, int], xlabel: str) -> None:
    from scipy.ndimage import gaussian_filter

    dens = gaussian_filter(hist.astype(np.float64), sigma=20.0 / BIN_MM)
    if dens.max() > 0:
        dens = dens / dens.max()
        cu = extent_u[0] + BIN_MM * (np.arange(hist.shape[0]) + 0.5)
        cv = extent_v[0] + BIN_MM * (np.arange(hist.shape[1]) + 0.5)
        ax.contourf(cu, cv, dens.T, levels=[0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0], cmap="Greys", alpha=0.8)
        ax.contour(cu, cv, dens.T, levels=[0.01, 0.1, 0.4], colors="grey", linewidths=0.5)
    from matplotlib.collections import LineCollection

    u, v = axes
    bones = [[(joints[c][u], joints[c][v]), (joints[p][u], joints[p][v])]
             for c, p in skeleton.SKELETON_EDGES if c in joints and p in joints]
    ax.add_collection(LineCollection(bones, colors="black", linewidths=1.2))
    ids = list(joints)
    xy = np.array([joints[k][[u, v]] for k in ids])
    ax.scatter(xy[:, 0], xy[:, 1], s=18, c=[skeleton.REGION_COLORS[skeleton.KEYPOINT_REGION[k]] for k in ids],
               edgecolors="black", linewidths=0.4, zorder=3)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel, fontsize=7)
    ax.tick_params(labelsize=6)


def figb1_density(study: Study, title: str = "") -> bytes:
    """Per action: sagittal (Y-Z) and frontal (X-Z) densities of root-relative upper-body points, mean chain."""
    plt = _plt()
    acts = study.actions
    per_row = 3
    rows = -(-len(acts) // per_row)
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(2.6 * 2 * per_row, 3.0 * rows), squeeze=False)
    (xr, yr, zr) = EXTENT_MM
    d = study.density
    lim = _limits(d, acts)
    for i, action in enumerate(acts):
        ax_s, ax_f = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        joints = d.mean_joints(action)
        _panel(ax_s, d.sagittal[action], yr, zr, joints, (1, 2), "Y forward (mm)")
        _panel(ax_f, d.frontal[action], xr, zr, joints, (0, 2), "X right (mm)")
        ax_s.set_ylabel("Z up (mm)", fontsize=7)
        ax_s.set_title(f"{action}: sagittal", fontsize=8)
        ax_f.set_title(f"{action}: frontal", fontsize=8)
        ax_s.set_xlim(*lim[1])
        ax_f.set_xlim(*lim[0])
        for ax in (ax_s, ax_f):
            ax.set_ylim(*lim[2])
    for j in range(len(acts), rows * per_row):
        axes[j // per_row, 2 * (j % per_row)].axis("off")
        axes[j // per_row, 2 * (j % per_row) + 1].axis("off")
    fig.suptitle(title or "Root-relative upper-body positions per action (body frame: X right, Y forward, Z up)",
                 fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _limits(d, acts) -> list[tuple[float, float]]:
    """Axis limits (mm) that hold every action's occupied bins, with a margin."""
    out = []
    for axis, (lo, _hi) in enumerate(EXTENT_MM):
        occupied = []
        for a in acts:
            h = d.sagittal[a] if axis == 1 else d.frontal[a]
            marg = h.sum(1) if axis < 2 else h.sum(0)
            nz = np.flatnonzero(marg > 0.001 * max(marg.max(), 1))
            if len(nz):
                occupied += [lo + BIN_MM * nz[0], lo + BIN_MM * (nz[-1] + 1)]
        a, b = (min(occupied), max(occupied)) if occupied else EXTENT_MM[axis]
        out.append((a - 60.0, b + 60.0))
    return out
