"""Tracking: IoU, Hungarian assignment against brute force, track lifetime and ids on the twin's ground-truth 2D,
re-detection every N frames through run_inference on a twin video."""

import itertools
import json

import numpy as np
import pytest

from simspine_hub.apps.tracking import OneEuroFilter, Tracker, assign, box_iou, keypoint_boxes
from simspine_hub.io import h36m


def test_one_euro_filter_reduces_jitter_and_keeps_constants():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(fps=50.0, min_cutoff=1.0, beta=0.0)
    const = [f(np.full((37, 2), 5.0)) for _ in range(10)]
    assert np.allclose(const[-1], 5.0)
    f = OneEuroFilter(fps=50.0, min_cutoff=1.0, beta=0.0)
    noisy = 100 + rng.normal(scale=2.0, size=(200, 37, 2))
    smooth = np.stack([f(x) for x in noisy])
    assert np.std(smooth[50:] - 100) < 0.5 * np.std(noisy[50:] - 100)


def test_box_iou_by_hand():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 5]])
    b = np.array([[5, 5, 10, 10], [0, 0, 10, 10], [20, 20, 1, 1]])
    # [0,0,10,10] vs [5,5,10,10]: overlap 5x5 = 25, union 100 + 100 - 25 = 175
    assert np.allclose(box_iou(a, b), [[25 / 175, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert box_iou(a, np.zeros((0, 4))).shape == (2, 0)


def test_hungarian_assignment_equals_brute_force():
    rng = np.random.default_rng(1)
    for n, m in [(3, 3), (2, 4), (4, 2), (5, 5)]:
        for _ in range(20):
            iou = rng.uniform(0, 1, size=(n, m))
            best, best_pairs = -1.0, None
            rows, cols = (range(n), range(m))
            k = min(n, m)
            for rs in itertools.combinations(rows, k):
                for cs in itertools.permutations(cols, k):
                    total = sum(iou[r, c] for r, c in zip(rs, cs))
                    if total > best:
                        best, best_pairs = total, list(zip(rs, cs))
            expected = sorted((r, c) for r, c in best_pairs if iou[r, c] >= 0.3)
            assert sorted(assign(iou, 0.3)) == expected
    # where matching greedily (best IoU first) goes wrong: 0.9 + 0.1 < 0.8 + 0.85
    assert sorted(assign(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.3)) == [(0, 1), (1, 0)]


@pytest.fixture(scope="module")
def twin_2d(twin_root):
    """Ground-truth 2D of the twin's S9 walking sequence, camera 58860488: (T, 32, 2) px."""
    return h36m.Human36M(twin_root / "h36m").read_2d("S9", "Walking 1", "58860488").astype(np.float64)


def test_ids_survive_short_gaps_and_end_after_the_lifetime(twin_2d):
    """Two people (the twin's walker and a copy 400 px to the right): the walker is missed for 3 frames and keeps
    their id; the copy is gone for 8 frames (lifetime 5) and comes back under a new id."""
    kp_a = twin_2d
    kp_b = twin_2d + np.array([400.0, 0.0])
    tracker = Tracker(fps=50.0, max_misses=5, smooth=False)
    ids = {"a": [], "b": []}
    for t in range(len(kp_a)):
        who = ([("a", kp_a[t])] if not 10 <= t <= 12 else []) + ([("b", kp_b[t])] if not 14 <= t <= 21 else [])
        kp = np.array([k for _, k in who]).reshape(-1, 32, 2)
        sc = np.ones(kp.shape[:2])
        got, out = tracker.update(keypoint_boxes(kp, sc, 0.5), kp, sc)
        assert np.array_equal(out, kp)                            # smooth=False: keypoints unchanged
        for (name, _), i in zip(who, got):
            ids[name].append((t, int(i)))
    assert len(kp_a) >= 25
    assert {i for _, i in ids["a"]} == {0}                        # the walker keeps id 0 across the 3-frame gap
    assert {i for t, i in ids["b"] if t < 14} == {1} and {i for t, i in ids["b"] if t > 21} == {2}
    boxes, live = tracker.boxes()
    assert list(live) == [0, 2] and np.allclose(boxes[0], keypoint_boxes(kp_a[-1:], np.ones((1, 32)), 0.5)[0])


def test_smoothing_per_track_follows_each_person(twin_2d):
    rng = np.random.default_rng(2)
    tracker = Tracker(fps=50.0)
    clean = np.stack([twin_2d, twin_2d + np.array([400.0, 0.0])], 1)          # (T, 2, 32, 2)
    noisy = clean + rng.normal(scale=3.0, size=clean.shape)
    out = np.stack([tracker.update(keypoint_boxes(k, np.ones((2, 32)), 0.5), k, np.ones((2, 32)))[1] for k in noisy])
    # each person's smoothed keypoints stay on that person (never pulled towards the other, 400 px away)
    assert np.abs(out - clean).max() < 40
    # and jitter (frame-to-frame acceleration) drops
    assert np.diff(out[5:], 2, axis=0).std() < 0.5 * np.diff(noisy[5:], 2, axis=0).std()


def test_redetection_every_n_frames_on_a_twin_video(twin_root, tmp_path):
    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401
    from simspine_hub.apps.infer import run_inference
    from simspine_hub.models import create_model

    create_model("spinepose-s").save_pretrained(tmp_path / "m")
    model = AutoModel.from_pretrained(tmp_path / "m").eval()
    calls = []

    def detector(image):
        calls.append(image.shape)
        return np.array([[450.0, 250.0, 150.0, 400.0]])

    res = run_inference(model, twin_root / "h36m/S9/Videos/Walking 1.58860488.mp4", tmp_path / "out",
                        detector=detector, detect_every=3, max_frames=6, progress=False)
    lines = [json.loads(s) for s in (tmp_path / "out/Walking 1.58860488.jsonl").read_text().splitlines()]
    assert res["frames"] == 6 and len(calls) == 2                        # frames 0 and 3
    detected = [i for i, ln in enumerate(lines) if ln["people"] and ln["people"][0]["box"] == [450, 250, 150, 400]]
    assert set(detected) >= {0, 3}
    assert all(p["track_id"] is not None for ln in lines for p in ln["people"])
    with pytest.raises(ValueError, match="--detect-every 0"):
        run_inference(model, tmp_path / "x.mp4", tmp_path / "o", detect_every=0, progress=False)
