"""Keypoint codecs of the 2D families, as mmpose 1.3.2 runs them: crop affine, flip-back and decoding.

Each family decodes with the codec its mmpose config names (read in mmpose's ``mmpose/codecs``,
``mmpose/models/utils/tta.py``, ``mmpose/structures/bbox/transforms.py`` and the configs
``rtmpose-m_8xb256-420e_coco-256x192``, ``td-hm_hrnet-w32_8xb64-210e_coco-256x192`` and
``td-hm_ViTPose-base_8xb64-210e_coco-256x192``; the code below is ours):

==========  ===============  ===========  ========================  ==============================
family      mmpose codec     crop         flip test (raw outputs)   decoded x for bin / column j
==========  ===============  ===========  ========================  ==============================
SpinePose,  ``SimCCLabel``   standard     swap, reverse x bins      j / split_ratio
RTMPose
HRNet       ``MSRAHeatmap``  standard     swap, mirror, shift one   4 j, then +-1 (a quarter column
                                          column right              towards the higher neighbour)
ViTPose     ``UDPHeatmap``   UDP          swap, mirror              j * W / (w - 1) after DARK-UDP
                                                                    refinement (W = 192, w = 48)
==========  ===============  ===========  ========================  ==============================

The decoded keypoints are in the model's input space (crop pixels, (x, y)); every codec maps them back
to the image the same way (:func:`crop_to_image`). The flip test averages the plain and the flipped-back
raw outputs (heatmaps or SimCC logits) and decodes once. A keypoint whose maximum is <= 0 is invalid:
its score is 0 (mmpose keeps the maximum) and its position the -1 bin / column mapped like a valid one, which
is mmpose's placeholder for SimCC and MSRA (mmpose's UDP refinement reads outside the map there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Codec", "CODECS", "codec_for", "center_scale", "warp_matrix", "crop_to_image", "decode_simcc",
           "decode_msra", "decode_udp", "decode", "flip_back", "gaussian_blur"]


@dataclass(frozen=True)
class Codec:
    """A family's keypoint codec: ``udp_crop`` (UDP affine) and ``shift_heatmap`` (flip test) follow the
    mmpose config of the family (``TopdownAffine(use_udp=...)``, ``test_cfg.shift_heatmap``)."""

    name: str
    udp_crop: bool = False
    shift_heatmap: bool = False


CODECS = {"simcc": Codec("simcc"), "msra": Codec("msra", shift_heatmap=True), "udp": Codec("udp", udp_crop=True)}
#: model_type of a config -> its codec (a config may name one itself in a ``codec`` field)
_MODEL_CODECS = {"spinepose": "simcc", "simspine-hrnet": "msra", "vitpose": "udp"}


def codec_for(config) -> Codec:
    """The codec of a model config (``config.codec`` if set, else by ``model_type``)."""
    name = getattr(config, "codec", None) or _MODEL_CODECS.get(getattr(config, "model_type", None))
    if name not in CODECS:
        raise ValueError(f"no keypoint codec for a {type(config).__name__} (model_type "
                         f"{getattr(config, 'model_type', None)!r}, codec {name!r}); known codecs: {sorted(CODECS)}")
    return CODECS[name]


def center_scale(boxes: np.ndarray, aspect: float, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) ``[x, y, w, h]`` px -> centre (N, 2) and (w, h) scale (N, 2), padded and fixed to ``aspect`` = W/H.

    The arithmetic is mmpose's (``bbox_xywh2xyxy``, ``bbox_xyxy2cs``, ``TopdownAffine._fix_aspect_ratio``),
    in the same order, so that the crops agree bit for bit."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    center = np.stack([x1 + x2, y1 + y2], axis=1) * 0.5
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    wide = w > h * aspect
    return center, np.stack([np.where(wide, w, h * aspect), np.where(wide, w / aspect, h)], axis=1)


def warp_matrix(center: np.ndarray, scale: np.ndarray, out_wh: tuple[int, int], udp: bool = False) -> np.ndarray:
    """(2, 3) affine from image px to crop px for one box (centre (2,), scale (w, h) (2,) px), no rotation.

    Standard (mmpose ``get_warp_matrix``): the box maps onto the crop, centre to (W/2, H/2), W / w crop px
    per image px; solved by ``cv2.getAffineTransform`` from the same three float32 points as mmpose.
    UDP (``get_udp_warp_matrix``): the box edges map to crop pixels 0 and W - 1, (W - 1) / w per image px."""
    out_w, out_h = out_wh
    if udp:
        sx, sy = (out_w - 1) / scale[0], (out_h - 1) / scale[1]
        return np.array([[sx, 0.0, sx * (-center[0] + 0.5 * scale[0])],
                         [0.0, sy, sy * (-center[1] + 0.5 * scale[1])]], dtype=np.float32)
    import cv2

    def third(a: np.ndarray, b: np.ndarray) -> np.ndarray:      # b + (a - b) turned by 90 degrees
        d = a - b
        return b + np.array([-d[1], d[0]], dtype=np.float32)

    src = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([-0.5 * scale[0], 0.0])
    src[2] = third(src[0], src[1])
    dst = np.zeros((3, 2), np.float32)
    dst[0] = [out_w * 0.5, out_h * 0.5]
    dst[1] = [0.0, out_h * 0.5]
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(N, K, 2) decoded keypoints (input space) -> image px, for centres / scales (N, 2): mmpose's
    ``TopdownPoseEstimator.add_pred_to_datasample`` (``kp / (W, H) * scale + center - scale / 2``), the same
    for every codec (the UDP codec's decoded coordinates already account for its crop)."""
    h, w = input_size
    return points / np.array([w, h]) * scale[:, None, :] + center[:, None, :] - 0.5 * scale[:, None, :]


def _placeholder(score: np.ndarray, keypoints: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invalid keypoints (maximum <= 0, mmpose's rule): score 0, position ``at`` (mmpose's -1 bin)."""
    invalid = ~(score > 0)
    keypoints[invalid] = at
    return keypoints, np.where(invalid, 0.0, score)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC logits x (N, K, W*r), y (N, K, H*r) -> keypoints (N, K, 2) crop px, scores (N, K).

    mmpose ``SimCCLabel.decode`` without DARK (the RTMPose configs): argmax bin / ``split_ratio``; the score is
    the smaller of the two maxima."""
    kp = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1).astype(np.float64) / split_ratio
    score = np.minimum(simcc_x.max(-1), simcc_y.max(-1)).astype(np.float64)
    return _placeholder(score, kp, np.full(2, -1.0 / split_ratio))


def _maxima(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K, h, w) -> integer column x, row y (N, K) of the first maximum, and its value (N, K)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(-1)
    return idx % w, idx // w, flat.max(-1).astype(np.float64)


def decode_msra(heatmaps: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N, K, h, w) -> keypoints (N, K, 2) crop px, scores (N, K): mmpose ``MSRAHeatmap.decode``.

    Column j, row i -> (j, i) moved a quarter cell towards the higher neighbour along each axis, then times
    the stride (W / w, H / h) = (4, 4). The quarter step follows mmpose's ``refine_keypoints`` conditions
    exactly: along x only when 1 < j < w - 1 and i > 0, along y only when 1 < i < h - 1 and j > 0."""
    n, k, h, w = heatmaps.shape
    x, y, score = _maxima(heatmaps)
    hm = heatmaps.reshape(n * k, h, w)
    rows = np.arange(n * k)
    xf, yf = x.ravel(), y.ravel()

    def at(dx: int, dy: int) -> np.ndarray:
        return hm[rows, np.clip(yf + dy, 0, h - 1), np.clip(xf + dx, 0, w - 1)]

    step_x = ((xf > 1) & (xf < w - 1) & (yf > 0)) * np.sign(at(1, 0) - at(-1, 0))
    step_y = ((yf > 1) & (yf < h - 1) & (xf > 0)) * np.sign(at(0, 1) - at(0, -1))
    kp = np.stack([xf + 0.25 * step_x, yf + 0.25 * step_y], -1).reshape(n, k, 2)
    stride = np.array([input_size[1] / w, input_size[0] / h])
    return _placeholder(score, kp * stride, -stride)


def gaussian_blur(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """(..., h, w) maps -> float32 maps blurred by a ``kernel`` x ``kernel`` Gaussian (OpenCV's sigma for that
    size, 0.3 ((kernel - 1) / 2 - 1) + 0.8) over zeros outside the map, then rescaled to the map's own maximum:
    mmpose's ``gaussian_blur`` (the DARK modulation). Done map by map in float32 with ``cv2.GaussianBlur``, as
    mmpose does: near-flat log maps make the refinement sensitive to the last bit."""
    import cv2

    r = (kernel - 1) // 2
    h, w = heatmaps.shape[-2:]
    flat = np.asarray(heatmaps, np.float32).reshape(-1, h, w)
    out = np.empty_like(flat)
    pad = np.zeros((h + 2 * r, w + 2 * r), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, m in enumerate(flat):
            pad[r:r + h, r:r + w] = m
            blurred = cv2.GaussianBlur(pad, (kernel, kernel), 0)[r:r + h, r:r + w]
            out[i] = blurred * (m.max() / blurred.max())
    return out.reshape(heatmaps.shape)


def _dark_udp_offsets(heatmaps: np.ndarray, x: np.ndarray, y: np.ndarray, blur_kernel: int) -> np.ndarray:
    """(N, K, h, w) maps and integer maxima (N, K) -> Newton offsets (N, K, 2) in cells to subtract, as mmpose's
    ``refine_keypoints_dark_udp`` computes them (float32 log maps and differences, float64 inverse Hessian)."""
    n, k, h, w = heatmaps.shape
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logs = np.log(np.clip(gaussian_blur(heatmaps, blur_kernel), 1e-3, 50.0))
    pad = np.pad(logs, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")          # edges replicated
    b, kk = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

    def at(dx: int, dy: int) -> np.ndarray:
        return pad[b, kk, y + 1 + dy, x + 1 + dx]

    i_, ix1, ix1_, iy1, iy1_ = at(0, 0), at(1, 0), at(-1, 0), at(0, 1), at(0, -1)
    grad = np.stack([0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)], -1)[..., None]      # (N, K, 2, 1) float32
    dxx, dyy = ix1 - 2 * i_ + ix1_, iy1 - 2 * i_ + iy1_
    dxy = 0.5 * (at(1, 1) - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + at(-1, -1))      # mmpose's order of terms
    hess = np.stack([np.stack([dxx, dxy], -1), np.stack([dxy, dyy], -1)], -2).astype(np.float64)
    hess += np.finfo(np.float32).eps * np.eye(2)
    with np.errstate(invalid="ignore"):                   # NaN only for all-zero maps (invalid keypoints)
        singular = np.linalg.det(hess) == 0                                      # mmpose would raise here
        hess[singular] = np.eye(2)
        grad = np.where(singular[..., None, None], 0, grad)
        return (np.linalg.inv(hess) @ grad)[..., 0]


def decode_udp(heatmaps: np.ndarray, input_size: tuple[int, int], blur_kernel: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N, K, h, w) -> keypoints (N, K, 2) crop px, scores (N, K): mmpose ``UDPHeatmap.decode``
    (gaussian type, ``blur_kernel_size`` 11).

    DARK-UDP refinement (mmpose ``refine_keypoints_dark_udp``): the maps are blurred (:func:`gaussian_blur`),
    clipped to [1e-3, 50] and logged; at the maximum (edges replicated outside the map) one Newton step with
    the central-difference gradient and Hessian (+ float32 eps on the diagonal) moves the cell (in float32, as
    there). Cell (j, i) then maps to (j W / (w - 1), i H / (h - 1)) (with W = 192, w = 48: 4.085 per cell)."""
    n, k, h, w = heatmaps.shape
    x, y, score = _maxima(heatmaps)
    cells = (np.stack([x, y], -1) - _dark_udp_offsets(heatmaps, x, y, blur_kernel)).astype(np.float32)
    kp = cells / np.array([w - 1, h - 1]) * np.array([input_size[1], input_size[0]])
    return _placeholder(score, kp, -np.array([input_size[1] / (w - 1), input_size[0] / (h - 1)]))


def decode(codec: Codec, outputs: dict, input_size: tuple[int, int], split_ratio: float = 2.0):
    """Decode raw outputs (``heatmaps`` (N, K, h, w), or ``simcc_x`` / ``simcc_y``) with ``codec``."""
    if codec.name == "simcc":
        return decode_simcc(outputs["simcc_x"], outputs["simcc_y"], split_ratio)
    return (decode_msra if codec.name == "msra" else decode_udp)(outputs["heatmaps"], input_size)


def flip_back(codec: Codec, outputs: dict, flip_index) -> dict:
    """Raw outputs of the mirrored crop -> outputs in the plain crop's frame (mmpose ``flip_vectors`` /
    ``flip_heatmaps``): keypoint channels swapped left/right by ``flip_index``, x reversed; with
    ``shift_heatmap`` every column then moves one to the right (column 0 kept)."""
    flip_index = list(flip_index)
    if codec.name == "simcc":
        return {"simcc_x": outputs["simcc_x"][:, flip_index, ::-1], "simcc_y": outputs["simcc_y"][:, flip_index]}
    hm = outputs["heatmaps"][:, flip_index, :, ::-1].copy()
    if codec.shift_heatmap:
        hm[..., 1:] = hm[..., :-1].copy()
    return {"heatmaps": hm}
