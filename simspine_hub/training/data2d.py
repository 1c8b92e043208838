"""Top-down person samples for 2D training: SIMSPINE views, SpineTrack-format COCO files, and the torch dataset.

A source is a :class:`PersonRows`: for each person an image file, the person box (``[x, y, w, h]`` px, tight:
the crop pads it by ``BOX_PADDING`` = 1.25 as at inference), 37 keypoints (px) and their visibility.

* SIMSPINE (:func:`simspine_rows`): the ``views2d`` config of the dataset builder, one row per frame and camera,
  37 points projected with lens distortion, visibility, the person box (the builder's box is the tight box of
  the visible points padded by ``box_padding``; it is unpadded here). ``fraction`` picks that share of the usable
  rows (a finite box and a visible point) once, with a seed (the paper's 2 %: "about 31 k images", i.e. 2 % of the
  1.56 M train-split camera images). Images come either from
  pre-extracted frames (``images_root`` + the builder's ``image_path`` under ``image_naming``: the SIMSPINE
  authors' or mmpose's convention) or are decoded from the Human3.6M videos with the builder's own
  ``decode_frames`` (the ``decode_frames=True`` path, for the picked frames only) into ``frames_dir``, laid out
  under the SIMSPINE naming so that a second run reuses them.
* SpineTrack (:func:`coco_rows`): a 37-keypoint COCO file read by :func:`simspine_hub.io.coco.read_coco_keypoints`.

:class:`TopdownDataset` serves the sources as one index space (source 0 first): each item is augmented with the
curriculum stage and the per-sample seed carried by its key (:class:`SampleKey`, made by
:class:`~simspine_hub.training.mixup.MixedBatchSampler`), so data-loader workers, persistent or not, need no
other state.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from simspine_hub.dataset.arrow import arrow_columns
from simspine_hub.io import h36m
from simspine_hub.io.files import atomic_path
from simspine_hub.models._constants import IMAGE_MEAN, IMAGE_STD, INPUT_SIZE
from simspine_hub.training.augment2d import CURRICULUM, StageConfig, TopdownAugment
from simspine_hub.units import BOX_PADDING

log = logging.getLogger(__name__)

__all__ = ["PersonRows", "SampleKey", "TopdownDataset", "simspine_rows", "coco_rows", "unpad_boxes", "read_image",
           "Data2DError"]


class Data2DError(ValueError):
    """2D training data that cannot be used; the message names the file or option and the fix."""


@dataclass
class PersonRows:
    """Top-down persons of one source (N rows).

    Attributes:
        name: the source's name (``simspine``, ``spinetrack``, ``twin-coco``...).
        image_files: (N,) image paths.
        boxes: (N, 4) tight ``[x, y, w, h]`` px.
        keypoints: (N, K, 2) px; visibility: (N, K) (> 0 labelled).
        keys: SIMSPINE row keys (``subject``, ``sequence``, ``camera``, ``frame``, ``action``: (N,) arrays), empty
            for COCO sources.
        info: what was read and left out (counts), for the model card.
    """

    name: str
    image_files: list[str]
    boxes: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_files)

    def take(self, idx: np.ndarray) -> PersonRows:
        idx = np.asarray(idx, dtype=np.int64)
        return PersonRows(self.name, [self.image_files[i] for i in idx], self.boxes[idx], self.keypoints[idx],
                          self.visibility[idx], {k: v[idx] for k, v in self.keys.items()}, dict(self.info))


def unpad_boxes(boxes: np.ndarray, padding: float = BOX_PADDING) -> np.ndarray:
    """(N, 4) ``[x, y, w, h]`` boxes scaled by ``padding`` about their centre -> the unpadded boxes."""
    boxes = np.asarray(boxes, np.float64)
    centre, size = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:] / padding
    return np.concatenate([centre - size / 2, size], axis=1)


def simspine_rows(split: str, *, h36m_root: str | os.PathLike, annotations: str | os.PathLike,
                  fraction: float | None = None, seed: int = 0, images_root: str | os.PathLike | None = None,
                  image_naming: str = "simspine", frames_dir: str | os.PathLike | None = None,
                  frame_stride: int = 1, progress: bool = True, **dataset_kwargs) -> PersonRows:
    """SIMSPINE top-down rows of ``split`` (see the module docstring).

    Args:
        fraction: share of the usable rows to keep (0 < fraction <= 1), picked once with ``seed``; None keeps all.
        images_root: folder of pre-extracted frames (``image_path`` relative to it, under ``image_naming``).
        frames_dir: where frames decoded from the videos go (needed when ``images_root`` is None).
        dataset_kwargs: further builder options (``cache_dir``, ``train_subjects``, ``cameras``...).
    """
    from simspine_hub.dataset.builder import load_dataset

    if fraction is not None and not 0 < fraction <= 1:
        raise Data2DError(f"--simspine-fraction must be in (0, 1]; got {fraction}")
    if images_root is None and frames_dir is None:
        raise Data2DError("SIMSPINE images: pass images_root (pre-extracted frames) or frames_dir (decode the videos)")
    naming = image_naming if images_root is not None else "simspine"
    ds = load_dataset("simspine", "views2d", split=split, h36m_root=h36m_root, annotations=annotations,
                      image_naming=naming, frame_stride=frame_stride, **dataset_kwargs)
    cols = arrow_columns(ds, ["subject", "sequence", "camera", "frame", "action", "keypoints_2d", "visibility",
                               "bbox", "image_path"])
    total = len(cols["frame"])
    usable = np.isfinite(cols["bbox"]).all(1) & (cols["visibility"] > 0).any(1) & (cols["bbox"][:, 2:] > 0).all(1)
    usable &= np.array([p is not None for p in cols["image_path"]], bool)
    idx = np.flatnonzero(usable)
    if not len(idx):
        raise Data2DError(f"SIMSPINE {split} split: no usable view (a person box, a visible point"
                          + (f", an image under the {naming} naming" if images_root is not None else "")
                          + f") among {total} rows; check --h36m-root / --annotations and the subjects")
    if fraction is not None and fraction < 1:
        k = max(1, int(round(fraction * len(idx))))
        idx = np.sort(np.random.default_rng([int(seed), 2]).choice(idx, size=k, replace=False))
    keys = {k: cols[k][idx] for k in ("subject", "sequence", "camera", "frame", "action")}
    paths = [str(p) for p in cols["image_path"][idx]]
    root = Path(images_root) if images_root is not None else Path(frames_dir)
    if images_root is None:
        _decode_into(root, h36m_root, keys, paths, progress)
    files = [str(root / p) for p in paths]
    if images_root is not None:
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise Data2DError(f"{images_root}: {len(missing)} of {len(files)} SIMSPINE frames not found, e.g. "
                              f"{missing[0]}; check --simspine-images and --image-naming ({naming})")
    info = {"split": split, "rows in split": total, "usable rows": int(usable.sum()), "rows used": len(idx),
            "fraction": fraction, "images": "pre-extracted" if images_root is not None else "decoded from videos"}
    boxes = unpad_boxes(cols["bbox"][idx], dataset_kwargs.get("box_padding", BOX_PADDING))
    return PersonRows("simspine", files, boxes, cols["keypoints_2d"][idx].astype(np.float64),
                      cols["visibility"][idx].astype(np.int64), keys, info)


def _decode_into(root: Path, h36m_root, keys: dict[str, np.ndarray], paths: list[str], progress: bool) -> None:
    """Decode the frames the rows need (missing ones only) from the videos with the builder's ``decode_frames``."""
    from tqdm.auto import tqdm

    from simspine_hub.dataset.views import decode_frames

    todo = np.array([not (root / p).is_file() for p in paths], bool)
    if not todo.any():
        return
    data = h36m.Human36M(h36m_root)
    group = np.char.add(np.char.add(keys["subject"].astype(str), "|"),
                        np.char.add(np.char.add(keys["sequence"].astype(str), "|"), keys["camera"].astype(str)))
    for g in tqdm(np.unique(group[todo]), desc="decoding SIMSPINE frames", disable=not progress, unit="video"):
        sel = np.flatnonzero((group == g) & todo)
        frames, order = np.unique(keys["frame"][sel], return_index=True)
        subject, stem, camera = g.split("|")
        names = [paths[sel[i]] for i in order]
        for item in decode_frames(data, subject, stem, camera, frames, names):
            with atomic_path(root / item["path"]) as tmp:
                Path(tmp).write_bytes(item["bytes"])


def coco_rows(ann_file: str | os.PathLike, images_dir: str | os.PathLike, name: str = "spinetrack") -> PersonRows:
    """Persons of a 37-keypoint COCO file (SpineTrack layout); crowd / keypoint-less persons skipped and counted."""
    from simspine_hub.io.coco import read_coco_keypoints

    coco = read_coco_keypoints(ann_file, images_dir)
    if not len(coco):
        raise Data2DError(f"{ann_file}: no usable person (skipped: {coco.skipped})")
    info = {"file": str(ann_file), "persons": len(coco), "skipped": dict(coco.skipped)}
    return PersonRows(name, [str(p) for p in coco.image_files], coco.boxes, coco.keypoints, coco.visibility,
                      {"image_id": coco.image_ids, "annotation_id": coco.annotation_ids}, info)


def read_image(path: str) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB; one clear error for a missing or unreadable file."""
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{path}: cannot read the image (missing or corrupt)")
    return np.ascontiguousarray(bgr[..., ::-1])


class SampleKey(NamedTuple):
    """What the batch sampler hands the dataset: the global row ``index``, the ``epoch``, the curriculum
    ``stage`` and the ``draw`` (position in the epoch), which with the run's seed makes the sample's seed."""

    index: int
    epoch: int
    stage: int
    draw: int


class TopdownDataset(torch.utils.data.Dataset):
    """The sources as one index space (source 0's rows first), augmented per :class:`SampleKey`.

    An item is ``pixel_values`` (3, H, W) float32 (ImageNet mean / std on 0-255 RGB), ``labels`` (K, 3)
    ``[x, y, weight]`` in crop px (weight 1 for labelled points inside the crop), ``stage`` and ``source`` (int64).

    Args:
        sources: the :class:`PersonRows`; input_size: model input (H, W); udp: the family's crop convention.
        seed: the run's seed (per-sample seeds are ``(seed, epoch, draw)``).
    """

    def __init__(self, sources: list[PersonRows], input_size: tuple[int, int] = INPUT_SIZE, udp: bool = False,
                 seed: int = 0, image_mean=IMAGE_MEAN, image_std=IMAGE_STD,
                 curriculum: tuple[StageConfig, ...] = CURRICULUM):
        if not sources or any(len(s) == 0 for s in sources):
            raise Data2DError("2D training needs at least one source with at least one person")
        self.sources, self.input_size, self.udp, self.seed = list(sources), tuple(input_size), udp, int(seed)
        self.curriculum = curriculum
        self.offsets = np.cumsum([0] + [len(s) for s in sources])
        self.mean = np.asarray(image_mean, np.float32)
        self.std = np.asarray(image_std, np.float32)
        self._augment: dict[int, TopdownAugment] = {}

    @property
    def sizes(self) -> list[int]:
        return [len(s) for s in self.sources]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Global row index -> (source, row in that source)."""
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} outside [0, {len(self)})")
        source = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return source, int(index - self.offsets[source])

    def augment(self, stage: int) -> TopdownAugment:
        if stage not in self._augment:
            self._augment[stage] = TopdownAugment(stage, self.input_size, self.udp, self.curriculum)
        return self._augment[stage]

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        key = SampleKey(int(key), 0, len(self.curriculum) - 1, int(key)) if not isinstance(key, tuple) else key
        source, row = self.locate(key.index)
        rows = self.sources[source]
        res = self.augment(key.stage)(read_image(rows.image_files[row]), rows.boxes[row], rows.keypoints[row],
                                      rows.visibility[row], seed=(self.seed, key.epoch, key.draw))
        pixels = ((res.image.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)
        labels = np.concatenate([res.keypoints, res.weights[:, None]], axis=1).astype(np.float32)
        return {"pixel_values": torch.from_numpy(np.ascontiguousarray(pixels)), "labels": torch.from_numpy(labels),
                "stage": torch.tensor(key.stage, dtype=torch.int64), "source": torch.tensor(source, dtype=torch.int64)}

    def person(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image, box, keypoints, visibility) of one row, unaugmented (for ``--preview``)."""
        source, row = self.locate(index)
        rows = self.sources[source]
        return read_image(rows.image_files[row]), rows.boxes[row], rows.keypoints[row], rows.visibility[row]

