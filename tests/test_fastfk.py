import numpy as np
import opensim as osim

from simspine_hub.osim.fk import fmm_eval, fmm_spline
from simspine_hub.osim.model import H36M_MARKERS, SIMSPINE_MARKERS, SpineModel, model_file


def _random_poses(model, n, seed):
    rng = np.random.default_rng(seed)
    q = np.tile(model.default_pose, (n, 1))
    rot = model.rotational
    q[:, rot] += rng.uniform(-0.6, 0.6, size=(n, rot.sum()))
    q[:, ~rot] += rng.uniform(-0.1, 0.1, size=(n, (~rot).sum()))
    return q


def test_vectorised_fk_equals_opensim_on_every_marker():
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


def test_fmm_spline_equals_opensims_simmspline_including_extrapolation():
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
            assert np.abs(fmm_eval(x, y, fmm_spline(x, y), q) - ref).max() < 1e-12
            checked += 1
    assert checked >= 8
