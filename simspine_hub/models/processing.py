"""Top-down pose pre- and post-processing (numpy / OpenCV / torch), shared by every 2D model family.

Boxes are ``[x, y, w, h]`` pixels. A box is padded by ``box_padding`` (1.25) about its centre and widened
or heightened to the model's aspect ratio; the crop is an axis-aligned affine warp to ``input_size``
(H, W) = (256, 192). Images are RGB uint8, normalised with the ImageNet mean/std on 0-255 values.

Decoding: SimCC argmax / ``split_ratio`` (RTMPose) or heatmap argmax with a quarter-pixel shift towards the
higher neighbour (HRNet, ViTPose), mapped back to image pixels through the inverse affine.
Flip test: the horizontally flipped crop is run too; its outputs are mirrored back, keypoints swapped with
:data:`simspine_hub.skeleton.FLIP_INDEX`, and averaged with the plain outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simspine_hub import skeleton
from simspine_hub.models._constants import IMAGE_MEAN, IMAGE_STD, INPUT_SIZE

__all__ = ["PoseImageProcessor", "CropInfo", "box_to_center_scale", "decode_simcc", "decode_heatmaps",
           "IMAGE_MEAN", "IMAGE_STD", "INPUT_SIZE"]


@dataclass
class CropInfo:
    """center (N, 2) and scale (N, 2) = (w, h) of the padded, aspect-fixed boxes in image pixels."""

    center: np.ndarray
    scale: np.ndarray


def box_to_center_scale(boxes: np.ndarray, aspect: float, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xywh -> centre (N, 2) and (w, h) (N, 2) padded and fixed to ``aspect`` = W / H."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    center = boxes[:, :2] + boxes[:, 2:] / 2
    w, h = boxes[:, 2] * padding, boxes[:, 3] * padding
    w, h = np.where(w > h * aspect, w, h * aspect), np.where(w > h * aspect, w / aspect, h)
    return center, np.stack([w, h], axis=1)


def _affine(center: np.ndarray, scale: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """(2, 3) matrix mapping image pixels to crop pixels (no rotation)."""
    s = out_wh[0] / scale[0]
    return np.array([[s, 0.0, out_wh[0] / 2 - s * center[0]], [0.0, s, out_wh[1] / 2 - s * center[1]]])


def crop_to_image(points: np.ndarray, crop: CropInfo, input_size: tuple[int, int]) -> np.ndarray:
    """(N, K, 2) crop pixels -> image pixels (inverse of the crop affine)."""
    h, w = input_size
    s = crop.scale[:, 0] / w                                     # image px per crop px
    return (points - np.array([w / 2, h / 2])) * s[:, None, None] + crop.center[:, None, :]


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, Wr), (N, K, Hr) logits -> crop keypoints (N, K, 2) and scores (N, K) (min of the two maxima)."""
    ix, iy = simcc_x.argmax(-1), simcc_y.argmax(-1)
    kp = np.stack([ix, iy], -1).astype(np.float64) / split_ratio
    return kp, np.minimum(simcc_x.max(-1), simcc_y.max(-1))


def decode_heatmaps(heatmaps: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, h, w) heatmaps -> crop keypoints (N, K, 2) in input pixels and scores (N, K)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = flat.argmax(-1)
    score = flat.max(-1)
    x, y = (idx % w).astype(np.float64), (idx // w).astype(np.float64)
    xi, yi = idx % w, idx // w
    nb = lambda dx, dy: np.take_along_axis(  # noqa: E731
        flat, (np.clip(yi + dy, 0, h - 1) * w + np.clip(xi + dx, 0, w - 1))[..., None], -1)[..., 0]
    x += 0.25 * np.sign(nb(1, 0) - nb(-1, 0)) * ((xi > 0) & (xi < w - 1))
    y += 0.25 * np.sign(nb(0, 1) - nb(0, -1)) * ((yi > 0) & (yi < h - 1))
    stride = np.array([input_size[1] / w, input_size[0] / h])
    return (np.stack([x, y], -1) + 0.5) * stride - 0.5, score


class PoseImageProcessor:
    """Batched top-down crops for 2D pose models, and decoding back to image pixels.

    Args:
        input_size: (H, W) of the model input. image_mean / image_std: per-channel, 0-255 RGB.
        box_padding: box scale about its centre.
    """

    def __init__(self, input_size=INPUT_SIZE, image_mean=IMAGE_MEAN, image_std=IMAGE_STD, box_padding: float = 1.25):
        self.input_size = tuple(int(v) for v in input_size)
        self.mean = np.asarray(image_mean, np.float32)
        self.std = np.asarray(image_std, np.float32)
        self.box_padding = box_padding

    @classmethod
    def from_config(cls, config) -> PoseImageProcessor:
        """From a model config (SpinePose/HRNet have the fields; ViTPose uses the same defaults)."""
        return cls(getattr(config, "input_size", INPUT_SIZE), getattr(config, "image_mean", IMAGE_MEAN),
                   getattr(config, "image_std", IMAGE_STD), getattr(config, "box_padding", 1.25))

    def crop(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> tuple[np.ndarray, CropInfo, np.ndarray]:
        """Images (H, W, 3) uint8 RGB and per-image (n_i, 4) xywh boxes -> (N, 3, H, W) float32 crops,
        the :class:`CropInfo`, and the (N,) image index of every crop."""
        import cv2

        h, w = self.input_size
        crops, centers, scales, owner = [], [], [], []
        for i, (img, bx) in enumerate(zip(images, boxes)):
            if img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"image {i} has shape {img.shape}; expected (H, W, 3) RGB")
            c, s = box_to_center_scale(bx, w / h, self.box_padding)
            for cj, sj in zip(c, s):
                M = _affine(cj, sj, (w, h))
                crop = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
                crops.append(((crop.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1))
                centers.append(cj)
                scales.append(sj)
                owner.append(i)
        if not crops:
            return np.zeros((0, 3, h, w), np.float32), CropInfo(np.zeros((0, 2)), np.zeros((0, 2))), np.zeros(0, int)
        return np.stack(crops), CropInfo(np.array(centers), np.array(scales)), np.array(owner)

    def to_image(self, crop_keypoints: np.ndarray, info: CropInfo) -> np.ndarray:
        """(N, K, 2) crop pixels -> (N, K, 2) image pixels."""
        return crop_to_image(crop_keypoints, info, self.input_size)

    def predict(self, model, images: list[np.ndarray], boxes: list[np.ndarray], flip_test: bool = False,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run a 2D pose model -> keypoints (N, K, 2) image px, scores (N, K), image index (N,)."""
        import torch

        pixel, info, owner = self.crop(images, boxes)
        outs_kp, outs_sc = [], []
        dev = model.device
        for a in range(0, len(pixel), batch_size):
            x = torch.from_numpy(pixel[a:a + batch_size]).to(dev)
            with torch.no_grad():
                kp, sc = self._forward(model, x)
                if flip_test:
                    kpf, scf = self._forward(model, x.flip(-1), flipped=True)
                    kp, sc = (kp + kpf) / 2, (sc + scf) / 2
            outs_kp.append(kp)
            outs_sc.append(sc)
        if not outs_kp:
            return np.zeros((0, skeleton.NUM_KEYPOINTS, 2)), np.zeros((0, skeleton.NUM_KEYPOINTS)), owner
        return self.to_image(np.concatenate(outs_kp), info), np.concatenate(outs_sc), owner

    def _forward(self, model, x, flipped: bool = False) -> tuple[np.ndarray, np.ndarray]:
        out = model(pixel_values=x)
        flip = list(skeleton.FLIP_INDEX)
        if getattr(out, "simcc_x", None) is not None:
            sx, sy = out.simcc_x.float().cpu().numpy(), out.simcc_y.float().cpu().numpy()
            if flipped:
                sx, sy = sx[:, flip, ::-1], sy[:, flip]
                kp, sc = decode_simcc(sx, sy, model.config.split_ratio)
                # a point at crop x sits at W - 1 - x in the mirrored crop; reversing its bins gives x + 1 - 1/r
                kp[..., 0] += 1.0 / model.config.split_ratio - 1.0
                return kp, sc
            return decode_simcc(sx, sy, model.config.split_ratio)
        hm = out.heatmaps.float().cpu().numpy()
        if flipped:
            hm = hm[:, flip, :, ::-1]
        return decode_heatmaps(np.ascontiguousarray(hm), self.input_size)
