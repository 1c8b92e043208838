"""Top-down 2D augmentation with the paper's three-stage curriculum (Supplementary A, Table A1).

Given E epochs, stages switch at ``e1 = floor(0.33 E)`` and ``e2 = floor(0.67 E)``: stage 1 (hard) on
``[0, e1)``, stage 2 (medium) on ``[e1, e2)``, stage 3 (easy) on ``[e2, E)``. Every stage is data
(:data:`CURRICULUM`), each value with its source.

One sample goes through (all geometry in image pixels, x right, y down):

1. random horizontal flip: image mirrored, ``x -> W - 1 - x``, left/right keypoints swapped with
   ``skeleton.FLIP_INDEX`` (mmpose ``RandomFlip``); the box mirrors the same way (``x -> W - 1 - x``, where
   mmpose's ``flip_bbox`` uses ``W - x``), so a mirrored sample is exactly the mirror image of the crop;
2. half-body crop: with probability 0.3, when at least 9 keypoints are labelled, the box becomes the upper or
   lower body's keypoints padded 1.5x (mmpose ``HalfBodyTransform`` defaults);
3. random box transform: shift ``N(0, 1)`` truncated to [-1, 1] x 0.16 x box size with probability 0.3
   (mmpose ``RandomBBoxTransform`` defaults; stages 2-3 set no shift), scale uniform in the stage's range,
   rotation ``N(0, 1)`` truncated to [-2, 2] x (max / 2) degrees with probability 0.6, so within +-max;
4. top-down affine to the model input (``BOX_PADDING`` and mmpose's aspect fix from
   :func:`simspine_hub.models.codecs.center_scale`, the crop of :func:`~simspine_hub.models.codecs.warp_matrix`
   turned about the box centre); keypoints move through the same (2, 3) matrix;
5. image-only operations with albumentations on the crop (photometric, Blur, MedianBlur, CoarseDropout),
   the library mmpose's ``Albumentation`` transform wraps.

Randomness is per sample: ``numpy.random.default_rng([seed, epoch, index])`` drives the geometry and seeds
albumentations, so a run is reproducible whatever the data-loader order or worker count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simspine_hub import skeleton
from simspine_hub.models.codecs import center_scale, warp_matrix
from simspine_hub.units import BOX_PADDING

__all__ = ["CURRICULUM", "StageConfig", "stage_for_epoch", "TopdownAugment", "AugmentedSample", "affine_points",
           "UPPER_BODY", "LOWER_BODY", "write_preview"]

#: Keypoints of the lower body (pelvis, lumbar spine, legs, feet); every other keypoint is upper body.
LOWER_BODY: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28)
UPPER_BODY: tuple[int, ...] = tuple(i for i in range(skeleton.NUM_KEYPOINTS) if i not in LOWER_BODY)


@dataclass(frozen=True)
class StageConfig:
    """One curriculum stage: rotation within +-``rotation_deg``, scale in ``scale_range``, box shift factor
    (mmpose default 0.16, 0 = no shift), half-body on/off, photometric on/off, blur and median-blur
    probabilities, CoarseDropout probability (one hole of 0.2-0.4 of the crop's height and width)."""

    name: str
    rotation_deg: float
    scale_range: tuple[float, float]
    shift_factor: float
    half_body: bool
    photometric: bool
    blur_p: float
    median_blur_p: float
    dropout_p: float
    flip_p: float = 0.5


_TABLE_A1 = "SIMSPINE Supplementary A, Table A1"
#: The paper's curriculum (Table A1). Shift "(default)" in stage 1 is mmpose RandomBBoxTransform's 0.16.
CURRICULUM: tuple[StageConfig, ...] = (
    StageConfig("hard", 180.0, (0.5, 1.5), 0.16, True, True, 0.1, 0.1, 1.0),
    StageConfig("medium", 90.0, (0.5, 1.5), 0.0, True, False, 0.1, 0.1, 0.5),
    StageConfig("easy", 60.0, (0.5, 1.5), 0.0, False, False, 0.0, 0.0, 0.0),
)
CURRICULUM_SOURCE = {"stages": _TABLE_A1, "switch epochs": "SIMSPINE Supplementary A (e1 = floor(0.33 E), e2 = floor(0.67 E))",
                     "shift 0.16 / p 0.3, rotation p 0.6, half-body p 0.3 (>= 9 keypoints, padding 1.5)":
                         "mmpose 1.x RandomBBoxTransform / HalfBodyTransform defaults",
                     "photometric ranges": "own choice (albumentations ColorJitter near mmpose PhotometricDistortion)"}


def stage_for_epoch(epoch: int, epochs: int) -> int:
    """0-based epoch -> curriculum stage index 0, 1 or 2 (``e1 = floor(0.33 E)``, ``e2 = floor(0.67 E)``)."""
    if epochs < 1 or not 0 <= epoch < epochs:
        raise ValueError(f"epoch must be in [0, {epochs}) and epochs >= 1; got epoch {epoch}, epochs {epochs}")
    e1, e2 = math.floor(0.33 * epochs), math.floor(0.67 * epochs)
    return 0 if epoch < e1 else 1 if epoch < e2 else 2


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., 2) px through a (2, 3) affine -> (..., 2) px."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def _rotation_about(center: np.ndarray, degrees: float) -> np.ndarray:
    """(3, 3) rotation of image px by ``degrees`` (counter-clockwise on screen) about ``center``."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    to, back = np.eye(3), np.eye(3)
    to[:2, 2], back[:2, 2] = -center, center
    return back @ rot @ to


@dataclass
class AugmentedSample:
    """image (H, W, 3) uint8 RGB crop; keypoints (K, 2) crop px; weights (K,) 1 for labelled points inside the
    crop, else 0; matrix (2, 3) (mirrored) image px -> crop px; stage index; whether the sample was mirrored
    (then keypoint i is the original keypoint ``FLIP_INDEX[i]``)."""

    image: np.ndarray
    keypoints: np.ndarray
    weights: np.ndarray
    matrix: np.ndarray
    stage: int
    flipped: bool


class TopdownAugment:
    """The curriculum's augmentation for one stage (see module docstring).

    Args:
        stage: index into ``curriculum``.
        input_size: model input ``(height, width)`` px (256, 192 for every family here).
        udp: the crop convention of the model's codec (ViTPose's UDP, else mmpose's standard one).
        curriculum: the stages (default: the paper's).
    """

    def __init__(self, stage: int, input_size: tuple[int, int] = (256, 192), udp: bool = False,
                 curriculum: tuple[StageConfig, ...] = CURRICULUM):
        self.stage, self.cfg = stage, curriculum[stage]
        self.input_size, self.udp = tuple(input_size), udp
        self._image_ops = self._build_image_ops()

    def _build_image_ops(self):
        import albumentations as A

        c, ops = self.cfg, []
        if c.photometric:
            ops.append(A.ColorJitter(brightness=(0.8, 1.2), contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                                     hue=(-0.1, 0.1), p=1.0))
        if c.blur_p:
            ops.append(A.Blur(blur_limit=(3, 7), p=c.blur_p))
        if c.median_blur_p:
            ops.append(A.MedianBlur(blur_limit=(3, 7), p=c.median_blur_p))
        if c.dropout_p:
            ops.append(A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(0.2, 0.4),
                                       hole_width_range=(0.2, 0.4), fill=0, p=c.dropout_p))
        return A.Compose(ops) if ops else None

    def _box_params(self, rng: np.random.Generator, box: np.ndarray, kp: np.ndarray, vis: np.ndarray):
        """Centre (2,), scale (w, h) (2,) px and rotation (deg) after half-body and the random box transform."""
        h, w = self.input_size
        center, scale = center_scale(box[None], w / h, BOX_PADDING)
        center, scale = center[0], scale[0]
        c = self.cfg
        if c.half_body and (vis > 0).sum() >= 9 and rng.random() < 0.3:
            upper = [i for i in UPPER_BODY if vis[i] > 0]
            lower = [i for i in LOWER_BODY if vis[i] > 0]
            ids = upper if rng.random() < 0.5 else lower
            ids = ids if len(ids) >= 3 else (upper if len(upper) >= 3 else lower if len(lower) >= 3 else [])
            if ids:
                sel = kp[ids]
                lo, hi = sel.min(0), sel.max(0)
                center, scale = sel.mean(0), np.maximum((hi - lo) * 1.5, 1.0)
                center, scale = center_scale(np.r_[center - scale / 2, scale][None], w / h, 1.0)
                center, scale = center[0], scale[0]
        if c.shift_factor and rng.random() < 0.3:
            center = center + np.clip(rng.standard_normal(2), -1, 1) * c.shift_factor * scale
        scale = scale * rng.uniform(*c.scale_range)
        rotation = float(np.clip(rng.standard_normal(), -2, 2) * c.rotation_deg / 2) if rng.random() < 0.6 else 0.0
        return center, scale, rotation

    def __call__(self, image: np.ndarray, box: np.ndarray, keypoints: np.ndarray, visibility: np.ndarray,
                 seed: tuple[int, ...] | int) -> AugmentedSample:
        """Augment one person.

        Args:
            image: (H, W, 3) uint8 RGB.
            box: (4,) ``[x, y, w, h]`` px (the person box, unpadded).
            keypoints: (K, 2) px; visibility: (K,) (> 0 = labelled).
            seed: per-sample seed, e.g. ``(run seed, epoch, sample index)``.
        """
        import cv2

        rng = np.random.default_rng(seed)
        kp, vis = np.asarray(keypoints, np.float64).copy(), np.asarray(visibility).copy()
        box = np.asarray(box, np.float64).copy()
        flipped = bool(rng.random() < self.cfg.flip_p)
        if flipped:
            width = image.shape[1]
            image = image[:, ::-1]
            kp = kp[list(skeleton.FLIP_INDEX)]
            vis = vis[list(skeleton.FLIP_INDEX)]
            kp[:, 0] = width - 1 - kp[:, 0]
            box[0] = width - 1 - box[0] - box[2]            # the box mirrors like its keypoints
        center, scale, rotation = self._box_params(rng, box, kp, vis)
        h, w = self.input_size
        base = np.vstack([warp_matrix(center, scale, (w, h), udp=self.udp).astype(np.float64), [0.0, 0.0, 1.0]])
        matrix = (base @ _rotation_about(center, rotation))[:2]
        crop = cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR)
        if self._image_ops is not None:
            self._image_ops.set_random_seed(int(rng.integers(2**31 - 1)))
            crop = self._image_ops(image=crop)["image"]
        out = affine_points(kp, matrix)
        inside = (out[:, 0] >= 0) & (out[:, 0] <= w - 1) & (out[:, 1] >= 0) & (out[:, 1] <= h - 1)
        return AugmentedSample(crop, out, ((vis > 0) & inside).astype(np.float32), matrix, self.stage, flipped)


def write_preview(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], path, per_stage: int = 6,
                  seed: int = 0, udp: bool = False, curriculum: tuple[StageConfig, ...] = CURRICULUM):
    """PNG grid of augmented crops, one row per stage, keypoints drawn (``--preview``).

    Args:
        samples: persons as ``(image (H, W, 3) uint8 RGB, box (4,) xywh px, keypoints (K, 2) px, visibility (K,))``;
            they are used in turn.
        path: the PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simspine_hub.io.files import save_png

    fig, axes = plt.subplots(len(curriculum), per_stage, figsize=(1.6 * per_stage, 2.2 * len(curriculum)), dpi=100,
                             squeeze=False)
    for stage in range(len(curriculum)):
        aug = TopdownAugment(stage, udp=udp, curriculum=curriculum)
        for col in range(per_stage):
            image, box, kp, vis = samples[(stage * per_stage + col) % len(samples)]
            res = aug(image, box, kp, vis, seed=(seed, stage, col))
            ax = axes[stage, col]
            ax.imshow(res.image)
            ok = res.weights > 0
            colours = [skeleton.REGION_COLORS[skeleton.KEYPOINT_REGION[i]] for i in np.flatnonzero(ok)]
            ax.scatter(res.keypoints[ok, 0], res.keypoints[ok, 1], s=6, c=colours)
            ax.set_xticks([]), ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"stage {stage + 1} ({curriculum[stage].name})", fontsize=8)
    fig.suptitle("2D augmentation curriculum (SIMSPINE Table A1)", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
    return path
