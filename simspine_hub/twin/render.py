"""Rendering the twin's people into video frames (BGR uint8), and writing the MP4s."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import atomic_path

__all__ = ["render_frame", "write_video"]

_REGION_BGR = {"cervical": (180, 105, 255), "thoracic": (255, 160, 60), "lumbar": (90, 200, 90),
               "body": (200, 200, 200)}


def render_frame(points2d: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Draw one (37, 2) pixel skeleton as shaded limbs -> (H, W, 3) uint8 BGR."""
    import cv2

    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.linspace(70, 30, h, dtype=np.uint8)[:, None, None]
    pts = np.round(points2d * 4).astype(np.int64)  # 2 bits of sub-pixel precision
    for child, parent in skeleton.SKELETON_EDGES:
        region = skeleton.KEYPOINT_REGION[child]
        col = _REGION_BGR[region]
        shade = tuple(int(c * 0.6) for c in col)
        cv2.line(img, tuple(pts[child]), tuple(pts[parent]), shade, 16, cv2.LINE_AA, shift=2)
        cv2.line(img, tuple(pts[child]), tuple(pts[parent]), col, 8, cv2.LINE_AA, shift=2)
    for i in range(len(pts)):
        cv2.circle(img, tuple(pts[i]), 4 * 5, (255, 255, 255), -1, cv2.LINE_AA, shift=2)
    return img


def write_video(path: Path, frames2d: np.ndarray, size: tuple[int, int], fps: float, extra_frames: int = 0) -> None:
    """Render (T, 37, 2) pixel skeletons to an MP4 of T + ``extra_frames`` frames (the last pose repeated)."""
    import cv2

    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot write MP4 (mp4v)")
        n = len(frames2d)
        for i in range(n + extra_frames):
            writer.write(render_frame(frames2d[min(i, n - 1)], size))
        writer.release()


