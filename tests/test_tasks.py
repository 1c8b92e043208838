"""Task objects, predictions validation and the angles task, on small synthetic ground truth (no twin needed)."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.benchmark import baselines, leaderboard
from simspine_hub.benchmark.predictions import PredictionsError
from simspine_hub.benchmark.tasks import GroundTruth, RowKeys, angles, get_task, task_names

AXES = skeleton.KINEMATIC_AXES


def _keys(n, camera=False):
    frame = np.arange(n) % 7
    seq = np.where(np.arange(n) < n // 2, "Walking 1", "Phoning 2")
    cam = np.where(np.arange(n) % 2, "54138969", "55011271") if camera else None
    return RowKeys(np.full(n, "S9"), seq, frame + 10 * (np.arange(n) // 7), cam)


def _actions(keys):
    return np.where(keys.sequence == "Walking 1", "Walking", "Phoning")


def test_registry_holds_the_four_tasks_with_their_formats():
    assert set(task_names()) == {"2d", "multiview", "lifting", "angles"}
    assert get_task("2d").value_shapes == ((37, 2),) and get_task("2d").main_metric == "AUC"
    assert get_task("lifting").value_shapes == ((15, 3), (37, 3))
    assert get_task("angles").value_shapes == ((62,),) and "millimetres" in get_task("angles").units
    assert get_task("multiview").higher_is_better is False and get_task("2d").higher_is_better is True
    with pytest.raises(ValueError, match="choose one of"):
        get_task("3d")


def test_row_keys_locate_unique_and_duplicates():
    k = _keys(20, camera=True)
    perm = np.random.default_rng(0).permutation(20)
    shuffled = k.take(perm)
    assert np.array_equal(k.locate(shuffled), np.argsort(perm))       # row i of k sits at argsort(perm)[i]
    assert (k.take(np.arange(5)).locate(k.take(np.arange(5, 20))) == -1).all()
    frames, inverse = k.without_camera().unique()
    assert len(frames) == len({(s, q, f) for s, q, f in zip(k.subject, k.sequence, k.frame)})
    assert all(frames[inverse[i]] == k.without_camera()[i] for i in range(20))
    assert k.take(np.array([0, 1, 0])).duplicated().tolist() == [2]
    assert str(k[1]) == "(S9, 'Walking 1', camera 54138969, frame 1)"


def test_lifting_ground_truth_drops_the_broken_s11_view_as_views2d_does(tmp_path):
    from simspine_hub.io import h36m

    # S11's stem "Directions" has no camera 54138969 view (broken video); "Directions 1" and S9 keep all four
    seqs = [("S11", "Directions", 3), ("S11", "Directions 1", 2), ("S9", "Directions", 2)]
    subject, sequence, frame = (np.concatenate(c) for c in zip(*[
        (np.full(n, s), np.full(n, q), np.arange(n)) for s, q, n in seqs]))
    world = np.random.default_rng(5).normal([0, 0, 900], 300, size=(len(frame), 37, 3))
    ds = {"subject": subject, "sequence": sequence, "frame": frame, "action": np.full(len(frame), "Directions"),
          "keypoints_3d": world}
    task = get_task("lifting")
    gt = task.build(ds, {"h36m_root": str(tmp_path)})             # no camera-parameters.json: built-in cameras
    views = {(s, q, c) for s, q, c in zip(gt.keys.subject, gt.keys.sequence, gt.keys.camera)}
    assert ("S11", "Directions", "54138969") not in views and ("S11", "Directions 1", "54138969") in views
    assert len(gt.keys) == 3 * 3 + 2 * 4 + 2 * 4
    assert views == {(s, q, c) for s, q, _ in seqs for c in h36m.usable_cameras(s, q)}  # views2d's rule
    # each row: the world points rotated into its camera, root-relative (independent of world_to_camera)
    row = np.array([np.flatnonzero((subject == s) & (sequence == q) & (frame == f))[0]
                    for s, q, f in zip(gt.keys.subject, gt.keys.sequence, gt.keys.frame)])
    R = np.stack([h36m.builtin_cameras(s)[c].R for s, c in zip(gt.keys.subject, gt.keys.camera)])
    rel = world[row] - world[row, skeleton.ROOT:skeleton.ROOT + 1]
    assert np.allclose(gt.target, np.einsum("nij,nkj->nki", R, rel), atol=1e-9)
    two = task.build(ds, {"h36m_root": str(tmp_path), "cameras": ("54138969", "55011271")})
    assert len(two.keys) == 3 * 1 + 2 * 2 + 2 * 2 and set(two.keys.camera) == {"54138969", "55011271"}


# --- predictions validation (issue 11 item 14) ---------------------------------------------------------------

def _mv_gt(n=6):
    keys = _keys(n)
    target = np.random.default_rng(1).normal(scale=300, size=(n, 37, 3))
    return GroundTruth("multiview", keys, _actions(keys), target, np.ones((n, 37), bool))


def _2d_gt(n=6):
    keys = _keys(n, camera=True)
    target = np.random.default_rng(2).uniform(300, 700, size=(n, 37, 2))
    return GroundTruth("2d", keys, _actions(keys), target, np.ones((n, 37), bool), np.tile([250.0, 250, 500, 500], (n, 1)))


def test_validation_refuses_bad_dtypes_with_one_message_each():
    gt = _mv_gt()
    task = get_task("multiview")
    good = task.predictions_table(gt.keys, gt.target)
    for dtype in (bool, complex, str):
        bad = {**good, "keypoints": gt.target.astype(dtype)}
        with pytest.raises(PredictionsError, match=r"'keypoints' has dtype .*; expected real numbers"):
            leaderboard.evaluate("multiview", bad, gt, label="p.npz")
    with pytest.raises(PredictionsError, match="'frame' has dtype float64; expected integers"):
        leaderboard.evaluate("multiview", {**good, "frame": good["frame"] + 0.5}, gt)
    with pytest.raises(PredictionsError, match="'subject' has dtype int64; expected strings"):
        leaderboard.evaluate("multiview", {**good, "subject": np.arange(6)}, gt)


def test_validation_empty_table_inf_and_nan():
    gt = _mv_gt()
    task = get_task("multiview")
    empty = {"subject": np.array([], str), "sequence": np.array([], str), "frame": np.array([], int),
             "keypoints": np.zeros((0, 37, 3))}
    with pytest.raises(PredictionsError, match=r"the predictions table is empty \(0 rows\)"):
        leaderboard.evaluate("multiview", empty, gt)
    values = gt.target.copy()
    values[1, 4, 0] = np.inf
    values[2, 5, 1] = np.nan
    with pytest.raises(PredictionsError) as e:
        leaderboard.evaluate("multiview", task.predictions_table(gt.keys, values), gt)
    msg = str(e.value)
    assert "1 rows with inf ((S9, 'Walking 1', frame 1))" in msg          # inf is called inf, not NaN
    assert "1 rows with NaN at labelled joints ((S9, 'Walking 1', frame 2))" in msg
    unlabelled = GroundTruth("multiview", gt.keys, gt.action, gt.target, gt.mask.copy())
    unlabelled.mask[2, 5] = False
    values[1, 4, 0] = 0.0
    res = leaderboard.evaluate("multiview", task.predictions_table(gt.keys, values), unlabelled)
    assert np.isfinite(res["MPJPE"])                                      # NaN where nothing is labelled: fine


def test_2d_scores_shapes_and_nan_scores():
    gt = _2d_gt()
    task = get_task("2d")
    table = task.predictions_table(gt.keys, gt.target)
    per_joint = leaderboard.evaluate("2d", {**table, "scores": np.full((6, 37), 0.9)}, gt)
    assert per_joint["AP_S"] == pytest.approx(1.0) and per_joint["AUC"] == 1.0
    with pytest.raises(PredictionsError, match=r"'scores' has shape \(6, 5\); expected \(6,\) or \(6, 37\)"):
        leaderboard.evaluate("2d", {**table, "scores": np.ones((6, 5))}, gt)
    with pytest.raises(PredictionsError, match="'scores' has 1 non-finite values"):
        leaderboard.evaluate("2d", {**table, "scores": np.array([1, 1, np.nan, 1, 1, 1.0])}, gt)
    with pytest.raises(PredictionsError, match="'scores' has dtype bool"):
        leaderboard.evaluate("2d", {**table, "scores": np.ones(6, bool)}, gt)
    # a NaN keypoint is a miss in 2D (AUC and OKS), not an error
    missed = gt.target.copy()
    missed[0, 19] = np.nan
    res = leaderboard.evaluate("2d", task.predictions_table(gt.keys, missed), gt)
    assert res["missed_joints"] == 1 and res["AUC"] == pytest.approx(1 - 1 / (6 * 37))


def test_results_record_the_auc_grid_and_grids_are_never_ranked_together():
    gt = _2d_gt()
    table = get_task("2d").predictions_table(gt.keys, gt.target + 12.0)
    a = leaderboard.evaluate("2d", table, gt, label="grid21")
    b = leaderboard.evaluate("2d", table, gt, label="grid20", auc_thresholds=0.5 * np.arange(20) / 20)
    assert np.allclose(a["conventions"]["auc_thresholds"], np.linspace(0, 0.5, 21))
    assert len(b["conventions"]["auc_thresholds"]) == 20 and b["AUC"] < a["AUC"]
    md = leaderboard.leaderboard_markdown([a, b])
    section = md.split("## 2d")[1].split("## ")[0]
    assert "Ranked together: AUC over 21 thresholds 0..0.5 (step 0.025)" in section
    assert "Ranked together: AUC over 20 thresholds 0..0.475 (step 0.025)" in section
    ranked = [line for line in section.splitlines() if line.startswith("| 1 |")]
    assert len(ranked) == 2                                   # each grid its own ranking: two first places
    assert "| ref | SpinePose-l-ft" in section and "AUC grid not stated" in section


def test_load_results_refuses_old_or_foreign_files(tmp_path):
    (tmp_path / "old.json").write_text('{"task": "2d", "model": "m", "data": "twin", "frames": 3, "AUC": 0.5}')
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(leaderboard.ResultsError, match="old.json: results written before conventions"):
        leaderboard.load_results([tmp_path / "old.json"])
    with pytest.raises(leaderboard.ResultsError, match="bad.json: not JSON"):
        leaderboard.load_results([tmp_path / "bad.json"])
    with pytest.raises(leaderboard.ResultsError, match="missing.json: cannot read results"):
        leaderboard.load_results([tmp_path / "missing.json"])


# --- the angles task -----------------------------------------------------------------------------------------

def _angles_gt(n=40, seed=3):
    """Angles (deg) / translations (mm) obeying the model's couplers (slopes of the .osim, see COUPLED below)."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(-40, 40, size=(n, 62))
    q[:, ~skeleton.ROTATIONAL] = rng.uniform(-500, 1000, size=(n, 5))
    q[:, [AXES.index("Abs_t1"), AXES.index("Abs_t2")]] = 0.0
    q = baselines.apply_lumbar_coupling(q, _couplers())
    keys = _keys(n)
    return GroundTruth("angles", keys, _actions(keys), q, np.ones((n, 62), bool))


def _osim_root():
    from simspine_hub.osim.model import model_file

    return ET.parse(model_file()).getroot()


class _Coupler:
    def __init__(self, dependent, independent, slope, intercept):
        self.dependent, self.independent, self.slope, self.intercept = dependent, independent, slope, intercept


def _couplers():
    out = []
    for c in _osim_root().iter("CoordinateCouplerConstraint"):
        slope, icpt = map(float, c.find(".//LinearFunction/coefficients").text.split())
        out.append(_Coupler(c.findtext("dependent_coordinate_name").strip(),
                            c.findtext("independent_coordinate_names").strip(), slope, icpt))
    return out


def test_axis_data_match_the_osim_file():
    root = _osim_root()
    joints = {j.get("name"): j for j in root.iter("CustomJoint")}
    for name, (coords, axes) in angles.ROTATION_JOINTS.items():
        tas = list(joints[name].iter("TransformAxis"))[:3]
        assert tuple(t.findtext("coordinates").strip() for t in tas) == coords, name
        for t, axis in zip(tas, axes):
            slope, icpt = map(float, t.find("LinearFunction/coefficients").text.split())
            assert icpt == 0.0 and np.allclose(slope * np.array(t.findtext("axis").split(), float), axis), name
    coupled = {c.dependent: c.independent for c in _couplers()}
    assert coupled == dict(skeleton.COUPLED_AXES)
    locked = {c.get("name") for c in root.iter("Coordinate") if (c.findtext("locked") or "").strip() == "true"}
    assert locked == set(skeleton.LOCKED_AXES)
    assert len(angles.INDEPENDENT_ROTATIONS) == 37


def test_joint_rotations_equal_opensims_joint_transforms():
    osim = pytest.importorskip("opensim")
    from simspine_hub import units
    from simspine_hub.benchmark import metrics
    from simspine_hub.osim.model import model_file

    model = osim.Model(str(model_file()))
    state = model.initSystem()
    rng = np.random.default_rng(4)
    for name, (coords, axes) in angles.ROTATION_JOINTS.items():
        joint = model.getJointSet().get(name)
        for _ in range(3):
            q = rng.uniform(-30, 30, size=3)
            for c, v in zip(coords, q):
                model.getCoordinateSet().get(c).setValue(state, float(np.deg2rad(v)), False)
            model.realizePosition(state)
            X = joint.getChildFrame().findTransformBetween(state, joint.getParentFrame())
            R = np.array([[X.R().get(i, j) for j in range(3)] for i in range(3)])
            ours = metrics.joint_rotations(q[None], axes)[0]
            assert np.abs(ours - R).max() < 1e-9, name
    assert units.MM_PER_M == 1000.0


def test_angles_known_answers():
    gt = _angles_gt()
    task = get_task("angles")

    def score(offsets):
        pred = gt.target.copy()
        for axis, d in offsets.items():
            pred[:, AXES.index(axis)] += d
        return leaderboard.evaluate("angles", task.predictions_table(gt.keys, pred), gt)

    res = score({"neck_flexion": 10.0})
    assert res["MAE_by_group"]["neck"] == pytest.approx(10 / 3) and res["MAE"] == pytest.approx(10 / 37)
    assert res["geodesic_by_group"]["neck"] == pytest.approx(10.0) and res["geodesic"] == pytest.approx(10 / 7)
    assert res["MAE_by_group"]["pelvis"] == 0.0 and res["MAE_all_rotations"] == pytest.approx(10 / 57)
    # a coupled lumbar axis: seen by "lumbar" (all 18), not by the 3 independent DOFs or the main MAE
    res = score({"L4_L5_Flex_Ext": 10.0})
    assert res["MAE_by_group"]["lumbar"] == pytest.approx(10 / 18) and res["MAE_by_group"]["lumbar_L5S1"] == 0.0
    assert res["MAE"] == 0.0 and res["geodesic_by_group"]["lumbar"] == pytest.approx(10 / 6)
    assert res["geodesic_by_joint"]["L4_L5_IVDjnt"] == pytest.approx(10.0) and res["geodesic"] == 0.0
    res = score({a: 360.0 for a, r in zip(AXES, skeleton.ROTATIONAL) if r} | {"hip_adduction_l": -350.0})
    assert res["MAE_all_rotations"] == pytest.approx(10 / 57) and res["geodesic_by_group"]["legs"] == pytest.approx(5)
    res = score({"pelvis_ty": 25.0})
    assert res["translation_MAE_mm"] == pytest.approx(25 / 3) and res["MAE"] == 0.0
    assert "lumbar_L5S1" in leaderboard.format_table(res)


def test_angles_refuses_metres_and_radians():
    gt = _angles_gt()
    task = get_task("angles")
    metres = gt.target.copy()
    metres[:, ~skeleton.ROTATIONAL] /= 1000.0
    with pytest.raises(PredictionsError, match="look like metres .*; the angles task takes millimetres"):
        leaderboard.evaluate("angles", task.predictions_table(gt.keys, metres), gt)
    radians = gt.target.copy()
    radians[:, skeleton.ROTATIONAL] = np.deg2rad(radians[:, skeleton.ROTATIONAL])
    with pytest.raises(PredictionsError, match="look like radians"):
        leaderboard.evaluate("angles", task.predictions_table(gt.keys, radians), gt)
    zeros = gt.target.copy()
    zeros[:, ~skeleton.ROTATIONAL] = 0.0                      # a root-relative model may predict no translation
    assert leaderboard.evaluate("angles", get_task("angles").predictions_table(gt.keys, zeros), gt)["MAE"] == 0.0


def test_angles_reference_rows():
    train, test = _angles_gt(60, seed=5), _angles_gt(30, seed=6)
    mean = baselines.mean_pose_angles(train, test)
    res_mean = leaderboard.evaluate("angles", mean, test, label="mean training pose")
    assert res_mean["MAE"] > 10.0
    coupled = baselines.lumbar_coupling_reference(test, _couplers(), mean)
    res = leaderboard.evaluate("angles", coupled, test, label="L5_S1 coupling")
    assert res["MAE_by_group"]["lumbar"] < 1e-9 and res["MAE_by_group"]["lumbar_L5S1"] < 1e-9
    assert res["MAE_by_group"]["neck"] == pytest.approx(res_mean["MAE_by_group"]["neck"])
    # circular mean across the +-180 seam: 170 and -170 average to 180, not 0
    wrap = _angles_gt(2, seed=7)
    wrap.target[:, AXES.index("pelvis_rotation")] = [170.0, -170.0]
    m = baselines.mean_pose_angles(wrap, wrap)["kinematics"][0, AXES.index("pelvis_rotation")]
    assert abs(abs(m) - 180.0) < 1e-9
