"""Each family's mmpose codec, checked against its documented formula on synthetic heatmaps / SimCC vectors
whose decoded position is known (mmpose itself is not needed: tools/check_mmpose_parity.py compares with it).

Known answers from mmpose 1.3.2 (issue 17): a single peak at heatmap column 20, row 10 decodes to (80, 40) with
``MSRAHeatmap`` (HRNet) and to (20 * 192 / 47, 10 * 256 / 63) = (81.70, 40.63) with ``UDPHeatmap`` (ViTPose).
"""

import numpy as np
import pytest
import torch

from simspine_hub import skeleton
from simspine_hub.models import codecs
from simspine_hub.models.processing import PoseImageProcessor

H, W, h, w = 256, 192, 64, 48
FLIP = np.asarray(skeleton.FLIP_INDEX)


def _gaussian(u: np.ndarray, v: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(K,) centres in heatmap cells -> (1, K, h, w) unnormalised Gaussians (the heatmap codecs' encoding)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - u[:, None, None]) ** 2 + (yy - v[:, None, None]) ** 2) / (2 * sigma ** 2))[None].astype(np.float32)


def _peak(col: int, row: int, right: float = 0.0, below: float = 0.0) -> np.ndarray:
    hm = np.zeros((1, 1, h, w), np.float32)
    hm[0, 0, row, col] = 1.0
    if col + 1 < w:
        hm[0, 0, row, col + 1] = right
    if row + 1 < h:
        hm[0, 0, row + 1, col] = below
    return hm


def test_msra_single_peak_and_quarter_step_rules():
    """x = 4 j (+-1 towards the higher neighbour), only where mmpose's refine_keypoints allows it."""
    kp, sc = codecs.decode_msra(_peak(20, 10), (H, W))
    assert np.array_equal(kp[0, 0], [80.0, 40.0]) and sc[0, 0] == 1.0
    assert np.array_equal(codecs.decode_msra(_peak(20, 10, right=0.5, below=0.5), (H, W))[0][0, 0], [81.0, 41.0])
    # the conditions as written in mmpose: x refined for 1 < j < w - 1 and i > 0; y for 1 < i < h - 1 and j > 0
    assert np.array_equal(codecs.decode_msra(_peak(1, 10, right=0.5), (H, W))[0][0, 0], [4.0, 40.0])
    assert np.array_equal(codecs.decode_msra(_peak(2, 10, right=0.5), (H, W))[0][0, 0], [9.0, 40.0])
    assert np.array_equal(codecs.decode_msra(_peak(20, 0, right=0.5, below=0.5), (H, W))[0][0, 0], [80.0, 0.0])
    assert np.array_equal(codecs.decode_msra(_peak(0, 10, right=0.5, below=0.5), (H, W))[0][0, 0], [0.0, 40.0])


def test_udp_single_peak_and_subpixel_gaussians():
    """x = j * W / (w - 1) after DARK-UDP: exact for a symmetric peak, and recovers a Gaussian's sub-cell centre."""
    kp, _ = codecs.decode_udp(_peak(20, 10), (H, W))
    assert np.allclose(kp[0, 0], [20 * 192 / 47, 10 * 256 / 63]) and np.allclose(kp[0, 0], [81.70, 40.63], atol=0.005)
    u, v = np.array([20.3, 5.2, 40.45, 33.7]), np.array([10.6, 50.9, 30.05, 7.25])
    kp, sc = codecs.decode_udp(_gaussian(u, v), (H, W))
    assert np.abs(kp[0] - np.stack([u * W / (w - 1), v * H / (h - 1)], -1)).max() < 0.01      # crop px
    assert np.allclose(sc[0], _gaussian(u, v).reshape(len(u), -1).max(-1))


def test_gaussian_blur_is_opencv_on_a_zero_padded_map():
    """mmpose's DARK modulation: cv2.GaussianBlur of the map padded with (k - 1) / 2 zeros, rescaled to its max."""
    import cv2

    rng = np.random.default_rng(0)
    hm = rng.random((2, 3, h, w)).astype(np.float32)
    ours = codecs.gaussian_blur(hm, 11)
    for b in range(2):
        for k in range(3):
            dr = np.zeros((h + 10, w + 10), np.float32)
            dr[5:-5, 5:-5] = hm[b, k]
            ref = cv2.GaussianBlur(dr, (11, 11), 0)[5:-5, 5:-5]
            ref *= hm[b, k].max() / ref.max()
            assert np.abs(ours[b, k] - ref).max() < 1e-5


def test_simcc_argmax_over_split_ratio_and_min_score():
    sx, sy = np.zeros((1, 2, 2 * W), np.float32), np.zeros((1, 2, 2 * H), np.float32)
    sx[0, 0, 201], sy[0, 0, 301] = 0.9, 0.7
    sx[0, 1, 17], sy[0, 1, 40] = 0.5, 0.8
    kp, sc = codecs.decode_simcc(sx, sy, 2.0)
    assert np.array_equal(kp[0], [[100.5, 150.5], [8.5, 20.0]]) and np.allclose(sc[0], [0.7, 0.5])


@pytest.mark.parametrize("name", ["simcc", "msra", "udp"])
def test_non_positive_maxima_are_invalid_with_score_zero(name):
    codec = codecs.CODECS[name]
    outputs = {"simcc_x": -np.ones((1, 2, 2 * W), np.float32), "simcc_y": np.ones((1, 2, 2 * H), np.float32)} \
        if name == "simcc" else {"heatmaps": np.concatenate([-_peak(20, 10), _peak(20, 10) * 0], 1)}
    kp, sc = codecs.decode(codec, outputs, (H, W))
    assert np.array_equal(sc, np.zeros((1, 2)))
    # mmpose's placeholder: the -1 bin / column (unrefined)
    expected = {"simcc": [-0.5, -0.5], "msra": [-4.0, -4.0], "udp": [-W / (w - 1), -H / (h - 1)]}[name]
    assert np.allclose(kp[0], expected)


def test_flip_back_mirrors_swaps_and_shifts_like_mmpose():
    """flip_heatmaps: column c of the mirrored output lands on w - 1 - c, plus one with shift_heatmap (HRNet);
    flip_vectors: SimCC x bin b lands on 2 W - 1 - b; channels swap left/right."""
    k = len(FLIP)
    hm = np.zeros((1, k, h, w), np.float32)
    cols = np.arange(k) + 1
    hm[0, np.arange(k), 5, cols] = 1.0
    for name, expect in (("msra", w - cols), ("udp", w - 1 - cols)):
        out = codecs.flip_back(codecs.CODECS[name], {"heatmaps": hm}, FLIP)["heatmaps"]
        assert np.array_equal(out[0].reshape(k, -1).argmax(-1) % w, expect[FLIP])
    sx, sy = np.zeros((1, k, 2 * W), np.float32), np.zeros((1, k, 2 * H), np.float32)
    sx[0, np.arange(k), np.arange(k) * 3] = 1.0
    sy[0, np.arange(k), np.arange(k)] = 1.0
    out = codecs.flip_back(codecs.CODECS["simcc"], {"simcc_x": sx, "simcc_y": sy}, FLIP)
    assert np.array_equal(out["simcc_x"][0].argmax(-1), (2 * W - 1 - np.arange(k) * 3)[FLIP])
    assert np.array_equal(out["simcc_y"][0].argmax(-1), np.arange(k)[FLIP])


class _Fixed(torch.nn.Module):
    """A model returning fixed raw outputs, one set for the plain crop and one for the mirrored crop (told apart
    by a marker pixel in the top-left corner of the plain crop)."""

    def __init__(self, model_type: str, plain: dict, mirrored: dict):
        super().__init__()
        self.config = type("Config", (), {"model_type": model_type, "split_ratio": 2.0})()
        self.plain, self.mirrored = plain, mirrored
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, pixel_values):
        out = self.mirrored if bool(pixel_values[0, 0, 0, -1] > 10) else self.plain
        return type("Out", (), {"simcc_x": None} | {k: torch.from_numpy(v) for k, v in out.items()})()


def _predict_crop(model, flip_test: bool) -> tuple[np.ndarray, np.ndarray]:
    proc = PoseImageProcessor.from_config(model.config)
    pixel = torch.zeros(1, 3, H, W)
    pixel[0, 0, 0, 0] = 100.0                    # the marker: the last column once mirrored
    return proc.decode(proc.raw_outputs(model, pixel, flip_test))


def test_flip_test_averages_raw_outputs_before_decoding():
    """SimCC: plain x logits peak at bin 100 (1.0) with 0.9 at bin 200; the mirrored output, flipped back, has
    1.0 at bin 200 and 0.2 at bin 100. Average: bin 200 wins (0.95 vs 0.6) -> x = 100 px, where averaging
    the two decoded coordinates would give 75."""
    k = len(FLIP)
    sx, sy = np.zeros((1, k, 2 * W), np.float32), np.zeros((1, k, 2 * H), np.float32)
    sx[..., 100], sx[..., 200], sy[..., 60] = 1.0, 0.9, 1.0
    fx = np.zeros_like(sx)
    fx[..., 2 * W - 1 - 200], fx[..., 2 * W - 1 - 100] = 1.0, 0.2          # as mirrored bins
    model = _Fixed("spinepose", {"simcc_x": sx, "simcc_y": sy}, {"simcc_x": fx, "simcc_y": sy})
    kp, sc = _predict_crop(model, flip_test=True)
    assert np.allclose(kp[0, :, 0], 100.0) and np.allclose(kp[0, :, 1], 30.0) and np.allclose(sc, 0.95)
    assert np.allclose(_predict_crop(model, flip_test=False)[0][0, :, 0], 50.0)


def test_heatmap_flip_test_hrnet_shifts_vitpose_does_not():
    """The mirrored output puts every keypoint at column 47 - 20 = 27: flipped back that is column 20 for
    ViTPose (plain output agrees: peak stays at 20) and column 21 for HRNet (one-column shift): the average of
    a peak at 20 and one at 21 decodes to 4 * 20 + 1 = 81 px with the quarter step."""
    k = len(FLIP)
    plain, mirrored = np.zeros((1, k, h, w), np.float32), np.zeros((1, k, h, w), np.float32)
    plain[..., 10, 20] = 1.0
    mirrored[..., 10, 27] = 0.8
    for model_type, x in (("simspine-hrnet", 81.0), ("vitpose", 20 * W / (w - 1))):
        model = _Fixed(model_type, {"heatmaps": plain}, {"heatmaps": mirrored})
        kp, sc = _predict_crop(model, flip_test=True)
        assert np.allclose(kp[0, :, 0], x, atol=1e-6), model_type
        assert np.allclose(sc, 0.9 if model_type == "vitpose" else 0.5)


def test_crops_standard_and_udp():
    """Standard: box centre -> crop centre (W/2, H/2), W / w_box crop px per image px. UDP: the box's edges
    -> crop pixels 0 and W - 1 (and 0, H - 1)."""
    center, scale = codecs.center_scale(np.array([[100.0, 50.0, 150.0, 300.0]]), W / H, 1.25)
    assert np.allclose(center, [[175.0, 200.0]]) and np.allclose(scale, [[281.25, 375.0]])
    m = codecs.warp_matrix(center[0], scale[0], (W, H))
    s = W / scale[0, 0]
    assert np.allclose(m, [[s, 0, W / 2 - s * 175.0], [0, s, H / 2 - s * 200.0]], atol=1e-4)
    u = codecs.warp_matrix(center[0], scale[0], (W, H), udp=True)
    corners = np.array([[175.0 - 281.25 / 2, 200.0 - 187.5, 1.0], [175.0 + 281.25 / 2, 200.0 + 187.5, 1.0]])
    assert np.allclose(corners @ u.T, [[0.0, 0.0], [W - 1, H - 1]], atol=1e-3)


def test_udp_crop_and_decode_round_trip_image_points():
    """An image point, cropped with the UDP affine, encoded the UDPHeatmap way (cell = crop px * (w - 1) /
    (W - 1), Gaussian sigma 2), decodes and maps back onto itself (a few hundredths of a crop pixel)."""
    rng = np.random.default_rng(3)
    box = np.array([[300.0, 120.0, 220.0, 400.0]])
    center, scale = codecs.center_scale(box, W / H)
    m = codecs.warp_matrix(center[0], scale[0], (W, H), udp=True).astype(np.float64)
    pts = box[:, :2] + rng.uniform(0.15, 0.85, size=(20, 2)) * box[:, 2:]
    crop = pts @ m[:, :2].T + m[:, 2]
    cells = crop * np.array([(w - 1) / (W - 1), (h - 1) / (H - 1)])
    kp, _ = codecs.decode_udp(_gaussian(cells[:, 0], cells[:, 1]), (H, W))
    back = codecs.crop_to_image(kp, center, scale, (H, W))[0]
    assert np.abs(back - pts).max() < 0.01 * scale[0, 0] / W                  # 0.01 crop px in image px


def test_processor_refuses_another_models_codec():
    model = _Fixed("vitpose", {}, {})
    with pytest.raises(ValueError, match="from_config"):
        PoseImageProcessor(codec="simcc").predict(model, [np.zeros((10, 10, 3), np.uint8)], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match="no keypoint codec"):
        codecs.codec_for(type("C", (), {"model_type": "bert"})())
