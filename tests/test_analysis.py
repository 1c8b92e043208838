"""The validity study (`simspine analyze`): curvature definitions on poses with known answers, tables against
an independent computation on the twin, the report files, and one clear error per kind of bad input."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.analysis import curvature, density, rom, tables
from simspine_hub.analysis.study import AnalysisError, run_study
from simspine_hub.osim.model import SIMSPINE_MARKERS, SpineModel, model_file
from simspine_hub.units import kinematics_to_degrees

AX = skeleton.KINEMATIC_AXES.index
LEVELS_BELOW_L1 = ("L4_L5", "L3_L4", "L2_L3", "L1_L2")       # the couplers between S1 and L1 besides L5_S1


def _coupler_slopes(path, dof: str) -> dict[str, float]:
    """Independent of the package: slopes of the .osim's linear couplers driven by L5_S1_<dof>, read with ElementTree."""
    out = {}
    for c in ET.parse(path).getroot().iter("CoordinateCouplerConstraint"):
        if c.findtext("independent_coordinate_names", "").strip() != f"L5_S1_{dof}":
            continue
        coeffs = [float(v) for v in c.find(".//LinearFunction/coefficients").text.split()]
        out[c.findtext("dependent_coordinate_name").strip()] = coeffs[0]
    return out


@pytest.fixture(scope="module")
def model():
    return SpineModel()


def _pose(model, **deg) -> np.ndarray:
    """(1, 62) release-unit pose: the model's default plus the given coordinates in degrees (couplers applied by the test)."""
    q = kinematics_to_degrees(model.default_pose)[None].copy()
    for name, value in deg.items():
        q[0, AX(name)] = value
    return q


@pytest.mark.parametrize("k", [-12.0, -4.0, 3.0, 9.0])
def test_cobb_lla_of_a_flexion_bend_is_what_the_coupler_coefficients_predict(model, k):
    slopes = _coupler_slopes(model_file(), "Flex_Ext")
    dependents = {f"{lvl}_Flex_Ext": k * slopes[f"{lvl}_Flex_Ext"] for lvl in LEVELS_BELOW_L1}
    expected = k * (1.0 + sum(slopes[f"{lvl}_Flex_Ext"] for lvl in LEVELS_BELOW_L1))
    assert abs(expected) > 3 * abs(k)                                   # the couplers amplify: a real check
    # on a tilted, turned pelvis: the Cobb angle lives in the sacrum's frame
    base = dict(pelvis_tilt=17.0, pelvis_rotation=-63.0, pelvis_list=4.0)
    q0, q1 = _pose(model, **base), _pose(model, **base, L5_S1_Flex_Ext=k, **dependents)
    r0, r1 = curvature.segment_orientations(model, q0), curvature.segment_orientations(model, q1)
    lla0 = curvature.cobb_lla(r0["sacrum"], r0["lumbar1"])
    lla1 = curvature.cobb_lla(r1["sacrum"], r1["lumbar1"])
    assert lla0 == pytest.approx([0.0], abs=1e-9)                      # body frames parallel at neutral
    assert lla1 - lla0 == pytest.approx([expected], abs=1e-9)
    assert np.sign(lla1[0]) == np.sign(k)                              # + L5_S1_Flex_Ext extends: more lordosis


@pytest.mark.parametrize("k", [-25.0, 10.0, 30.0])
def test_a_pure_axial_twist_leaves_the_cobb_lla_unchanged(model, k):
    slopes = _coupler_slopes(model_file(), "axial_rotation")
    twist = {name: k * s for name, s in slopes.items() if name.endswith("axial_rotation")}
    base = dict(pelvis_tilt=-12.0, pelvis_rotation=140.0, pelvis_list=-6.0)
    q = np.concatenate([_pose(model, **base), _pose(model, **base, L5_S1_axial_rotation=k, **twist)])
    r = curvature.segment_orientations(model, q)
    lla = curvature.cobb_lla(r["sacrum"], r["lumbar1"])
    assert lla[1] == pytest.approx(lla[0], abs=1e-9)
    # ... while L1 really turned by the summed twist about the sacrum's vertical
    rel = r["sacrum"][1].T @ r["lumbar1"][1]
    turned = np.degrees(np.arctan2(rel[0, 2], rel[0, 0]))
    assert abs(turned) == pytest.approx(abs(k * (1 + sum(slopes[f"{lvl}_axial_rotation"] for lvl in LEVELS_BELOW_L1))),
                                        abs=1e-6)


def test_neck_signs_follow_the_head_motion(model):
    m = SpineModel(markers=dict(SIMSPINE_MARKERS))
    q = np.concatenate([_pose(m), _pose(m, neck_flexion=-15.0), _pose(m, neck_bending=10.0),
                        _pose(m, neck_rotation=10.0)])
    nose = m.marker_positions(np.where(skeleton.ROTATIONAL, np.radians(q), q), ["Nose", "Head"])  # Y-up, X fwd, Z right
    angles = rom.neck_angles(q)
    assert angles[1, 0] == pytest.approx(15.0) and nose[1, 0, 1] < nose[0, 0, 1]      # flexion: the nose drops
    assert angles[2, 1] == pytest.approx(10.0) and nose[2, 1, 2] > nose[0, 1, 2]      # + bending: head top to the right
    assert angles[3, 2] == pytest.approx(10.0) and nose[3, 0, 2] < nose[0, 0, 2]      # + rotation: nose to the left


def test_body_frame_follows_the_pelvis_heading():
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-np.pi, np.pi, 50)
    fwd = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(50)], 1)
    right = np.stack([np.sin(yaw), -np.cos(yaw), np.zeros(50)], 1)
    root = rng.normal(size=(50, 3)) * 1000
    pts = np.stack([root + 100 * fwd, root + 50 * right + [0, 0, 300]], 1)
    body = density.to_body_frame(pts, root, density.heading_frame(right, fwd))
    np.testing.assert_allclose(body[:, 0], np.tile([0, 100, 0], (50, 1)), atol=1e-9)
    np.testing.assert_allclose(body[:, 1], np.tile([50, 0, 300], (50, 1)), atol=1e-9)


def _proxy(p, a, b, c, d, left_right):
    """Independent marker-proxy formula: angle between (b - a) and (d - c) with the left-right direction projected out."""
    n = left_right / np.linalg.norm(left_right, axis=-1, keepdims=True)
    u, v = p[:, b] - p[:, a], p[:, d] - p[:, c]
    u = u - (u * n).sum(-1, keepdims=True) * n
    v = v - (v * n).sum(-1, keepdims=True) * n
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _mat(rotation) -> np.ndarray:
    m = rotation.asMat33()
    return np.array([[m.get(i, j) for j in range(3)] for i in range(3)])


def _expected_b2(ground_truth):
    """Per action: frame values of LLA, TKA (from the twin's true 37 points, hips included) and dLLA (OpenSim)."""
    osim = pytest.importorskip("opensim", reason="OpenSim (the opensim extra) is the independent body-frame reference")
    idx = skeleton.index_of
    model = osim.Model(str(model_file()))
    state = model.initSystem()
    coords = [model.getCoordinateSet().get(n) for n in skeleton.KINEMATIC_AXES]
    sacrum, lumbar1 = model.getBodySet().get("sacrum"), model.getBodySet().get("lumbar1")
    per_action: dict[str, list] = {}
    for key, g in sorted(ground_truth.items()):
        p = g["keypoints37"]
        lr = p[:, idx("RHip")] - p[:, idx("LHip")]
        lla = _proxy(p, idx("Hip"), idx("Spine_01"), idx("Spine_02"), idx("Spine_03"), lr)
        tka = _proxy(p, idx("Spine_03"), idx("Spine_04"), idx("Spine_05"), idx("Neck"), lr)
        cobb = []
        for row in g["coordinates"]:
            for c, v in zip(coords, row):
                c.setValue(state, float(v), False)
            model.realizePosition(state)
            rs, rl = (_mat(b.getTransformInGround(state).R()) for b in (sacrum, lumbar1))
            y = rs.T @ rl[:, 1]
            cobb.append(np.degrees(np.arctan2(-y[0], y[1])))
        action = re.sub(r"\s.*", "", key.split("/")[1]).replace("TakingPhoto", "Photo")
        per_action.setdefault(action, []).append(np.stack([lla, tka, cobb], 1))
    return {a: np.concatenate(v) for a, v in per_action.items()}


def test_table_b2_on_the_twin_equals_an_independent_computation(twin_root, ground_truth):
    expected = _expected_b2(ground_truth)
    study = run_study(twin_root / "simspine", progress=False)                     # spine15: plane from pelvis FK
    assert {s.plane for s in study.sequences} == {"pelvis orientation (FK)"}
    rows = {r["action"]: r for r in tables.table_b2(study, "action")}
    assert set(expected) <= set(rows)
    for action, vals in expected.items():
        mean, sd = vals.mean(0), vals.std(0)
        got = rows[action]
        for j, k in enumerate(("lla", "tka", "cobb")):
            assert float(got[f"{k}_mean"]) == pytest.approx(mean[j], abs=2e-3), (action, k)
            assert float(got[f"{k}_sd"]) == pytest.approx(sd[j], abs=2e-3), (action, k)
        if action in tables.PAPER_B2_ACTIONS:
            assert float(got["paper_lla_mean"]) == tables.PAPER_B2_ACTIONS[action][0]
    avg = rows["Avg (mean of rows)"]
    assert float(avg["lla_mean"]) == pytest.approx(np.mean([v[:, 0].mean() for v in expected.values()]), abs=2e-3)
    assert (float(avg["paper_lla_mean"]), float(avg["paper_tka_sd"])) == (36.20, 4.10)
    # the HDF5 form of the same release gives the same table
    same = run_study(twin_root / "simspine.h5", progress=False)
    np.testing.assert_allclose(same.cobb, study.cobb, atol=1e-4)


def test_report_is_self_contained_and_complete(twin_root, tmp_path):
    out = tmp_path / "rep"
    res = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "analyze", str(twin_root / "simspine.h5"),
                          "--out", str(out), "--h36m-root", str(twin_root / "h36m")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "twin results" in res.stdout and "paper (Human3.6M): LLA 36.20" in res.stdout
    page = (out / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "src='figures" not in page and "http" not in page.split("<body>")[1].split("<figure>")[0].lower()
    assert "twin results" in page and "LHip/RHip" in page                # Human3.6M hips joined: plane from hips
    for name in ("table_b2_by_action", "table_b2_by_subject", "lumbar_rom", "neck_rom", "sequences", "flags"):
        assert (out / f"{name}.csv").is_file()
    with open(out / "lumbar_rom.csv") as fh:
        rom_rows = list(csv.DictReader(fh))
    assert len(rom_rows) == 18
    # every upper level is a fixed multiple of L5_S1 in this model: the ROM ratios are the coupler slopes
    slopes = _coupler_slopes(model_file(), "Flex_Ext")
    flex = {r["level"]: float(r["rom_deg"]) for r in rom_rows if r["dof"] == "Flex_Ext"}
    assert flex["L4_L5"] / flex["L5_S1"] == pytest.approx(slopes["L4_L5_Flex_Ext"], rel=1e-3)


def test_qc_rejection_share_of_a_simulation_output(twin_root, tmp_path):
    from simspine_hub.simulation import qc

    sim = tmp_path / "sim"
    shutil.copytree(twin_root / "simspine", sim)
    frames = {p.stem: len(p.read_text().splitlines()) - 5 for p in (sim / "positions").rglob("*.trc")}
    rejected = {k: i + 1 for i, k in enumerate(sorted(frames))}
    for key, n in frames.items():
        rep = qc.QCReport(frames=n, rejected=rejected[key], refilled=rejected[key], left_nan=0, marker_rms_mm=1.0,
                       marker_max_rms_mm=2.0, lla_mean_deg=30.0, tka_mean_deg=35.0)
        (sim / "qc").mkdir(exist_ok=True)
        (sim / "qc" / f"{key}.json").write_text(json.dumps(rep.as_dict()))
    # a sequence the pipeline rejected whole: only its QC JSON exists
    whole = qc.rejected_report(40, "too little spine evidence", {}, 3)
    (sim / "qc" / "S9_Posing_1.json").write_text(json.dumps(whole.as_dict()))
    summary = tables.qc_summary(run_study(sim, progress=False))
    assert summary["rejected_share"] == pytest.approx((sum(rejected.values()) + 40) / (sum(frames.values()) + 40))
    assert summary["worst"] == "S9_Posing_1"
    assert summary["sequences_rejected"] == [("S9_Posing_1", "too little spine evidence")]
    assert tables.qc_summary(run_study(twin_root / "simspine", progress=False)) is None   # a release has no QC


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_bad_inputs_give_one_clear_error_each(twin_root, tmp_path):
    res = _cli(tmp_path / "no_such_release", "--out", tmp_path / "o")
    assert res.returncode == 2 and "no such release" in res.stderr and len(res.stderr.strip().splitlines()) == 1

    bare = tmp_path / "bare"                                     # positions without kinematics
    shutil.copytree(twin_root / "simspine", bare)
    shutil.rmtree(bare / "kinematics")
    with pytest.raises(AnalysisError, match="no kinematics/ folder"):
        run_study(bare, progress=False)

    import h5py

    h5 = tmp_path / "empty.h5"
    shutil.copy(twin_root / "simspine.h5", h5)
    with h5py.File(h5, "a") as f:                                # one sequence with no frames
        g = f["S9"]["Walking_1"]
        for k in ("markers", "kinematics", "timestamps"):
            shape = (0, *g[k].shape[1:])
            del g[k]
            g.create_dataset(k, shape=shape, dtype="f8")
    with pytest.raises(AnalysisError, match=r"S9/Walking 1 \(action Walking\) has no frames"):
        run_study(h5, progress=False)
    with pytest.raises(AnalysisError, match=r"no sequences to analyse for actions \['Eating'\]"):
        run_study(twin_root / "simspine.h5", actions=["Eating"], progress=False)


def test_one_region_palette():
    from simspine_hub.apps import viz

    assert viz.REGION_COLORS is skeleton.REGION_COLORS
    assert skeleton.region_color_bgr("cervical") == (0xb4, 0x69, 0xff)
