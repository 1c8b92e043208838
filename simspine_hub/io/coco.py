"""COCO-format keypoint files with 37 keypoints per person (SpineTrack's release layout).

SpinePose's SpineTrack release ships ``person_keypoints_{train-real-coco,train-real-yoga,train-unreal,val2017}.json``
next to image folders; each annotation holds ``keypoints`` as ``[x1, y1, v1, x2, y2, v2, ...]`` (pixels, x right,
y down; COCO visibility v: 0 not labelled, 1 labelled but occluded, 2 visible) in the SpineTrack order of
:mod:`simspine_hub.skeleton`, and ``bbox`` as ``[x, y, w, h]`` pixels.

Crowd annotations (``iscrowd = 1``) and persons without a labelled keypoint are skipped and counted, as
top-down training pipelines do; everything else that does not fit is one :class:`CocoFormatError` naming the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import write_text

__all__ = ["CocoFormatError", "CocoKeypoints", "read_coco_keypoints", "write_coco_keypoints"]


class CocoFormatError(ValueError):
    """A COCO keypoint file that cannot be read as 37-keypoint SpineTrack annotations."""


@dataclass
class CocoKeypoints:
    """Top-down person samples of one COCO file.

    Attributes:
        image_files: (N,) image path of each person (resolved against the images folder).
        boxes: (N, 4) ``[x, y, w, h]`` px.
        keypoints: (N, K, 2) px.
        visibility: (N, K) COCO visibility (0, 1, 2).
        image_ids, annotation_ids: (N,) COCO ids.
        skipped: persons left out, by reason (``crowd``, ``no_keypoints``).
    """

    image_files: list[Path]
    boxes: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    image_ids: np.ndarray
    annotation_ids: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_files)


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise CocoFormatError(f"{path}: not a JSON file ({exc})") from exc
    missing = [k for k in ("images", "annotations") if k not in data]
    if not isinstance(data, dict) or missing:
        raise CocoFormatError(f"{path}: not a COCO keypoint file (missing {missing or 'a top-level object'})")
    return data


def _check_categories(path: Path, data: dict, k: int) -> None:
    for cat in data.get("categories", []):
        names = cat.get("keypoints")
        if names is not None and len(names) != k:
            raise CocoFormatError(f"{path}: category {cat.get('name', cat.get('id'))!r} has {len(names)} keypoints; "
                                  f"SpineTrack / SIMSPINE files have {k} (the COCO-17 body files do not fit)")


def read_coco_keypoints(ann_file: str | os.PathLike, images_dir: str | os.PathLike,
                        num_keypoints: int = skeleton.NUM_KEYPOINTS, check_images: bool = True) -> CocoKeypoints:
    """Read a COCO keypoint file -> :class:`CocoKeypoints` (crowd and keypoint-less persons skipped, counted).

    Args:
        ann_file: the ``person_keypoints_*.json`` file.
        images_dir: the folder its ``file_name`` entries are relative to.
        num_keypoints: keypoints per person (37 for SpineTrack / SIMSPINE).
        check_images: fail with the first missing image file (default) rather than when training reaches it.
    """
    path, images_dir = Path(ann_file), Path(images_dir)
    data = _load(path)
    _check_categories(path, data, num_keypoints)
    files = {img["id"]: img["file_name"] for img in data["images"]}
    rows, skipped = [], {"crowd": 0, "no_keypoints": 0}
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0):
            skipped["crowd"] += 1
            continue
        kp = np.asarray(ann.get("keypoints", []), dtype=np.float64)
        if kp.size != 3 * num_keypoints:
            raise CocoFormatError(f"{path}: annotation {ann.get('id')} has {kp.size // 3} keypoints "
                                  f"({kp.size} numbers); expected {num_keypoints} x (x, y, v)")
        kp = kp.reshape(num_keypoints, 3)
        if not (kp[:, 2] > 0).any():
            skipped["no_keypoints"] += 1
            continue
        if ann.get("image_id") not in files:
            raise CocoFormatError(f"{path}: annotation {ann.get('id')} refers to image_id {ann.get('image_id')} "
                                  "that the file's `images` list does not have")
        box = np.asarray(ann.get("bbox", []), dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or (box[2:] <= 0).any():
            raise CocoFormatError(f"{path}: annotation {ann.get('id')} has bbox {ann.get('bbox')}; expected "
                                  "[x, y, w, h] pixels with w, h > 0")
        rows.append((images_dir / files[ann["image_id"]], box, kp, ann["image_id"], ann.get("id", -1)))
    if check_images:
        missing = sorted({str(r[0]) for r in rows if not r[0].is_file()})
        if missing:
            raise FileNotFoundError(f"{path}: {len(missing)} image(s) not found under {images_dir}, e.g. {missing[0]}; "
                                    "pass the image folder the file's file_name entries are relative to")
    k = num_keypoints
    return CocoKeypoints(
        image_files=[r[0] for r in rows],
        boxes=np.array([r[1] for r in rows]).reshape(-1, 4),
        keypoints=np.array([r[2][:, :2] for r in rows]).reshape(-1, k, 2),
        visibility=np.array([r[2][:, 2] for r in rows]).reshape(-1, k).astype(np.int64),
        image_ids=np.array([r[3] for r in rows], dtype=np.int64),
        annotation_ids=np.array([r[4] for r in rows], dtype=np.int64),
        skipped=skipped)


def write_coco_keypoints(path: str | os.PathLike, file_names: list[str], image_sizes: list[tuple[int, int]],
                         image_index: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                         visibility: np.ndarray) -> Path:
    """Write persons as a 37-keypoint COCO file (atomic).

    Args:
        file_names: (I,) image file names; image_sizes: (I,) ``(width, height)`` px.
        image_index: (N,) index into ``file_names`` of each person.
        boxes: (N, 4) ``[x, y, w, h]`` px; keypoints: (N, K, 2) px; visibility: (N, K) in {0, 1, 2}.
    """
    keypoints, visibility = np.asarray(keypoints, np.float64), np.asarray(visibility)
    n, k = visibility.shape
    images = [{"id": i + 1, "file_name": f, "width": int(w), "height": int(h)}
              for i, (f, (w, h)) in enumerate(zip(file_names, image_sizes))]
    anns = []
    for j in range(n):
        kp = np.concatenate([np.round(keypoints[j], 2), visibility[j][:, None]], axis=1)
        kp[visibility[j] == 0] = 0.0
        anns.append({"id": j + 1, "image_id": int(image_index[j]) + 1, "category_id": 1, "iscrowd": 0,
                     "bbox": [round(float(v), 2) for v in boxes[j]], "area": float(boxes[j][2] * boxes[j][3]),
                     "num_keypoints": int((visibility[j] > 0).sum()), "keypoints": kp.ravel().tolist()})
    cats = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(skeleton.KEYPOINT_NAMES[:k]),
             "skeleton": [[c + 1, p + 1] for c, p in skeleton.SKELETON_EDGES if c < k and p < k]}]
    write_text(path, json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return Path(path)
