"""Plots (matplotlib, PNG): skeletons with the spine regions coloured."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import save_png

__all__ = ["REGION_COLORS", "plot_skeleton_2d"]

REGION_COLORS = skeleton.REGION_COLORS          # the one definition (cervical pink, thoracic blue, lumbar green)


def plot_skeleton_2d(points: np.ndarray, path: str | os.PathLike, image: np.ndarray | None = None,
                     size: tuple[int, int] | None = None, title: str = "") -> Path:
    """Save a PNG of one 37-point skeleton in pixel coordinates.

    Args:
        points: (37, 2) pixel coordinates (x right, y down), SpineTrack order.
        path: output PNG path.
        image: optional (H, W, 3) uint8 RGB background (e.g. the video frame).
        size: (width, height) of the view when no image is given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.asarray(points, dtype=np.float64)
    if points.shape != (skeleton.NUM_KEYPOINTS, 2):
        raise ValueError(f"points must be ({skeleton.NUM_KEYPOINTS}, 2) pixels; got {points.shape}")
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    if image is not None:
        ax.imshow(image)
    else:
        w, h = size or (1000, 1000)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_facecolor("#202020")
    for child, parent in skeleton.SKELETON_EDGES:
        color = REGION_COLORS[skeleton.KEYPOINT_REGION[child]]
        ax.plot(points[[child, parent], 0], points[[child, parent], 1], "-", color=color, lw=2.5)
    for region, color in REGION_COLORS.items():
        ids = [i for i, r in enumerate(skeleton.KEYPOINT_REGION) if r == region]
        ax.scatter(points[ids, 0], points[ids, 1], s=14, color=color, edgecolors="white", linewidths=0.5,
                   label=region, zorder=3)
    if image is not None and np.isfinite(points).all():  # zoom on the person, 30 % margin
        lo, hi = points.min(axis=0), points.max(axis=0)
        pad = 0.3 * (hi - lo).max() + 10
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(hi[1] + pad, lo[1] - pad)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return save_png(fig, path, bbox_inches="tight")
