import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics


def _poses(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=300, size=(n, 37, 3))


def test_mpjpe_known_shift():
    t = _poses()
    assert metrics.mpjpe(t + [6.0, 8.0, 0.0], t) == pytest.approx(10.0)
    mask = np.zeros(t.shape[:2], bool)
    mask[:, :5] = True
    p = t.copy()
    p[:, 5:] += 1000  # masked joints do not count
    assert metrics.mpjpe(p, t, mask) == pytest.approx(0.0)
    rr = metrics.root_relative(t)
    assert np.allclose(rr[:, skeleton.ROOT], 0)


def _reference_pa(pred, target):
    """Per-frame similarity alignment with scipy.linalg.orthogonal_procrustes."""
    out = np.empty_like(pred)
    for i, (p, t) in enumerate(zip(pred, target)):
        mp, mt = p.mean(0), t.mean(0)
        R, s = orthogonal_procrustes(p - mp, t - mt)
        scale = s / ((p - mp) ** 2).sum()
        out[i] = scale * (p - mp) @ R + mt
    return np.linalg.norm(out - target, axis=-1)


def test_p_mpjpe_matches_scipy_reference():
    t = _poses(40, 1)
    R = Rotation.random(40, random_state=2).as_matrix()
    rng = np.random.default_rng(3)
    p = 0.8 * np.einsum("nij,nkj->nki", R, t) + rng.normal(scale=40, size=t.shape) + 500
    ours = metrics.p_mpjpe_errors(p, t)
    assert np.allclose(ours, _reference_pa(p, t), atol=1e-8)
    assert 0 < ours.mean() < metrics.mpjpe(p, t)


def test_p_mpjpe_exact_similarity_is_zero_and_reflections_are_not_allowed():
    t = _poses(10, 4)
    R = Rotation.random(10, random_state=5).as_matrix()
    p = 2.5 * np.einsum("nij,nkj->nki", R, t) - 300
    assert metrics.p_mpjpe_errors(p, t).max() < 1e-8
    mirrored = t * [-1, 1, 1]  # a reflection cannot be undone by a proper rotation
    assert metrics.p_mpjpe_errors(mirrored, t).mean() > 50


def test_n_mpjpe_removes_scale_only():
    t = _poses(10, 6)
    assert metrics.n_mpjpe_errors(1.3 * t, t).max() < 1e-9
    assert metrics.n_mpjpe_errors(t + 50, t).mean() > 1


def test_pck_auc_hand_computed():
    # one frame, 4 joints, box short side 100 px: normalised distances 0, 0.11, 0.31, 0.61
    target = np.zeros((1, 4, 2))
    pred = np.array([[[0, 0], [11, 0], [0, 31], [61, 0]]], float)
    auc, curve = metrics.pck_auc(pred, target, [100.0])
    # thresholds 0, .025, ..., .5: d=0 always correct (21), d=.11 for t >= .125 (16), d=.31 for t >= .325 (8)
    assert np.allclose(curve[[0, 4, 5, 12, 13, 20]], [0.25, 0.25, 0.5, 0.5, 0.75, 0.75])
    assert auc == pytest.approx((21 + 16 + 8 + 0) / 84)
    # the earlier 20-point grid 0..0.475, on request: (20 + 15 + 7) / 80
    assert metrics.pck_auc(pred, target, [100.0], thresholds=0.5 * np.arange(20) / 20)[0] == pytest.approx(42 / 80)
    assert metrics.pck(pred, target, [100.0], 0.2) == pytest.approx(0.5)
    assert metrics.pck_auc(target, target, [100.0])[0] == 1.0


def test_auc_default_grid_is_the_papers_closed_range():
    """Issue 11 item 20: the paper states tau in [0, 0.5]; the default grid must reach 0.5 (it stopped at 0.475)."""
    assert np.allclose(metrics.AUC_THRESHOLDS, np.linspace(0.0, 0.5, 21))
    rng = np.random.default_rng(11)
    target = rng.uniform(0, 500, size=(30, 37, 2))
    pred = target + rng.normal(scale=40, size=target.shape)
    norm = rng.uniform(150, 300, size=30)
    d = np.linalg.norm(pred - target, axis=-1) / norm[:, None]
    reference = np.mean([(d <= t).mean() for t in np.linspace(0.0, 0.5, 21)])      # direct definition
    assert metrics.pck_auc(pred, target, norm)[0] == pytest.approx(reference, abs=1e-12)


def test_missing_prediction_is_one_rule_for_every_metric():
    """Issue 11 item 17: a NaN prediction at a labelled joint is a miss, never a silent 0 mm."""
    t = _poses(4, 12)
    p = t.copy()
    p[0, 3] = np.nan                                  # labelled joint, no prediction
    with pytest.raises(metrics.MissingPredictionError, match="1 of 148 labelled joints"):
        metrics.mpjpe(p, t)
    with pytest.raises(metrics.MissingPredictionError):
        metrics.region_means(metrics.joint_errors(p, t))
    with pytest.raises(metrics.MissingPredictionError):
        metrics.region_p_mpjpe(p, t, None, {"S": skeleton.REGIONS["spine"], "B": skeleton.REGIONS["body"]})
    # threshold metrics count the miss as wrong, even at a threshold every other joint passes
    assert metrics.pck(p[..., :2], t[..., :2], np.ones(4), 1e9) == pytest.approx(147 / 148)
    # the explicit opt-out averages predicted joints only; an unlabelled joint's NaN never matters
    assert metrics.mpjpe(p, t, missing="exclude") == 0.0
    mask = np.ones((4, 37), bool)
    mask[0, 3] = False
    assert metrics.mpjpe(p, t, mask) == 0.0
    t2 = t.copy()
    t2[0, 3] = np.nan                                 # no ground truth there: not labelled
    assert metrics.mpjpe(p, t2) == 0.0
    p[1, 5] = np.inf
    with pytest.raises(metrics.MissingPredictionError, match=r"\(1 NaN, 1 inf\)"):
        metrics.mpjpe(p, t)


def test_oks_subsets_are_the_spinepose_tools_sets():
    # dfki-av/spinepose tools/metric.py: body range(17), feet range(20, 26), spine [36, 35, 18, 30, 29, 28, 27, 26, 19]
    assert sorted(metrics.OKS_SUBSETS["spine"]) == sorted([36, 35, 18, 30, 29, 28, 27, 26, 19])
    assert tuple(metrics.OKS_SUBSETS["body"]) == tuple(range(17))
    assert tuple(metrics.OKS_SUBSETS["feet"]) == tuple(range(20, 26))


def test_oks_ap_perfect_and_known_perturbation():
    rng = np.random.default_rng(7)
    n = 6
    target = rng.uniform(200, 800, size=(n, 37, 2))
    vis = np.full((n, 37), 2)
    boxes = np.tile([150.0, 100.0, 400.0, 600.0], (n, 1))
    res = metrics.oks_ap(target.copy(), np.ones(n), target, vis, boxes)
    assert all(res[s]["AP"] == pytest.approx(1.0) for s in metrics.OKS_SUBSETS)
    # shift every keypoint so that each OKS term equals o = 0.72 (pycocotools cocoeval.computeOks):
    # d^2 = -2 ln(o) * area * (2 sigma)^2  ->  OKS = 0.72, matched at thresholds .50 ... .70 -> AP = 5/10
    o, area = 0.72, 400.0 * 600.0
    d = np.sqrt(-2 * np.log(o) * area * (2 * skeleton.OKS_SIGMAS) ** 2)
    ang = rng.uniform(0, 2 * np.pi, size=(n, 37))
    pred = target + d[:, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
    res = metrics.oks_ap(pred, np.ones(n), target, vis, boxes)
    for s in metrics.OKS_SUBSETS:
        assert res[s]["AP"] == pytest.approx(0.5, abs=1e-6)
        assert res[s]["AR"] == pytest.approx(0.5, abs=1e-6)
        assert res[s]["AP50"] == pytest.approx(1.0) and res[s]["AP75"] == pytest.approx(0.0)


def test_angle_errors_wrap():
    assert metrics.angle_errors([[179.0, 10.0]], [[-179.0, -20.0]]).tolist() == [[2.0, 30.0]]
    assert metrics.angle_errors([[370.0, -725.0]], [[10.0, -5.0]]).tolist() == [[0.0, 0.0]]


def test_joint_rotations_are_intrinsic_in_axis_order():
    # z, x, y axes applied body-fixed in that order = scipy's intrinsic "ZXY" Euler sequence
    q = np.random.default_rng(13).uniform(-90, 90, size=(20, 3))
    ours = metrics.joint_rotations(q, np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]]))
    assert np.allclose(ours, Rotation.from_euler("ZXY", q, degrees=True).as_matrix(), atol=1e-12)


def test_geodesic_known_answers():
    axes = np.array([[0, 0, 1.0], [-1.0, 0, 0], [0, -1.0, 0]])
    q = np.random.default_rng(14).uniform(-60, 60, size=(50, 3))
    for k in range(3):                                   # 10 degrees on any one axis, any pose: exactly 10
        p = q.copy()
        p[:, k] += 10.0
        assert np.allclose(metrics.geodesic_errors(p, q, axes), 10.0, atol=1e-9)
    assert np.allclose(metrics.geodesic_errors(q + 360.0, q, axes), 0.0, atol=1e-6)     # wrap-around
    both = q.copy()
    both[:, 0] += 10.0
    both[:, 2] += 10.0                                   # two axes: the composed angle, not the sum
    ref = (Rotation.from_euler("ZXY", q * [1, -1, -1], degrees=True).inv()
           * Rotation.from_euler("ZXY", both * [1, -1, -1], degrees=True)).magnitude()
    assert np.allclose(metrics.geodesic_errors(both, q, axes), np.degrees(ref), atol=1e-9)
    nan = q.copy()
    nan[0, 1] = np.nan
    assert np.isnan(metrics.geodesic_errors(nan, q, axes)[0])


def test_region_means_use_the_paper_regions():
    err = np.zeros((3, 37))
    err[:, list(skeleton.REGIONS["lumbar"])] = 4.0
    r = metrics.region_means(err)
    assert r["S_L"] == 4.0 and r["S_C"] == 0.0 and r["S"] == pytest.approx(16 / 15) and r["All"] == pytest.approx(16 / 37)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        metrics.p_mpjpe_errors(np.zeros((2, 37, 3)), np.zeros((2, 15, 3)))
    with pytest.raises(ValueError, match="normalizer"):
        metrics.pck_auc(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), [1.0])


def test_blocked_path_matches_reference():
    n = metrics.CHUNK + 37
    t = _poses(n, 8)
    p = 1.2 * t + np.random.default_rng(9).normal(scale=20, size=t.shape)
    assert np.allclose(metrics.p_mpjpe_errors(p, t), _reference_pa(p, t), atol=1e-8)
    assert np.allclose(metrics.joint_errors(metrics.procrustes_align(p, t), t), _reference_pa(p, t), atol=1e-8)
