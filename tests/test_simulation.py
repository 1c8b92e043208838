import json
from pathlib import Path

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.geometry import project
from simspine_hub.io import h36m, release
from simspine_hub.io.detections import read_detections, read_openpose_json
from simspine_hub.simulation import kinematics as kin
from simspine_hub.simulation.filtering import butterworth_filter, fill_gaps
from simspine_hub.simulation.pipeline import simulate_capture
from simspine_hub.simulation.qc import quality_control
from simspine_hub.simulation.triangulation import triangulate_dlt, triangulate_robust
from simspine_hub.twin.generator import write_detections

IDX = {n: i for i, n in enumerate(skeleton.KINEMATIC_AXES)}


def _views(ground_truth, subject="S9", stem="Walking 1"):
    cams = list(h36m.builtin_cameras(subject).values())
    X = ground_truth[f"{subject}/{stem}"]["keypoints37"]
    return X, cams, np.stack([project(X, c) for c in cams])


def test_exact_2d_triangulates_below_01mm(ground_truth):
    X, cams, uv = _views(ground_truth)
    res = triangulate_robust(uv, cams)
    assert np.linalg.norm(res.points - X, axis=-1).mean() < 0.1
    assert res.views.all() and np.nanmax(res.reprojection_error) < 1e-6


def test_robust_step_beats_plain_dlt_per_region(ground_truth):
    X, cams, uv = _views(ground_truth, stem="Purchases 1")
    rng = np.random.default_rng(0)
    noisy = uv + rng.normal(scale=2.0, size=uv.shape)
    bad = rng.random(uv.shape[:-1]) < 0.10
    noisy[bad] += rng.uniform(40, 150, size=(bad.sum(), 2)) * rng.choice([-1, 1], size=(bad.sum(), 2))
    dlt = metrics.region_means(metrics.joint_errors(triangulate_dlt(noisy, cams), X))
    robust = triangulate_robust(noisy, cams).points
    rob = metrics.region_means(metrics.joint_errors(robust, X), missing="exclude")
    for region in dlt:
        assert rob[region] < dlt[region] / 3, region
    assert rob["All"] < 25.0  # mm; 2 px noise alone gives about 12 mm with these cameras
    assert np.isfinite(robust).all(-1).mean() > 0.98          # points it leaves out (inconsistent views) are few


def test_consensus_finds_three_consistent_views_that_no_pair_predicts():
    """Views 0-2 agree as a set (14 px noise each) while view 3 is 170 px off. The old pair-based consensus
    often kept a pair whose point lies > 20 px from the third good view (on the real Pose2Sim capture it kept
    2 views 158-175 px off the other two); the whole set of three must win."""
    cams = list(h36m.builtin_cameras("S9").values())
    rng = np.random.default_rng(11)
    X = rng.normal(scale=300, size=(40, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c) for c in cams])
    ang = rng.uniform(0, 2 * np.pi, size=(3, 40))
    uv[:3] += 14.0 * np.stack([np.cos(ang), np.sin(ang)], -1)
    uv[3] += [160.0, -60.0]
    res = triangulate_robust(uv, cams)
    assert res.views[:3].all() and not res.views[3].any()
    assert (res.reprojection_error < 20.0).all()              # px, mean over the three views
    assert np.linalg.norm(res.points - X, axis=-1).max() < 250.0   # mm at 14 px noise (wrong pairs: up to 700 mm)


def test_joint_seen_by_two_views_only_is_triangulated(ground_truth):
    """A joint only two cameras ever see is not ambiguous (there is one pair): it must not become NaN."""
    X, cams, uv = _views(ground_truth)
    uv = uv.copy()
    uv[2:, :, 17] = np.nan                                      # Head: views 0 and 1 only, in every frame
    res = triangulate_robust(uv, cams)
    assert np.isfinite(res.points[:, 17]).all()
    assert np.linalg.norm(res.points[:, 17] - X[:, 17], axis=-1).max() < 0.1   # mm, exact 2D


def test_triangulation_needs_two_cameras(ground_truth):
    X, cams, uv = _views(ground_truth)
    with pytest.raises(ValueError, match="at least 2 cameras"):
        triangulate_robust(uv[:1], cams[:1])


def test_points_seen_by_one_view_are_nan(ground_truth):
    X, cams, uv = _views(ground_truth)
    uv = uv.copy()
    uv[1:, :, 5] = np.nan
    res = triangulate_robust(uv, cams)
    assert np.isnan(res.points[:, 5]).all() and np.isfinite(res.points[:, 6]).all()


def test_butterworth_keeps_slow_signal_and_fills_short_gaps():
    fs, t = 50.0, np.arange(200) / 50.0
    slow = np.sin(2 * np.pi * 1.0 * t)
    rng = np.random.default_rng(1)
    x = (slow + 0.2 * rng.normal(size=t.shape))[:, None, None] * np.ones((1, 2, 3))
    x[50:55, 0] = np.nan            # short gap: filled
    x[100:140, 1] = np.nan          # long gap: stays NaN
    y = butterworth_filter(x, fs, cutoff=4.0, max_gap=10)
    assert np.isfinite(y[:, 0]).all() and np.isnan(y[100:140, 1]).all()
    ok = np.isfinite(y[:, 1, 0])
    assert np.abs(y[ok, 1, 0] - slow[ok]).mean() < 0.5 * np.abs(x[ok, 1, 0] - slow[ok]).mean()
    assert np.allclose(fill_gaps(np.array([0.0, np.nan, 2.0]), 1), [0, 1, 2])


def test_smoothing_solves_the_penalised_least_squares_exactly():
    rng = np.random.default_rng(2)
    q = rng.normal(size=(40, 3))
    lam = 5.0
    D = np.diff(np.eye(40), n=2, axis=0)
    ref = np.linalg.solve(np.eye(40) + lam * D.T @ D, q)   # dense normal equations
    assert np.allclose(kin.smooth_coordinates(q, lam), ref, atol=1e-10)
    assert np.array_equal(kin.smooth_coordinates(q, 0.0), q)


def test_ik_on_true_markers_recovers_true_coordinates(twin_root, ground_truth):
    g = ground_truth["S9/Purchases 1"]
    markers, names = kin.merge_markers(g["keypoints37"], g["h36m32"])
    model = release.Release(twin_root / "simspine").model_path("S9")  # the twin's own scaled model
    q, rms = kin.inverse_kinematics(model, markers, names, 50.0)
    err = np.degrees(q - g["coordinates"])
    for axes in (("L5_S1_Flex_Ext", "L5_S1_Lat_Bending", "L5_S1_axial_rotation"),
                 ("neck_flexion", "neck_bending", "neck_rotation")):
        rms_deg = np.sqrt((err[:, [IDX[a] for a in axes]] ** 2).mean())
        assert rms_deg < 1.0, (axes, rms_deg)
    assert np.nanmean(rms) < 5.0  # mm


def test_scale_estimate_is_close_to_the_true_scale(ground_truth):
    g = ground_truth["S9/Walking 1"]
    markers, names = kin.merge_markers(g["keypoints37"], g["h36m32"])
    factor, ratios = kin.estimate_scale(markers, names)
    assert factor == pytest.approx(1.05, abs=0.01) and len(ratios) >= 6


def test_qc_rejects_implausible_curvature_and_refills(ground_truth):
    g = ground_truth["S9/Walking 1"]
    pts, q = g["keypoints37"].copy(), g["coordinates"].copy()
    from simspine_hub.simulation import curvature
    lr = pts[10, skeleton.index_of("RHip")] - pts[10, skeleton.index_of("LHip")]
    fwd = np.cross(lr, [0.0, 0.0, 1.0])
    fwd /= np.linalg.norm(fwd)
    for sign in (1, -1):                                           # kink the lumbar spine in one frame
        trial = pts.copy()
        trial[10, skeleton.index_of("Spine_03")] += sign * 150.0 * fwd
        if curvature.lumbar_lordosis(trial[10:11])[0] > 80:
            pts = trial
            break
    assert curvature.lumbar_lordosis(pts[10:11])[0] > 80
    q2, pts2, rep = quality_control(q, pts, np.full(len(q), 2.0))
    assert rep.rejected == 1 and rep.refilled == 1 and rep.left_nan == 0
    assert np.isfinite(pts2).all() and 25 < rep.lla_mean_deg < 50
    assert np.allclose(q2[10], (q[9] + q[11]) / 2, atol=1e-3)


def test_whole_chain_writes_a_release_the_builder_reads(twin_root, ground_truth, tmp_path):
    import shutil

    from simspine_hub.dataset.builder import load_dataset
    from simspine_hub.twin.report import validate_against_twin
    twin = tmp_path / "twin"
    shutil.copytree(twin_root, twin)
    write_detections(twin, split_subjects=("S9",))
    out = tmp_path / "sim"
    res = simulate_capture(twin / "h36m", twin / "detections", out, subjects=["S9"], workers=2, progress=False)
    assert set(res["S9"]) == {"Walking 1", "Purchases 1", "Photo 1"}
    text, rows = validate_against_twin(twin, out, ["S9"])
    chain = rows["whole chain (37 markers after IK + FK)"]
    assert chain["All"] < 15.0 and chain["S"] < 15.0          # mm, against the twin's ground truth
    assert rows["robust triangulation"]["All"] < rows["plain DLT"]["All"]
    assert (out / "validation.md").read_text().startswith("# Simulation validation")
    qc = json.loads((out / "qc" / "S9_Walking_1.json").read_text())
    assert qc["frames"] == len(ground_truth["S9/Walking 1"]["keypoints37"])
    ds = load_dataset("simspine", "spine15", split="train", annotations=out, train_subjects=("S9",),
                      test_subjects=(), cache_dir=tmp_path / "c")
    assert ds.num_rows == sum(len(ground_truth[f"S9/{s}"]["keypoints37"]) for s in res["S9"])
    mtime = (out / "kinematics/S9/S9_Walking_1/S9_Walking_1.mot").stat().st_mtime_ns
    again = simulate_capture(twin / "h36m", twin / "detections", out, subjects=["S9"], progress=False, write_hdf5=False)
    assert again["S9"] == {} and (out / "kinematics/S9/S9_Walking_1/S9_Walking_1.mot").stat().st_mtime_ns == mtime


def test_detection_inputs(tmp_path, twin_root):
    with pytest.raises(FileNotFoundError, match=r"S9/Walking 1.54138969.npz"):
        read_detections(tmp_path, "S9", "Walking 1")
    folder = tmp_path / "S9" / "Walking 1.54138969"
    folder.mkdir(parents=True)
    kp = np.arange(37 * 3, dtype=float).reshape(37, 3)
    (folder / "000000.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": kp.ravel().tolist()}]}))
    (folder / "000001.json").write_text(json.dumps({"people": []}))
    uv, sc = read_openpose_json(folder)
    assert np.array_equal(uv[0], kp[:, :2]) and np.array_equal(sc[0], kp[:, 2]) and np.isnan(uv[1]).all()


def test_dlt_matches_pose2sim_weighted_triangulation():
    """Our batched DLT equals Pose2Sim's own function (a second implementation) on identical noisy input."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from Pose2Sim.common import weighted_triangulation
    logging.disable(logging.NOTSET)
    cams = list(h36m.builtin_cameras("S1").values())
    rng = np.random.default_rng(4)
    X = rng.normal(scale=400, size=(20, 5, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c, distortion=False) for c in cams]) + rng.normal(scale=2.0, size=(4, 20, 5, 2))
    w = rng.uniform(0.3, 1.0, size=uv.shape[:-1])
    ours = triangulate_dlt(uv, cams, w, distortion=False, conditioning=False)
    # The same system: ours solves it in a world scaled by the mean camera-centre distance (unit-free).
    unit = np.mean([np.linalg.norm(c.center) for c in cams])
    P = [c.scaled(1.0 / unit).P for c in cams]
    ref = np.array([[weighted_triangulation(P, uv[:, f, j, 0], uv[:, f, j, 1], w[:, f, j])[:3] for j in range(5)]
                    for f in range(20)]) * unit
    assert np.abs(ours - ref).max() < 1e-6  # mm


def test_h36m_d2_as_detections(twin_root, ground_truth):
    uv, sc = read_detections(twin_root / "h36m", "S9", "Walking 1")
    assert uv.shape[0] == 4 and uv.shape[2:] == (37, 2)
    limb = list(skeleton.LIMB_KEYPOINTS)
    assert (sc[:, :, limb] == 1).all() and (sc[:, :, 19] == 0).all() and np.isnan(uv[:, :, 19]).all()
    cams = list(h36m.builtin_cameras("S9").values())
    tri = triangulate_robust(uv, cams, sc)
    err = np.linalg.norm(tri.points[:, limb] - ground_truth["S9/Walking 1"]["keypoints37"][:, limb], axis=-1)
    assert err.max() < 0.1  # mm: D2 limbs are exact projections of the twin's joints (float32 pixels)


def test_detector_stage_writes_detections(twin_root, tmp_path):
    from simspine_hub.apps.detect import detect_capture
    from simspine_hub.models import create_model

    model = create_model("spinepose-s").eval()
    out = detect_capture(model, twin_root / "h36m", tmp_path / "det", subjects=["S9"], progress=False)
    uv, sc = read_detections(out, "S9", "Photo 1")
    frames = len(h36m.Human36M(twin_root / "h36m").read_3d("S9", "Photo 1"))
    assert uv.shape == (4, frames + 2, 37, 2) and np.isfinite(uv).all() and sc.shape == (4, frames + 2, 37)


def test_detector_stage_skips_broken_views_and_finished_ones(tmp_path):
    """S11 'Directions' has no usable camera 54138969 (Human3.6M's broken video), 'Directions 1' has; a view with
    its npz already written is not detected again."""
    from simspine_hub.apps.detect import views_to_detect

    cams = h36m.CAMERA_IDS
    assert views_to_detect(tmp_path, "S11", "Directions", cams) == [c for c in cams if c != "54138969"]
    assert views_to_detect(tmp_path, "S11", "Directions 1", cams) == list(cams)
    (tmp_path / "S9").mkdir()
    (tmp_path / "S9" / f"Photo 1.{cams[1]}.npz").write_bytes(b"")
    assert views_to_detect(tmp_path, "S9", "Photo 1", cams) == [c for c in cams if c != cams[1]]


def test_any_calibrated_capture_from_a_pose2sim_toml(twin_root, ground_truth, tmp_path):
    """No Human3.6M: cameras from a Pose2Sim TOML, sequences from the detections folder, all markers triangulated."""
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(twin_root, twin)
    write_detections(twin, noise_px=1.0, outlier_rate=0.0, split_subjects=("S9",))
    det = tmp_path / "capture_detections" / "S9"
    det.mkdir(parents=True)
    for f in (twin / "detections" / "S9").glob("Walking 1.*.npz"):
        shutil.copy(f, det / f.name.replace("Walking 1", "trial_01"))
    out = tmp_path / "sim"
    res = simulate_capture(None, det.parent, out, subjects=["S9"], calibration=twin / "simspine/cameras/Calib_S9.toml",
                           progress=False, write_hdf5=False)
    assert list(res["S9"]) == ["trial_01"]
    seq = release.Release(out).read("S9", "trial 01")   # release keys use "_" for spaces: trial_01 <-> "trial 01"
    g = ground_truth["S9/Walking 1"]["keypoints37"]
    full = np.full(g.shape, np.nan)
    full[:, list(seq.keypoints)] = seq.markers[:len(g)]
    assert np.nanmean(metrics.joint_errors(full, g)) < 20.0   # mm, against the twin's ground truth
    with pytest.raises(ValueError, match="subjects"):
        simulate_capture(None, det.parent, out, calibration=twin / "simspine/cameras/Calib_S9.toml")


def _write_dets(ground_truth, root, subject="S9", edit=None):
    """Exact detections of the twin's sequences of ``subject`` (score 1), changed by ``edit(uv, sc)`` in place."""
    from simspine_hub.io.detections import write_detections_npz

    cams = h36m.builtin_cameras(subject)
    for key in sorted(k for k in ground_truth if k.startswith(f"{subject}/")):
        stem = key.split("/")[1]
        uv = np.stack([project(ground_truth[key]["keypoints37"], c) for c in cams.values()])
        sc = np.ones(uv.shape[:-1])
        if edit is not None:
            edit(uv, sc)
        for v, cam_id in enumerate(cams):
            write_detections_npz(root / subject / f"{stem}.{cam_id}.npz", uv[v], sc[v])
    return root


def _nan(uv, sc):
    uv[:] = np.nan


def _zero_confidence(uv, sc):
    sc[:] = 0.0


def _single_view(uv, sc):
    uv[1:] = np.nan


@pytest.mark.parametrize("edit", [_nan, _zero_confidence, _single_view])
def test_simulate_without_spine_evidence_rejects_and_exits_nonzero(edit, twin_root, ground_truth, tmp_path, capsys):
    """No usable spine evidence (all NaN, zero confidence, one usable view): every sequence is rejected with
    its reason, nothing is marked finished, and the CLI exits non-zero (it used to report 'rejected 0')."""
    from simspine_hub.apps.cli import main

    det = _write_dets(ground_truth, tmp_path / "det", edit=edit)
    out = tmp_path / "sim"
    res = simulate_capture(twin_root / "h36m", det, out, subjects=["S9"], progress=False)
    assert set(res["S9"]) == {"Walking 1", "Purchases 1", "Photo 1"}
    for stem, rep in res["S9"].items():
        assert rep["status"] == "rejected" and "spine evidence" in rep["reason"], stem
        assert rep["rejected"] == rep["frames"] > 0 and rep["triangulated"]["Spine_01"] == 0
        key = f"S9_{release.action_key(stem)}"
        assert json.loads((out / "qc" / f"{key}.json").read_text())["status"] == "rejected"
        assert not (out / "kinematics" / "S9" / key / f"{key}.mot").exists()    # not finished
    assert not (out / "models" / "S9.osim").exists()
    rc = main(["-q", "simulate", "--h36m-root", str(twin_root / "h36m"), "--detections", str(det),
               "--out", str(tmp_path / "cli"), "--subjects", "S9"])
    captured = capsys.readouterr()
    assert rc == 1 and "REJECTED" in captured.out and "no usable sequence" in captured.err


def test_sequence_with_every_frame_rejected_is_not_finished(twin_root, tmp_path):
    """The IK job of a sequence whose frames QC rejects altogether writes its QC JSON (status 'rejected'),
    but no TRC/MOT: it is never marked finished."""
    from simspine_hub.simulation.pipeline import SimulationConfig, _ik_job

    model = release.Release(twin_root / "simspine").model_path("S9")
    merged, names = kin.merge_markers(np.full((20, 37, 3), np.nan), None)
    cfg = SimulationConfig()
    stem, rep = _ik_job((str(tmp_path), "S9", "Walking 1", str(model), merged, names, np.zeros(20, bool), cfg,
                         {"triangulated": {}, "parameters": {}}))
    assert rep["status"] == "rejected" and rep["left_nan"] == 20 and "all 20 frames rejected" in rep["reason"]
    assert json.loads((tmp_path / "qc" / "S9_Walking_1.json").read_text())["status"] == "rejected"
    assert not list(tmp_path.glob("kinematics/**/*.mot")) and not list(tmp_path.glob("positions/**/*.trc"))


def test_rerun_with_other_parameters_refuses_or_redoes(twin_root, ground_truth, tmp_path):
    """A finished sequence made with other (or unrecorded) parameters is never silently kept."""
    from simspine_hub.simulation.pipeline import SimulationConfig, StaleOutputError

    det = _write_dets(ground_truth, tmp_path / "det", edit=_nan)
    out = tmp_path / "sim"
    key = "S9_Walking_1"
    mot = out / "kinematics" / "S9" / key / f"{key}.mot"
    mot.parent.mkdir(parents=True)
    mot.write_text("finished by an older run\n")
    (out / "qc").mkdir()
    (out / "qc" / f"{key}.json").write_text(json.dumps({"frames": 1, "parameters": {}}))   # recorded nothing
    with pytest.raises(StaleOutputError, match=r"S9 Walking 1 .*cutoff_hz: not recorded -> 4\.0.*--overwrite"):
        simulate_capture(twin_root / "h36m", det, out, ["S9"], SimulationConfig(cutoff_hz=4.0), progress=False)
    assert mot.is_file()                                                        # refused: nothing touched
    res = simulate_capture(twin_root / "h36m", det, out, ["S9"], SimulationConfig(cutoff_hz=4.0), progress=False,
                           overwrite=True)
    assert not mot.exists() and res["S9"]["Walking 1"]["status"] == "rejected"  # redone (and rejected: no evidence)
    recorded = json.loads((out / "qc" / f"{key}.json").read_text())["parameters"]
    assert recorded["config"]["cutoff_hz"] == 4.0 and recorded["inputs"]["detections"] == str(det.resolve())


def test_one_camera_calibration_is_one_clear_error(twin_root, ground_truth, tmp_path):
    cams = h36m.builtin_cameras("S9")
    first = next(iter(cams))
    toml = tmp_path / "Calib_one.toml"
    release.write_calibration_toml(toml, {first: cams[first]})
    det = _write_dets(ground_truth, tmp_path / "det")
    with pytest.raises(ValueError, match=r"Calib_one\.toml: 1 camera\(s\) .*at least 2"):
        simulate_capture(None, det, tmp_path / "sim", subjects=["S9"], calibration=toml, progress=False)


_THREADS_AFTER_READS = """
import os, sys, time
import pyarrow.csv
from simspine_hub.io import release

def native_threads():   # jemalloc's background thread (C, no std::thread) is not a pool worker
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    return sum(n != "jemalloc_bg_thd" for n in names)

rel = release.Release(sys.argv[1])
subject = rel.subjects()[0]
import scipy.linalg  # noqa: E402,F401  (OpenBLAS starts its own server thread when loaded: not a pool worker)
time.sleep(0.5)
before = native_threads()
for stem in rel.sequences(subject):
    rel.read(subject, stem)
for _ in range(30):                 # a reader's own short-lived helper thread may take a moment to end
    if native_threads() <= before:
        break
    time.sleep(0.1)
print(before, native_threads())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts native threads through Linux /proc")
def test_reading_the_release_leaves_no_native_thread_pool_alive(twin_root):
    """Issue 11 item 19 (a resumed ``simulate --twin`` once aborted at exit: "terminate called without an
    active exception", rc 134). Cause: the TRC/MOT reader used pyarrow's multithreaded CSV reader, which
    starts Arrow's CPU thread pool (std::thread workers) that lives until interpreter exit, where its
    teardown can abort on a still-joinable worker (apache/arrow#34314). A resumed run reads the release back
    right before it exits. The reader must run on the caller's thread: the old reader added 4-5 native
    threads here (2 cores); now at most Arrow's one Ctrl-C signal thread, which its destructor joins."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _THREADS_AFTER_READS, str(twin_root / "simspine")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    before, after = map(int, res.stdout.split())
    assert after - before <= 1   # pyarrow's multithreaded CSV reader added 5 here (2-core machine)


@pytest.mark.parametrize("window", [1, 3, 7, 9])
def test_running_nanmedian_equals_numpys_nanmedian(window):
    """The sort-based running median against np.nanmedian over the same windows (odd and even counts of
    finite samples, all-NaN windows -> NaN), both edge paddings; an even window is refused."""
    import warnings

    from simspine_hub.simulation.filtering import running_nanmedian

    rng = np.random.default_rng(window)
    x = rng.normal(size=(60, 4, 3))
    x[rng.random(x.shape) < 0.4] = np.nan
    x[10:25, 0] = np.nan                                              # all-NaN windows
    for pad in ("nan", "edge"):
        half = window // 2
        edge = (np.repeat(x[:1], half, 0), np.repeat(x[-1:], half, 0)) if pad == "edge" else \
            (np.full((half, 4, 3), np.nan),) * 2
        padded = np.concatenate([edge[0], x, edge[1]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.stack([np.nanmedian(padded[t:t + window], axis=0) for t in range(len(x))])
        assert np.array_equal(running_nanmedian(x, window, pad), ref, equal_nan=True)
    with pytest.raises(ValueError, match="odd"):
        running_nanmedian(x, window + 1)
