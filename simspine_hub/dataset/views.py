"""The per-camera columns of ``views2d``: projected 2D, visibility, person box, decoded video frames.

Person box: the tight box of the visible projected keypoints, scaled by ``box_padding`` about its centre,
as ``[x, y, w, h]`` pixels, not clipped to the image (MMPose's top-down convention).
"""

from __future__ import annotations

import numpy as np

from simspine_hub.dataset.config import SimspineDataError
from simspine_hub.geometry import Camera, project
from simspine_hub.io import h36m

__all__ = ["project_view", "decode_frames"]


def project_view(points: np.ndarray, camera: Camera, box_padding: float) -> dict[str, np.ndarray]:
    """(T, 37, 3) world mm -> keypoints_2d (T, 37, 2) px, visibility (T, 37) uint8, bbox (T, 4) xywh px.

    A point is visible when it projects inside the image; a frame with no visible point gets a NaN box.
    """
    uv = project(points, camera)
    w, h = camera.size
    vis = np.isfinite(uv).all(-1) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    masked = np.where(vis[..., None], uv, np.nan)
    any_visible = vis.any(axis=1)
    lo = np.full((len(uv), 2), np.nan)
    hi = np.full((len(uv), 2), np.nan)
    lo[any_visible] = np.nanmin(masked[any_visible], axis=1)
    hi[any_visible] = np.nanmax(masked[any_visible], axis=1)
    centre, size = (lo + hi) / 2, (hi - lo) * box_padding
    bbox = np.concatenate([centre - size / 2, size], axis=-1)
    return {"keypoints_2d": uv, "visibility": vis.astype(np.uint8), "bbox": bbox}


def decode_frames(data: h36m.Human36M, subject: str, stem: str, camera: str, frames: np.ndarray,
                  names: list[str | None]) -> list[dict]:
    """JPEG bytes of the 0-based ``frames`` of one Human3.6M video, as ``datasets.Image`` values."""
    import cv2

    wanted = {int(i) for i in frames}
    out = {}
    for i, rgb in data.iter_frames(subject, stem, camera, limit=int(frames[-1]) + 1):
        if i in wanted:
            ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise SimspineDataError(f"{data.video_path(subject, stem, camera)}: frame {i} could not be encoded")
            out[i] = buf.tobytes()
    missing = wanted - set(out)
    if missing:
        raise SimspineDataError(f"{data.video_path(subject, stem, camera)}: video ends before frame "
                                f"{min(missing)}; the file is truncated, re-extract it")
    return [{"bytes": out[int(i)], "path": n} for i, n in zip(frames, names)]
