"""The 2D augmentation curriculum: stage switches, flips swap left/right, keypoints follow the image warp."""

import math

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.training.augment2d import CURRICULUM, StageConfig, TopdownAugment, stage_for_epoch

H, W = 300, 400


@pytest.mark.parametrize("epochs", [1, 2, 3, 7, 10, 50])
def test_stages_switch_at_floor_033_and_067(epochs):
    e1, e2 = math.floor(0.33 * epochs), math.floor(0.67 * epochs)     # Supplementary A, written out again
    want = [0 if e < e1 else 1 if e < e2 else 2 for e in range(epochs)]
    assert [stage_for_epoch(e, epochs) for e in range(epochs)] == want
    if epochs == 10:
        assert want == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="epoch"):
        stage_for_epoch(epochs, epochs)


def _person(rng):
    box = np.array([120.0, 40.0, 140.0, 220.0])
    kp = box[:2] + rng.uniform(0.1, 0.9, (skeleton.NUM_KEYPOINTS, 2)) * box[2:]
    return box, kp, np.full(skeleton.NUM_KEYPOINTS, 2)


def _blob_image(center):
    yy, xx = np.mgrid[:H, :W]
    g = np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * 3.0**2))
    return np.repeat((g * 250).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(img):
    g = img[..., 0].astype(np.float64)
    g[g < 20] = 0
    yy, xx = np.mgrid[: g.shape[0], : g.shape[1]]
    return np.array([(g * xx).sum(), (g * yy).sum()]) / g.sum()


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_keypoints_follow_the_image_warp_within_half_a_pixel(stage):
    """A Gaussian blob drawn at one keypoint is warped by OpenCV; its centroid in the crop must be where the
    augmentation says that keypoint went (the flip's relabelling included)."""
    rng = np.random.default_rng(stage)
    box, kp, vis = _person(rng)
    c = CURRICULUM[stage]
    geometric = StageConfig("geometry", c.rotation_deg, (0.9, 1.1), c.shift_factor, c.half_body, False, 0.0, 0.0, 0.0)
    aug = TopdownAugment(0, curriculum=(geometric,))
    checked, flips = 0, set()
    for j in (0, 5, 19, 28, 30, 16):
        for seed in range(4):
            res = aug(_blob_image(kp[j]), box, kp, vis, seed=(7, seed))
            k = skeleton.FLIP_INDEX[j] if res.flipped else j
            flips.add(res.flipped)
            target = res.keypoints[k]
            if not (6 <= target[0] <= 185 and 6 <= target[1] <= 249):
                assert res.weights[k] == 0.0 or 0 <= target[0] <= 191
                continue
            assert res.weights[k] == 1.0
            assert np.linalg.norm(_centroid(res.image) - target) < 0.5, (j, seed)
            checked += 1
    assert checked >= 8 and flips == {True, False}


def test_flip_swaps_left_and_right_pairs():
    rng = np.random.default_rng(1)
    box, kp, vis = _person(rng)
    flip_only = StageConfig("flip", 0.0, (1.0, 1.0), 0.0, False, False, 0.0, 0.0, 0.0, flip_p=1.0)
    res = TopdownAugment(0, curriculum=(flip_only,))(np.zeros((H, W, 3), np.uint8), box, kp, vis, seed=0)
    plain = StageConfig("none", 0.0, (1.0, 1.0), 0.0, False, False, 0.0, 0.0, 0.0, flip_p=0.0)
    ref = TopdownAugment(0, curriculum=(plain,))(np.zeros((H, W, 3), np.uint8), box, kp, vis, seed=0)
    # mirroring the crop of the unflipped sample about its vertical axis gives the flipped sample, with the
    # left/right labels exchanged (LShoulder 5 <-> RShoulder 6, ..., LClavicle 33 <-> RClavicle 34)
    pairs = {5: 6, 6: 5, 11: 12, 31: 32, 33: 34, 20: 21, 19: 19, 28: 28}
    for left, right in pairs.items():
        mirrored = np.array([192.0 - ref.keypoints[right, 0], ref.keypoints[right, 1]])  # centre -> W / 2
        assert np.allclose(res.keypoints[left], mirrored, atol=1e-3), (left, right)


def test_same_seed_same_sample_other_seed_differs():
    rng = np.random.default_rng(2)
    box, kp, vis = _person(rng)
    img = (rng.uniform(0, 255, (H, W, 3))).astype(np.uint8)
    aug = TopdownAugment(0)
    a, b, c = aug(img, box, kp, vis, (0, 0, 1)), aug(img, box, kp, vis, (0, 0, 1)), aug(img, box, kp, vis, (0, 0, 2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (256, 192, 3) and a.image.dtype == np.uint8
