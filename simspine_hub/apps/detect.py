"""The detector stage of the simulation: a 2D pose model run on a capture's videos, written as npz detections
that :func:`simspine_hub.simulation.pipeline.simulate_capture` reads (it lives here, above models, so that the
simulation never imports torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub.io import h36m
from simspine_hub.io.detections import write_detections_npz
from simspine_hub.models.processing import PoseImageProcessor

__all__ = ["detect_sequence", "views_to_detect", "detect_capture"]


def detect_sequence(model, data: h36m.Human36M, subject: str, stem: str, cameras: tuple[str, ...] = h36m.CAMERA_IDS,
                    flip_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run a 2D pose model on a sequence's videos -> uv (V, T, 37, 2) px, scores (V, T, 37).

    The person box of each frame is the box of the Human3.6M D2 limb points (the whole frame if missing).
    """
    proc = PoseImageProcessor.from_config(model.config)
    uvs, scs = [], []
    for cam in cameras:
        try:
            d2 = data.read_2d(subject, stem, cam)
        except h36m.H36MFormatError:
            d2 = None
        kps, scores = [], []
        for i, img in data.iter_frames(subject, stem, cam):
            if d2 is not None and i < len(d2):
                lo, hi = d2[i].min(0), d2[i].max(0)
                box = np.array([[lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]])
            else:
                box = np.array([[0.0, 0.0, img.shape[1], img.shape[0]]])
            kp, sc, _ = proc.predict(model, [img], [box], flip_test=flip_test)
            kps.append(kp[0])
            scores.append(sc[0])
        uvs.append(np.stack(kps))
        scs.append(np.stack(scores))
    n = min(len(u) for u in uvs)
    return np.stack([u[:n] for u in uvs]), np.stack([s[:n] for s in scs])


def views_to_detect(out: Path, subject: str, stem: str, cameras: tuple[str, ...]) -> list[str]:
    """The cameras of ``subject/stem`` still to detect: usable ones (not Human3.6M's broken views,
    :func:`simspine_hub.io.h36m.usable_cameras`) without an npz under ``out`` yet."""
    return [c for c in h36m.usable_cameras(subject, stem, cameras) if not (out / subject / f"{stem}.{c}.npz").is_file()]


def detect_capture(model, h36m_root: str | os.PathLike, out: str | os.PathLike, subjects: list[str] | None = None,
                   progress: bool = True) -> Path:
    """Stage 1 with a detector: run a 2D model on every sequence's videos, write npz detections under
    ``out`` (skipping ones already there); returns ``out`` for :func:`simulate_capture`."""
    data, out = h36m.Human36M(h36m_root), Path(out)
    for subject in subjects or data.subjects():
        cams = tuple(data.cameras(subject))
        for seq in tqdm(data.sequences(subject), desc=f"{subject} detect", disable=not progress):
            views = views_to_detect(out, subject, seq.stem, cams)
            if not views:
                continue
            uv, sc = detect_sequence(model, data, subject, seq.stem, tuple(views))
            for v, c in enumerate(views):
                write_detections_npz(out / subject / f"{seq.stem}.{c}.npz", uv[v], sc[v])
    return out
