"""Range of motion and curvature plots (the paper's Fig. 3); curvature itself is :mod:`simspine_hub.simulation.curvature`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import atomic_path

__all__ = ["range_of_motion", "LUMBAR_LEVELS", "LUMBAR_DOFS", "plot_curvature", "plot_lumbar_rom"]

LUMBAR_LEVELS = ("L1_T12", "L1_L2", "L2_L3", "L3_L4", "L4_L5", "L5_S1")
LUMBAR_DOFS = ("Flex_Ext", "Lat_Bending", "axial_rotation")


def range_of_motion(kinematics_deg: np.ndarray) -> np.ndarray:
    """(N, 62) coordinates -> (62,) range (max - min) per axis, degrees for rotations (robust: 1st-99th pct)."""
    k = np.asarray(kinematics_deg, dtype=np.float64)
    return np.nanpercentile(k, 99, axis=0) - np.nanpercentile(k, 1, axis=0)


def plot_curvature(lla_by_action: dict[str, np.ndarray], tka_by_action: dict[str, np.ndarray],
                   path: str | os.PathLike, title: str = "") -> Path:
    """Violin plots of LLA and TKA per action (the paper's Fig. 3, left) -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    actions = sorted(lla_by_action)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), dpi=100, sharey=False)
    for ax, data, name in ((axes[0], lla_by_action, "LLA (lumbar lordosis)"), (axes[1], tka_by_action, "TKA (thoracic kyphosis)")):
        ax.violinplot([np.asarray(data[a])[np.isfinite(data[a])] for a in actions], showmedians=True)
        ax.set_xticks(range(1, len(actions) + 1), actions, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("degrees")
        ax.set_title(name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_lumbar_rom(rom: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """Per-level lumbar ROM (degrees) for the three DOFs (the paper's Fig. 3, right) -> PNG.

    Args:
        rom: (62,) output of :func:`range_of_motion`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for dof in LUMBAR_DOFS:
        vals = [rom[skeleton.KINEMATIC_AXES.index(f"{lvl}_{dof}")] for lvl in LUMBAR_LEVELS]
        ax.plot(LUMBAR_LEVELS, vals, "o-", label=dof.replace("_", " "))
    ax.set_ylabel("range of motion (degrees)")
    ax.set_title(title or "lumbar range of motion per level", fontsize=10)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
