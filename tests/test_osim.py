"""The osim layer: the .osim XML reader and forward kinematics against OpenSim itself; running without OpenSim."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.osim.functions import fmm_eval, fmm_spline
from simspine_hub.osim.model import H36M_MARKERS, SIMSPINE_MARKERS, SpineModel, model_file
from simspine_hub.osim.xml import OsimFormatError, read_osim


def _random_poses(model, n, seed):
    rng = np.random.default_rng(seed)
    q = np.tile(model.default_pose, (n, 1))
    rot = model.rotational
    q[:, rot] += rng.uniform(-0.6, 0.6, size=(n, rot.sum()))
    q[:, ~rot] += rng.uniform(-0.1, 0.1, size=(n, (~rot).sum()))
    return q


def test_vectorised_fk_equals_opensim_on_every_marker():
    pytest.importorskip("opensim", reason="OpenSim (the opensim extra) is the reference")
    markers = {**SIMSPINE_MARKERS, **{"h36m:" + k: v for k, v in H36M_MARKERS.items()}}
    for factor in (1.0, 0.93):
        model = SpineModel(markers=markers)
        if factor != 1.0:
            model.scale(factor, 60.0)
        q = _random_poses(model, 40, seed=int(factor * 100))
        fast = model.marker_positions(q)
        ref = model.marker_positions_opensim(q)
        assert fast.shape == (40, len(model.marker_names), 3)
        assert np.abs(fast - ref).max() < 1e-9  # metres


def test_xml_tree_matches_opensims_view_of_the_twins_scaled_model(twin_root):
    """The scaled .osim the twin wrote through OpenSim: coordinates, couplers and markers as OpenSim reads them."""
    osim = pytest.importorskip("opensim", reason="OpenSim (the opensim extra) is the reference")
    path = twin_root / "simspine" / "models" / "S9.osim"
    tree = read_osim(path)
    model = osim.Model(str(path))
    state = model.initSystem()
    cs = model.getCoordinateSet()
    assert tree.coordinate_names == tuple(cs.get(i).getName() for i in range(cs.getSize()))
    for c in tree.coordinates:
        oc = cs.get(c.name)
        assert (c.default, c.range, c.clamped, c.locked) == (
            oc.getDefaultValue(), (oc.getRangeMin(), oc.getRangeMax()), oc.getDefaultClamped(), oc.getDefaultLocked())
    couplers = model.getConstraintSet()
    assert len(tree.couplers) == couplers.getSize() == 20
    for c in tree.couplers:
        oc = osim.CoordinateCouplerConstraint.safeDownCast(couplers.get(c.name))
        f = osim.LinearFunction.safeDownCast(oc.getFunction())
        assert (c.dependent, c.independent) == (oc.getDependentCoordinateName(), oc.getIndependentCoordinateNames().get(0))
        scale = osim.PropertyHelper.getValueDouble(oc.getPropertyByName("scale_factor"))
        assert (c.slope, c.intercept) == (scale * f.getSlope(), scale * f.getIntercept())
    ms = model.getMarkerSet()
    assert list(tree.markers) == [ms.get(i).getName() for i in range(ms.getSize())]
    for name, (body, loc) in tree.markers.items():
        assert body == ms.get(name).getParentFrame().getName()
        assert np.array_equal(loc, ms.get(name).get_location().to_numpy())
    assert tree.total_mass == pytest.approx(model.getTotalMass(state), rel=1e-12)
    assert tree.total_mass == pytest.approx(82.0, rel=1e-9)          # the twin's S9 mass


def test_fmm_spline_equals_opensims_simmspline_including_extrapolation():
    osim = pytest.importorskip("opensim", reason="OpenSim (the opensim extra) is the reference")
    model = osim.Model(str(model_file()))
    checked = 0
    for j in range(model.getJointSet().getSize()):
        cj = osim.CustomJoint.safeDownCast(model.getJointSet().get(j))
        if cj is None:
            continue
        for a in range(6):
            fn = osim.SimmSpline.safeDownCast(cj.getSpatialTransform().getTransformAxis(a).get_function())
            if fn is None:
                continue
            x = np.array([fn.getX(i) for i in range(fn.getSize())])
            y = np.array([fn.getY(i) for i in range(fn.getSize())])
            q = np.linspace(x[0] - 0.5, x[-1] + 0.5, 101)
            ref = np.array([fn.calcValue(osim.Vector(1, float(v))) for v in q])
            deriv = np.array([fn.calcDerivative([0], osim.Vector(1, float(v))) for v in q])
            assert np.abs(fmm_eval(x, y, fmm_spline(x, y), q) - ref).max() < 1e-12
            from simspine_hub.osim.functions import fmm_derivative
            assert np.abs(fmm_derivative(x, fmm_spline(x, y), q) - deriv).max() < 1e-10
            checked += 1
    assert checked >= 8


def test_paper_model_has_the_documented_couplers_and_free_coordinates():
    tree = read_osim(model_file())
    assert tree.coordinate_names == skeleton.KINEMATIC_AXES
    assert len(tree.couplers) == 20 and all(c.enforced for c in tree.couplers)
    assert {c.independent for c in tree.couplers} == {"L5_S1_Flex_Ext", "L5_S1_Lat_Bending", "L5_S1_axial_rotation",
                                                     "knee_angle_r", "knee_angle_l"}
    locked = {c.name for c in tree.coordinates if c.locked}
    assert locked == {"Abs_t1", "Abs_t2"}
    assert 62 - 20 - len(locked) == 40


def test_reader_refuses_what_it_cannot_turn_into_kinematics(tmp_path):
    text = model_file().read_text()
    bad = tmp_path / "bad.osim"
    bad.write_text(text.replace("<SimmSpline name=\"function\">", "<PiecewiseConstantFunction name=\"function\">", 1)
                   .replace("</SimmSpline>", "</PiecewiseConstantFunction>", 1))
    with pytest.raises(OsimFormatError, match="PiecewiseConstantFunction is not supported"):
        read_osim(bad)
    old = tmp_path / "old.osim"
    old.write_text(text.replace('Version="40000"', 'Version="20302"', 1))
    with pytest.raises(OsimFormatError, match="OpenSim 4"):
        read_osim(old)
    with pytest.raises(ValueError, match="bodies the model lacks"):
        SpineModel(markers={"X": ("no_such_body", (0.0, 0.0, 0.0))})


def test_builder_and_fk_run_without_opensim(twin_root, tmp_path):
    """``import opensim`` blocked: spine15 and full37 (face/feet by forward kinematics) build on the twin,
    and the steps that need OpenSim raise one error naming the extra."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["opensim"] = None                       # any `import opensim` now raises ImportError
        import numpy as np
        from simspine_hub import skeleton
        from simspine_hub.dataset.builder import load_dataset
        from simspine_hub.osim.backend import OpenSimMissingError
        from simspine_hub.osim.model import SpineModel
        from simspine_hub.twin.generator import load_ground_truth

        root = {str(twin_root)!r}
        gt = load_ground_truth(root)
        kw = dict(h36m_root=root + "/h36m", annotations=root + "/simspine", cache_dir={str(tmp_path)!r})
        for config in ("spine15", "full37"):
            ds = load_dataset("simspine", config, split="test", **kw).with_format("numpy")[:]
            ref = np.stack([gt[f"{{s}}/{{q}}"]["keypoints37"][f]
                            for s, q, f in zip(ds["subject"], ds["sequence"], ds["frame"])])
            if config == "spine15":
                ref = ref[:, list(skeleton.SPINE15)]
            assert np.abs(ds["keypoints_3d"] - ref).max() < 1e-3, config
        src = ds["keypoints_source"][0]
        assert all(src[i] == 4 for i in skeleton.FACE_FEET)    # filled by forward kinematics
        model = SpineModel(root + "/simspine/models/S9.osim")
        try:
            model.scale(1.1)
        except OpenSimMissingError as exc:
            assert 'pip install "simspine-hub[opensim]"' in str(exc), exc
        else:
            raise AssertionError("scaling without OpenSim did not fail")
        assert sys.modules["opensim"] is None
        print("ok")
    """)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_pose2sim_pin_has_one_home():
    """tools/run.sh reads the pin from osim/model.py (the model's error message uses the same constant)."""
    from pathlib import Path

    from simspine_hub.osim import model
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["sed", "-n", r's/^POSE2SIM_VERSION = "\([^"]*\)".*/\1/p', "simspine_hub/osim/model.py"],
                         cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert out == model.POSE2SIM_VERSION
    run_sh = (root / "tools" / "run.sh").read_text()
    assert "simspine_hub/osim/model.py" in run_sh and model.POSE2SIM_VERSION not in run_sh
