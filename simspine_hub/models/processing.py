"""Top-down pose pre- and post-processing (numpy / OpenCV / torch) for every 2D model family.

Boxes are ``[x, y, w, h]`` pixels. A box is padded by ``box_padding`` (1.25) about its centre and widened
or heightened to the model's aspect ratio; the crop is an affine warp to ``input_size`` (H, W) = (256, 192),
standard or UDP as the family's codec asks (:mod:`simspine_hub.models.codecs`). Images are RGB uint8,
normalised with the ImageNet mean/std on 0-255 values.

Decoding follows the family's mmpose codec (SimCC for SpinePose / RTMPose, MSRA heatmaps for HRNet, UDP
heatmaps for ViTPose). Flip test, as mmpose runs it: the horizontally mirrored crop is run too, its raw
outputs are flipped back (keypoints swapped with :data:`simspine_hub.skeleton.FLIP_INDEX`) and averaged
with the plain outputs, and the average is decoded once. Keypoints whose maximum is <= 0 get score 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simspine_hub import skeleton
from simspine_hub.models import codecs
from simspine_hub.models._constants import IMAGE_MEAN, IMAGE_STD, INPUT_SIZE

__all__ = ["PoseImageProcessor", "CropInfo", "IMAGE_MEAN", "IMAGE_STD", "INPUT_SIZE"]


@dataclass
class CropInfo:
    """center (N, 2) and scale (N, 2) = (w, h) of the padded, aspect-fixed boxes in image pixels."""

    center: np.ndarray
    scale: np.ndarray


class PoseImageProcessor:
    """Batched top-down crops for 2D pose models, and decoding back to image pixels.

    Args:
        input_size: (H, W) of the model input. image_mean / image_std: per-channel, 0-255 RGB.
        box_padding: box scale about its centre.
        codec: ``"simcc"``, ``"msra"`` or ``"udp"`` (:data:`simspine_hub.models.codecs.CODECS`); it must be
            the model's (:meth:`from_config` picks it).
        split_ratio: SimCC bins per pixel.
    """

    def __init__(self, input_size=INPUT_SIZE, image_mean=IMAGE_MEAN, image_std=IMAGE_STD, box_padding: float = 1.25,
                 codec: str = "simcc", split_ratio: float = 2.0):
        if codec not in codecs.CODECS:
            raise ValueError(f"codec {codec!r} is not one of {sorted(codecs.CODECS)}")
        self.input_size = tuple(int(v) for v in input_size)
        self.mean = np.asarray(image_mean, np.float32)
        self.std = np.asarray(image_std, np.float32)
        self.box_padding = box_padding
        self.codec = codecs.CODECS[codec]
        self.split_ratio = split_ratio

    @classmethod
    def from_config(cls, config) -> PoseImageProcessor:
        """From a model config: its input size, normalisation, padding and codec (ViTPose's transformers config
        has none of the first three: mmpose's ViTPose-b uses the same defaults)."""
        return cls(getattr(config, "input_size", INPUT_SIZE), getattr(config, "image_mean", IMAGE_MEAN),
                   getattr(config, "image_std", IMAGE_STD), getattr(config, "box_padding", 1.25),
                   codecs.codec_for(config).name, getattr(config, "split_ratio", 2.0))

    def crop(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> tuple[np.ndarray, CropInfo, np.ndarray]:
        """Images (H, W, 3) uint8 RGB and per-image (n_i, 4) xywh boxes -> (N, 3, H, W) float32 crops,
        the :class:`CropInfo`, and the (N,) image index of every crop."""
        import cv2

        h, w = self.input_size
        crops, centers, scales, owner = [], [], [], []
        for i, (img, bx) in enumerate(zip(images, boxes)):
            if img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"image {i} has shape {img.shape}; expected (H, W, 3) RGB")
            c, s = codecs.center_scale(bx, w / h, self.box_padding)
            for cj, sj in zip(c, s):
                M = codecs.warp_matrix(cj, sj, (w, h), udp=self.codec.udp_crop)
                crop = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
                crops.append(((crop.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1))
                centers.append(cj)
                scales.append(sj)
                owner.append(i)
        if not crops:
            return np.zeros((0, 3, h, w), np.float32), CropInfo(np.zeros((0, 2)), np.zeros((0, 2))), np.zeros(0, int)
        return np.stack(crops), CropInfo(np.array(centers), np.array(scales)), np.array(owner)

    def to_image(self, crop_keypoints: np.ndarray, info: CropInfo) -> np.ndarray:
        """(N, K, 2) decoded keypoints (crop px) -> (N, K, 2) image pixels."""
        return codecs.crop_to_image(crop_keypoints, info.center, info.scale, self.input_size)

    def decode(self, outputs: dict) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs (``heatmaps`` (N, K, h, w) or ``simcc_x`` (N, K, W*r) / ``simcc_y`` (N, K, H*r), numpy)
        -> crop keypoints (N, K, 2) px and scores (N, K)."""
        return codecs.decode(self.codec, outputs, self.input_size, self.split_ratio)

    def raw_outputs(self, model, pixel_values, flip_test: bool = False) -> dict:
        """Run ``model`` on (B, 3, H, W) crops -> its raw outputs as float32 numpy; with ``flip_test`` the
        average of the plain and the flipped-back outputs of the mirrored crops."""
        import torch

        def run(x) -> dict:
            with torch.no_grad():
                out = model(pixel_values=x)
            keys = ("simcc_x", "simcc_y") if getattr(out, "simcc_x", None) is not None else ("heatmaps",)
            return {k: getattr(out, k).float().cpu().numpy() for k in keys}

        outputs = run(pixel_values)
        if flip_test:
            flipped = codecs.flip_back(self.codec, run(pixel_values.flip(-1)), skeleton.FLIP_INDEX)
            outputs = {k: (v + flipped[k]) * np.float32(0.5) for k, v in outputs.items()}
        return outputs

    def predict(self, model, images: list[np.ndarray], boxes: list[np.ndarray], flip_test: bool = False,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run a 2D pose model -> keypoints (N, K, 2) image px, scores (N, K), image index (N,)."""
        import torch

        want = codecs.codec_for(model.config)
        if want != self.codec:
            raise ValueError(f"this processor uses the {self.codec.name!r} codec but the model needs {want.name!r}; "
                             "build it with PoseImageProcessor.from_config(model.config)")
        pixel, info, owner = self.crop(images, boxes)
        outs_kp, outs_sc = [], []
        for a in range(0, len(pixel), batch_size):
            x = torch.from_numpy(pixel[a:a + batch_size]).to(model.device)
            kp, sc = self.decode(self.raw_outputs(model, x, flip_test))
            outs_kp.append(kp)
            outs_sc.append(sc)
        if not outs_kp:
            return np.zeros((0, skeleton.NUM_KEYPOINTS, 2)), np.zeros((0, skeleton.NUM_KEYPOINTS)), owner
        return self.to_image(np.concatenate(outs_kp), info), np.concatenate(outs_sc), owner
