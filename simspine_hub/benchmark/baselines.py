"""Baselines that need no learned weights, run through the leaderboard evaluation.

Multiview: the paper's weighted linear triangulation (DLT) of the 37 points from the four cameras,
on ground-truth 2D (the oracle) or on 2D with Gaussian pixel noise.
"""

from __future__ import annotations

import numpy as np

from simspine_hub.benchmark.leaderboard import GroundTruth
from simspine_hub.io import h36m
from simspine_hub.simulation.triangulation import triangulate_dlt

__all__ = ["triangulation_baseline", "lifting_baseline"]


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
        for f in sel_frames:
            s, q, fr = uniq[f].split("|")
            out["subject"].append(s)
            out["sequence"].append(q)
            out["frame"].append(int(fr))
        out["keypoints"].append(pts)
    return {"subject": np.array(out["subject"]), "sequence": np.array(out["sequence"]),
            "frame": np.array(out["frame"]), "keypoints": np.concatenate(out["keypoints"])}


def _lifting_pairs(gt2d: GroundTruth, gt3d: GroundTruth, h36m_root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned camera-normalised 2D (N, 37, 2), root-relative camera 3D (N, 37, 3) mm, and keys (N,)."""
    order = {k: i for i, k in enumerate(gt2d.keys)}
    idx = np.array([order[k] for k in gt3d.keys])
    data = h36m.Human36M(h36m_root)
    sizes = {}
    wh = np.empty((len(idx), 2))
    for i, k in enumerate(gt3d.keys):
        subject, _, cam, _ = k.split("|")
        if (subject, cam) not in sizes:
            sizes[(subject, cam)] = data.cameras(subject)[cam].size
        wh[i] = sizes[(subject, cam)]
    uv = gt2d.target[idx]
    norm = uv / wh[:, None, :1] * 2 - np.stack([np.ones(len(wh)), wh[:, 1] / wh[:, 0]], -1)[:, None, :]
    return norm, gt3d.target, gt3d.keys


def lifting_baseline(train: tuple[GroundTruth, GroundTruth], test: tuple[GroundTruth, GroundTruth], h36m_root: str,
                     variant: str = "lifter-full37", steps: int = 400, batch_size: int = 256, lr: float = 1e-3,
                     seed: int = 0, save_to: str | None = None) -> tuple[dict, object]:
    """Train SimpleBaseline3D on (2D, lifting) ground truth of the train split; predict the test split.

    Returns (lifting predictions table, the trained model). A short run meant for the twin and for checks,
    not the paper's schedule.
    """
    import torch

    from simspine_hub.models import create_model

    torch.manual_seed(seed)
    x_tr, y_tr, _ = _lifting_pairs(*train, h36m_root)
    x_te, _, keys = _lifting_pairs(*test, h36m_root)
    model = create_model(variant)
    ids = list(model.config.keypoints)
    xt = torch.tensor(x_tr[:, ids], dtype=torch.float32)
    yt = torch.tensor(y_tr[:, ids], dtype=torch.float32)
    model.set_statistics(xt, yt)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 3), gamma=0.3)
    keep = [i for i in range(len(ids)) if i != model.root_index]
    model.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = torch.randint(0, len(xt), (min(batch_size, len(xt)),), generator=gen)
        pred = model(keypoints_2d=xt[b]).keypoints_3d
        loss = (((pred - yt[b])[:, keep] / model.std_3d) ** 2).mean()   # MSE on standardised targets
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        out = model(keypoints_2d=torch.tensor(x_te[:, ids], dtype=torch.float32)).keypoints_3d.numpy()
    if save_to:
        model.save_pretrained(save_to)
    parts = np.array([k.split("|") for k in keys])
    return {"subject": parts[:, 0], "sequence": parts[:, 1], "camera": parts[:, 2], "frame": parts[:, 3].astype(int),
            "keypoints": out}, model
