import json
import subprocess
import sys

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.benchmark import leaderboard as lb
from simspine_hub.benchmark.baselines import triangulation_baseline
from simspine_hub.benchmark.tasks import get_task


@pytest.fixture(scope="module")
def gts(twin_root, tmp_path_factory):
    kw = {"h36m_root": str(twin_root / "h36m"), "annotations": str(twin_root / "simspine"),
          "cache_dir": str(tmp_path_factory.mktemp("cache"))}
    return kw, {t: lb.load_ground_truth(t, **kw) for t in lb.TASKS}


def _columns(gt, values):
    return get_task(gt.task).predictions_table(gt.keys, values)


def _per_row_columns(ds) -> dict:
    """Every column of a ``datasets.Dataset`` read row by row as plain Python values (no Arrow bulk path)."""
    rows = list(ds)
    return {name: np.array([r[name] for r in rows]) for name in ds.column_names}


@pytest.mark.parametrize("task", lb.TASKS)
def test_ground_truth_from_arrow_equals_a_row_by_row_read(gts, task):
    from simspine_hub.dataset.builder import load_dataset

    kw, g = gts
    t = get_task(task)
    ds = load_dataset("simspine", t.dataset_config, split="test", **kw)
    ref, got = t.build(_per_row_columns(ds), kw), g[task]
    assert len(got.keys) == len(ref.keys) > 0
    for field in ("subject", "sequence", "frame", "camera"):
        a, b = getattr(got.keys, field), getattr(ref.keys, field)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype.kind == b.dtype.kind and np.array_equal(a, b), field
    assert got.action.dtype.kind == "U" and np.array_equal(got.action, ref.action)
    for field in ("target", "mask", "bbox"):
        a, b = getattr(got, field), getattr(ref, field)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), field
    assert np.isfinite(got.target).any()


def test_multiview_known_shift_and_oracle(gts, ground_truth):
    kw, g = gts
    gt = g["multiview"]
    # an independent check of the ground truth itself: it equals the twin's 37 points
    ref = np.stack([ground_truth[f"{k.subject}/{k.sequence}"]["keypoints37"][k.frame]
                    for k in (gt.keys[i] for i in range(len(gt.keys)))])
    assert np.abs(gt.target - ref).max() < 1e-3
    res = lb.evaluate("multiview", _columns(gt, gt.target + [0.0, 6.0, 8.0]), gt)
    assert res["MPJPE"] == pytest.approx(10.0) and res["P-MPJPE"] < 1e-6
    assert all(row["All"] == pytest.approx(10.0) for row in res["MPJPE_table"].values())
    assert set(res["MPJPE_table"]) == {"Walking", "Purchases", "Photo", "Mean"}
    oracle = lb.evaluate("multiview", triangulation_baseline(g["2d"], kw["h36m_root"]), gt)
    assert oracle["MPJPE"] < 0.01  # exact 2D -> triangulation recovers the points (float32 pixels)
    noisy = lb.evaluate("multiview", triangulation_baseline(g["2d"], kw["h36m_root"], noise_px=2.0), gt)
    assert 3.0 < noisy["MPJPE"] < 30.0


def test_lifting_root_relative_and_15_or_37(gts):
    _, g = gts
    gt = g["lifting"]
    res37 = lb.evaluate("lifting", _columns(gt, gt.target + 25.0), gt)   # a constant offset: root-relative 0
    assert res37["MPJPE"] < 1e-9 and res37["P-MPJPE"] < 1e-9
    res15 = lb.evaluate("lifting", _columns(gt, 1.1 * gt.target[:, list(skeleton.SPINE15)]), gt)
    assert res15["P-MPJPE"] < 1e-6 and res15["MPJPE"] > 1.0            # scale removed by Procrustes only
    assert set(res15["regions"]["P-MPJPE"]) == {"S_C", "S_T", "S_L", "S"}


def test_2d_perfect_and_angles(gts):
    _, g = gts
    gt = g["2d"]
    res = lb.evaluate("2d", _columns(gt, gt.target), gt)
    assert res["AUC"] == 1.0 and res["AP_S"] == pytest.approx(1.0) and res["AP_B"] == pytest.approx(1.0)
    ga = g["angles"]
    shifted = ga.target + np.where(skeleton.ROTATIONAL, 3.0, 0.0)
    res = lb.evaluate("angles", _columns(ga, shifted), ga)
    assert res["MAE"] == pytest.approx(3.0) and res["MAE_by_group"]["lumbar"] == pytest.approx(3.0)
    assert res["geodesic_by_joint"]["head_torso"] > 3.0 and res["translation_MAE_mm"] == 0.0
    # the twin's translations are millimetres in the ground truth (release metres x 1000)
    assert 500.0 < np.median(np.abs(ga.target[:, skeleton.KINEMATIC_AXES.index("pelvis_ty")])) < 1500.0


def test_validation_lists_every_problem(gts):
    _, g = gts
    gt = g["multiview"]
    cols = {k: v[2:] for k, v in _columns(gt, gt.target.copy()).items()}   # two keys missing
    cols["sequence"] = cols["sequence"].copy()
    cols["sequence"][1] = "Dancing 1"                                 # an unknown key (and one more missing)
    with pytest.raises(lb.PredictionsError) as e:
        lb.evaluate("multiview", cols, gt, label="preds.npz")
    msg = str(e.value)
    assert "preds.npz" in msg and "3 missing keys" in msg and "1 unknown keys ((S9, 'Dancing 1'" in msg
    with pytest.raises(lb.PredictionsError, match=r"shape \(3, 15, 3\); expected \(N, 37, 3\)"):
        lb.evaluate("multiview", {"subject": ["S9"] * 3, "sequence": ["a"] * 3, "frame": [0, 1, 2],
                                  "keypoints": np.zeros((3, 15, 3))}, gt)
    with pytest.raises(lb.PredictionsError, match=r"missing columns \['frame'\]"):
        lb.evaluate("multiview", {"subject": [], "sequence": [], "keypoints": np.zeros((0, 37, 3))}, gt)
    nan = gt.target.copy()
    nan[0, 19] = np.nan                     # a 3D task refuses a missing labelled joint instead of scoring it 0 mm
    with pytest.raises(lb.PredictionsError, match="1 rows with NaN at labelled joints"):
        lb.evaluate("multiview", _columns(gt, nan), gt)


def test_cli_evaluate_and_leaderboard(gts, twin_root, tmp_path):
    kw, g = gts
    pred = triangulation_baseline(g["2d"], kw["h36m_root"], noise_px=1.0)
    path = lb.save_predictions(tmp_path / "tri.npz", **pred)
    cmd = [sys.executable, "-m", "simspine_hub", "-q", "evaluate", "--task", "multiview", "--predictions", str(path),
           "--twin", str(twin_root), "--cache-dir", kw["cache_dir"], "--model-index"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "| Mean |" in res.stdout and "twin results" in res.stdout and '"model-index"' in res.stdout
    result = json.loads((tmp_path / "tri.results.json").read_text())
    assert result["data"] == "twin" and 1.0 < result["MPJPE"] < 20 and result["schema"] == lb.SCHEMA
    assert "missing_predictions" in result["conventions"]
    board = subprocess.run([sys.executable, "-m", "simspine_hub", "leaderboard", str(tmp_path / "tri.results.json"),
                            "--out", str(tmp_path / "lb.md")], capture_output=True, text=True, timeout=300)
    assert board.returncode == 0, board.stderr
    md = (tmp_path / "lb.md").read_text()
    rows = [r for r in md.splitlines() if r.startswith("| ") and "multiview" not in r]
    mv = md.split("## multiview")[1].split("##")[0]
    order = [float(r.split("|")[4]) for r in mv.splitlines() if r.startswith("| ") and r[2].isdigit()]
    assert order == sorted(order) and "reference only" in mv and "twin (" in mv
    assert rows
    bad = subprocess.run([sys.executable, "-m", "simspine_hub", "leaderboard", str(tmp_path / "lb.md")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "lb.md: not JSON" in bad.stderr and "Traceback" not in bad.stderr
