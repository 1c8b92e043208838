"""A SpineTrack-style COCO source from the twin: frames of its videos as JPEG images with 37-keypoint annotations.

No SpineTrack download exists here, so 2D training is exercised with this stand-in (a twin result, never a
SpineTrack number): the same file layout as SpinePose's ``person_keypoints_*.json`` + image folder, read back by
:func:`simspine_hub.io.coco.read_coco_keypoints`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from simspine_hub.dataset.views import project_view
from simspine_hub.io import h36m
from simspine_hub.io.coco import write_coco_keypoints
from simspine_hub.io.files import atomic_path
from simspine_hub.twin.generator import load_ground_truth

__all__ = ["write_twin_coco"]


def write_twin_coco(twin_root: str | os.PathLike, out: str | os.PathLike, subjects: tuple[str, ...],
                    stride: int = 10, name: str = "person_keypoints_twin.json") -> Path:
    """Extract every ``stride``-th video frame of ``subjects`` (all cameras) -> ``out/images/*.jpg`` + ``out/name``.

    Keypoints are the twin's ground truth projected with lens distortion (visibility 2 inside the image, else
    0); ``bbox`` is the tight box of the visible keypoints. Returns the annotation file's path.
    """
    import cv2

    twin_root, out = Path(twin_root), Path(out)
    data, gt = h36m.Human36M(twin_root / "h36m"), load_ground_truth(twin_root)
    files, sizes, index, boxes, kps, vis = [], [], [], [], [], []
    for subject in subjects:
        for seq in data.sequences(subject):
            pts = gt[f"{subject}/{seq.stem}"]["keypoints37"]
            for cam_id, cam in data.cameras(subject).items():
                view = project_view(pts, cam, box_padding=1.0)
                for i, rgb in data.iter_frames(subject, seq.stem, cam_id, stride=stride, limit=len(pts)):
                    if not view["visibility"][i].any():
                        continue
                    fname = f"{subject}_{seq.stem.replace(' ', '_')}.{cam_id}_{i:06d}.jpg"
                    with atomic_path(out / "images" / fname) as tmp:
                        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                            raise OSError(f"{out / 'images' / fname}: cannot write JPEG")
                    index.append(len(files))
                    files.append(fname)
                    sizes.append(tuple(cam.size))
                    boxes.append(view["bbox"][i])
                    kps.append(view["keypoints_2d"][i])
                    vis.append(np.where(view["visibility"][i] > 0, 2, 0))
    if not files:
        raise ValueError(f"{twin_root}: no video frames for subjects {list(subjects)} (was the twin written with videos?)")
    return write_coco_keypoints(out / name, files, sizes, np.array(index), np.array(boxes), np.array(kps),
                                np.array(vis))
