"""Baselines that need no learned weights, run through the leaderboard evaluation.

Multiview: the paper's weighted linear triangulation (DLT) of the 37 points from the four cameras,
on ground-truth 2D (the oracle) or on 2D with Gaussian pixel noise.
"""

from __future__ import annotations

import numpy as np

from . import h36m
from .geometry import triangulate_dlt
from .leaderboard import GroundTruth

__all__ = ["triangulation_baseline"]


def triangulation_baseline(gt2d: GroundTruth, h36m_root: str, noise_px: float = 0.0, seed: int = 0) -> dict:
    """Multiview predictions (world mm) from the 2D ground truth of every camera, optionally noised.

    Args:
        gt2d: ground truth of the ``2d`` task (one row per subject, sequence, camera, frame).
        noise_px: standard deviation of Gaussian noise added to each 2D coordinate (pixels).
    Returns:
        {subject, sequence, frame, keypoints (N, 37, 3)}, a multiview predictions table.
    """
    rng = np.random.default_rng(seed)
    data = h36m.Human36M(h36m_root)
    parts = np.array([k.split("|") for k in gt2d.keys])                  # subject, sequence, camera, frame
    frame_key = np.char.add(np.char.add(np.char.add(parts[:, 0], "|"), np.char.add(parts[:, 1], "|")), parts[:, 3])
    uniq, inverse = np.unique(frame_key, return_inverse=True)
    out = {"subject": [], "sequence": [], "frame": [], "keypoints": []}
    for subject in np.unique(parts[:, 0]):
        cams = data.cameras(str(subject))
        sel_frames = np.unique(inverse[parts[:, 0] == subject])
        uv = np.full((len(h36m.CAMERA_IDS), len(sel_frames), 37, 2), np.nan)
        pos = {f: i for i, f in enumerate(sel_frames)}
        for v, cam_id in enumerate(h36m.CAMERA_IDS):
            rows = np.where((parts[:, 0] == subject) & (parts[:, 2] == cam_id))[0]
            uv[v, [pos[f] for f in inverse[rows]]] = gt2d.target[rows]
        uv = uv + rng.normal(scale=noise_px, size=uv.shape) if noise_px > 0 else uv
        pts = triangulate_dlt(uv, [cams[c] for c in h36m.CAMERA_IDS])
        for f, p in zip(sel_frames, pts):
            s, q, fr = uniq[f].split("|")
            out["subject"].append(s)
            out["sequence"].append(q)
            out["frame"].append(int(fr))
        out["keypoints"].append(pts)
    return {"subject": np.array(out["subject"]), "sequence": np.array(out["sequence"]),
            "frame": np.array(out["frame"]), "keypoints": np.concatenate(out["keypoints"])}
