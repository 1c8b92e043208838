import cv2
import numpy as np
import pytest

from simspine_hub.geometry import Camera, project
from simspine_hub.io.h36m import builtin_cameras
from simspine_hub.units import yup_to_zup, zup_to_yup


def _random_camera(rng, model):
    R = cv2.Rodrigues(rng.normal(size=3))[0]
    K = np.array([[1100.0, 0, 500], [0, 1090, 510], [0, 0, 1]])
    dist = np.array([-0.2, 0.24, -0.0014, 0.0011, -0.003])
    return Camera("c", K, dist, R, np.array([10.0, -20.0, 4000.0]), (1000, 1000), model)


def test_opencv_model_matches_cv2_projectpoints():
    rng = np.random.default_rng(0)
    cam = _random_camera(rng, "opencv")
    pts = rng.normal(scale=600, size=(500, 3))
    ref, _ = cv2.projectPoints(pts, cam.rvec, cam.t, cam.K, cam.dist)
    assert np.abs(project(pts, cam) - ref[:, 0]).max() < 1e-6


def _h36m_reference(X, cam):
    """Per-point transcription of Human3.6M's ProjectPointRadial (tan = p1*y + p2*x)."""
    k1, k2, p1, p2, k3 = cam.dist
    out = []
    for p in X:
        c = cam.R @ p + cam.t
        x, y = c[0] / c[2], c[1] / c[2]
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tan = p1 * y + p2 * x
        xd = x * (radial + tan) + p2 * r2
        yd = y * (radial + tan) + p1 * r2
        out.append([cam.K[0, 0] * xd + cam.K[0, 2], cam.K[1, 1] * yd + cam.K[1, 2]])
    return np.array(out)


def test_h36m_model_matches_reference_formula():
    rng = np.random.default_rng(1)
    cam = builtin_cameras("S9")["58860488"]
    pts = rng.normal(scale=500, size=(200, 3)) + [0, 0, 900]
    assert np.abs(project(pts, cam) - _h36m_reference(pts, cam)).max() < 1e-9
    assert np.abs(project(pts, cam) - project(pts, cam, distortion=False)).max() > 0.5  # distortion matters


def test_zup_yup_is_a_proper_rotation_and_inverse():
    rng = np.random.default_rng(2)
    p = rng.normal(size=(4, 7, 3))
    assert np.array_equal(yup_to_zup(zup_to_yup(p)), p)
    M = zup_to_yup(np.eye(3))
    assert np.isclose(np.linalg.det(M), 1.0)
    assert np.array_equal(zup_to_yup(np.array([0, 0, 1.0])), [0, 1.0, 0])  # world up -> OpenSim up


def test_camera_rejects_bad_input():
    with pytest.raises(ValueError, match="rotation"):
        Camera("x", np.eye(3), [0] * 5, np.diag([1, 1, -1.0]), [0, 0, 0], (10, 10))
    with pytest.raises(ValueError, match="distortion_model"):
        Camera("x", np.eye(3), [0] * 5, np.eye(3), [0, 0, 0], (10, 10), "fisheye")
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        project(np.zeros((3, 2)), builtin_cameras("S1")["54138969"])


def test_dlt_backends_agree():
    from simspine_hub.simulation.triangulation import triangulate_dlt

    cams = list(builtin_cameras("S5").values())
    rng = np.random.default_rng(3)
    X = rng.normal(scale=400, size=(30, 7, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c) for c in cams]) + rng.normal(scale=2.0, size=(4, 30, 7, 2))
    w = rng.uniform(0.2, 1.0, size=uv.shape[:-1])
    w[0, 0, 0] = w[1, 0, 0] = w[2, 0, 0] = 0.0                 # one view left: NaN in both
    uv[0, 0, 1] = np.nan                                      # unseen in view 0: three views left
    uv[1:, 0, 2] = np.nan                                     # seen by view 0 only: NaN
    for cond in (True, False):
        a = triangulate_dlt(uv, cams, w, conditioning=cond, backend="numba")
        b = triangulate_dlt(uv, cams, w, conditioning=cond, backend="numpy")
        assert np.isnan(a[0, 0]).all() and np.isnan(b[0, 0]).all()
        assert np.isnan(a[0, 2]).all() and np.isfinite(a[0, 1]).all()
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) < 1e-9   # mm


def test_dlt_kernel_fallback_matches_svd():
    """The Jacobi-SVD fallback (forced with iters=0) and the inverse iteration agree with numpy's SVD."""
    from simspine_hub.simulation import _dlt_kernel

    cams = list(builtin_cameras("S9").values())
    rng = np.random.default_rng(4)
    X = rng.normal(scale=400, size=(500, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c, distortion=False) for c in cams]) + rng.normal(scale=3.0, size=(4, 500, 2))
    w = rng.uniform(0.2, 1.0, size=(4, 500))
    P = np.stack([c.P for c in cams])
    A = np.concatenate([w[..., None] * (uv[..., 0:1] * P[:, None, 2] - P[:, None, 0]),
                        w[..., None] * (uv[..., 1:2] * P[:, None, 2] - P[:, None, 1])], axis=0)
    v = np.linalg.svd(np.moveaxis(A, 0, 1))[2][:, -1]         # (500, 4) null vectors of the 8 x 4 systems
    ref = v[:, :3] / v[:, 3:]
    for iters in (0, 30):
        assert np.abs(_dlt_kernel.dlt_points(uv, w, P, False, iters=iters) - ref).max() < 1e-8   # mm
    exact = np.stack([project(X, c, distortion=False) for c in cams])     # zero residual: R[3, 3] ~ 0
    for iters in (0, 30):
        assert np.abs(_dlt_kernel.dlt_points(exact, w, P, False, iters=iters) - X).max() < 1e-6   # mm


def _noisy_views(seed, n=200):
    cams = list(builtin_cameras("S9").values())
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=300, size=(n, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c) for c in cams]) + rng.normal(scale=1.0, size=(4, n, 2))
    return cams, X, uv, rng


@pytest.mark.parametrize("conditioning", [True, False])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_weighted_dlt_weighs_in_every_mode(conditioning, backend):
    """One view 40 px off: weight 0.01 on it must shrink the 3D error (row equilibration used to cancel it)."""
    from simspine_hub.simulation.triangulation import triangulate_dlt

    cams, X, uv, _ = _noisy_views(0)
    uv[0, :, 0] += 40.0
    w = np.ones(uv.shape[:-1])
    w[0] = 0.01
    plain = np.linalg.norm(triangulate_dlt(uv, cams, conditioning=conditioning, backend=backend) - X, axis=-1).mean()
    weighted = np.linalg.norm(triangulate_dlt(uv, cams, w, conditioning=conditioning, backend=backend) - X,
                              axis=-1).mean()
    assert plain > 80.0 and weighted < plain / 5   # mm; 1 px noise alone gives ~6 mm with these cameras


@pytest.mark.parametrize("conditioning", [True, False])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_dlt_does_not_depend_on_the_length_unit(conditioning, backend):
    """Cameras in mm or in m (t scaled by 1e-3) give the same 3D point (in mm) to 1e-6 mm."""
    from simspine_hub.simulation.triangulation import triangulate_dlt

    cams, X, uv, rng = _noisy_views(1)
    w = rng.uniform(0.2, 1.0, size=uv.shape[:-1])
    mm = triangulate_dlt(uv, cams, w, conditioning=conditioning, backend=backend)
    m = triangulate_dlt(uv, [c.scaled(1e-3) for c in cams], w, conditioning=conditioning, backend=backend)
    assert np.abs(mm - m * 1000.0).max() < 1e-6


@pytest.mark.parametrize("model", ["h36m", "opencv"])
def test_compiled_robust_triangulation_equals_the_numpy_reference(model):
    """Every compiled step (undistortion, DLT, reprojection errors, Huber refinement) against numpy's, on a
    (V, T, J) case with noise, gross outliers, low scores and unseen views, with either lens model."""
    from simspine_hub.geometry import undistort
    from simspine_hub.simulation import _refine_kernel
    from simspine_hub.simulation.triangulation import triangulate_robust

    cams = [Camera(c.name, c.K, c.dist, c.R, c.t, c.size, model) for c in builtin_cameras("S9").values()]
    rng = np.random.default_rng(7)
    X = rng.normal(scale=300, size=(40, 9, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c) for c in cams]) + rng.normal(scale=1.5, size=(4, 40, 9, 2))
    uv[1, ::5, 2] += 80.0                                         # a wrong detection in one view
    uv[2, ::7] = np.nan                                           # unseen
    score = rng.uniform(0.1, 1.0, size=uv.shape[:-1])
    flat = uv.reshape(4, -1, 2)
    ref = np.stack([undistort(flat[v], c) for v, c in enumerate(cams)])
    assert np.array_equal(np.isnan(ref), np.isnan(_refine_kernel.undistort_points(flat, cams)))
    assert np.nanmax(np.abs(_refine_kernel.undistort_points(flat, cams) - ref)) < 1e-14
    a = triangulate_robust(uv, cams, score, min_confidence=0.3, backend="numba")
    b = triangulate_robust(uv, cams, score, min_confidence=0.3, backend="numpy")
    assert np.isfinite(b.points).any() and np.isnan(b.points).any()
    assert np.array_equal(a.views, b.views) and np.array_equal(np.isnan(a.points), np.isnan(b.points))
    assert np.nanmax(np.abs(a.points - b.points)) < 1e-4                        # mm (5 Gauss-Newton steps)
    assert np.nanmax(np.abs(a.reprojection_error - b.reprojection_error)) < 1e-6    # px
