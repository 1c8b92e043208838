"""Batched IK (osim/ik.py): against the twin's ground truth and OpenSim 4.6's InverseKinematicsTool (the anchor).

Tolerances come from the ground truth or from OpenSim's own result, never from the solver's output.
"""

import numpy as np
import pytest
import torch

from simspine_hub import skeleton
from simspine_hub.osim import _ik_kernel
from simspine_hub.osim.banded import difference_gram, solve_banded, solve_banded_lapack, solve_block_banded
from simspine_hub.osim.ik import BatchedIK
from simspine_hub.osim.model import SpineModel
from simspine_hub.osim.torch_fk import TorchFK
from simspine_hub.simulation import kinematics as kin
from simspine_hub.units import zup_mm_to_yup_m

NAMES = list(kin.IK_MARKERS)
W = np.array([kin.IK_WEIGHTS[n] for n in NAMES])
LUMBAR = [i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a.startswith(("L1_", "L2_", "L3_", "L4_", "L5_"))]


@pytest.fixture(scope="module")
def model(twin_root):
    return SpineModel(twin_root / "simspine" / "models" / "S9.osim")


def _markers(ground_truth, stem, noise_mm=0.0, seed=0):
    """The twin's merged IK markers (world mm); ``noise_mm`` Gaussian noise on the triangulated ones (the
    Human3.6M limb markers stay exact, as in the pipeline)."""
    g = ground_truth[f"S9/{stem}"]
    m, _ = kin.merge_markers(g["keypoints37"], g["h36m32"])
    if noise_mm:
        tri = [i for i, n in enumerate(NAMES) if n not in kin.H36M_IK_SOURCES]
        m[:, tri] += np.random.default_rng(seed).normal(scale=noise_mm, size=m[:, tri].shape)
    return m, g["coordinates"]


def test_torch_fk_equals_numpy_fk_and_its_jacobian_equals_autograd(model):
    rng = np.random.default_rng(0)
    q = np.tile(model.default_pose, (3, 1)) + rng.uniform(-0.5, 0.5, size=(3, 62)) * np.where(model.rotational, 1, 0.1)
    q = model.apply_couplers(q)
    fk = TorchFK(model.tree, NAMES)
    P, J = fk.forward(torch.tensor(q), jacobian=True)
    assert np.abs(P.numpy() - model.fk.marker_positions(q, NAMES)).max() < 1e-12          # metres
    auto = torch.autograd.functional.jacobian(lambda x: fk.forward(x)[0], torch.tensor(q), vectorize=True)
    auto = torch.stack([auto[b, :, :, b] for b in range(len(q))])
    assert torch.allclose(J, auto, atol=1e-12)


@pytest.mark.skipif(not _ik_kernel.available(), reason="numba is not installed")
def test_compiled_kernel_equals_torch(model, ground_truth):
    m, q = _markers(ground_truth, "Walking 1", noise_mm=5.0)
    Z = torch.tensor(zup_mm_to_yup_m(m))
    a, b = (BatchedIK(model.tree, NAMES, W, backend=k) for k in ("torch", "numba"))
    w = a._w.expand(len(Z), -1).clone()
    w[3, 5] = 0.0                                                            # a missing marker
    z = torch.tensor(a.vars.variables_of(q)) + 0.05 * torch.randn(len(Z), a.vars.n, dtype=torch.float64)
    ea, eb = a._evaluate(z, Z, w), b._evaluate(z, Z, w)
    for x, y in zip(ea, eb):
        assert torch.allclose(x, y, rtol=1e-12, atol=1e-12)
    z[:, a.vars.names.index("knee_angle_r")] = 0.0                       # at a bound: the active set
    mu = torch.full((len(z),), 1e-4, dtype=torch.float64)
    for x, y in zip(a._step(z, ea[1], ea[2], mu), b._step(z, ea[1], ea[2], mu)):
        assert torch.allclose(x.double(), y.double(), rtol=1e-9, atol=1e-12)


def test_banded_solvers_equal_a_dense_solve():
    rng = np.random.default_rng(1)
    T, n, p, lam = 11, 4, 2, 3.0
    bands = difference_gram(T, p) * lam
    D = np.diff(np.eye(T), n=p, axis=0)
    assert np.allclose(bands[1, :T - 1] / lam, np.diagonal(D.T @ D, -1))
    s = rng.uniform(1, 2, n)
    blocks = np.stack([(lambda X: X @ X.T + np.eye(n))(rng.normal(size=(n, n))) for _ in range(T)])
    diag = blocks + np.einsum("t,n,nm->tnm", bands[0], s, np.eye(n))
    off = np.stack([np.pad(bands[e, :T - e, None] * s, ((0, e), (0, 0))) for e in (1, 2)])
    rhs = rng.normal(size=(T, n))
    A = np.kron(lam * D.T @ D, np.diag(s))
    for t in range(T):
        A[t * n:(t + 1) * n, t * n:(t + 1) * n] += blocks[t]
    ref = np.linalg.solve(A, rhs.reshape(-1)).reshape(T, n)                  # dense reference
    assert np.allclose(solve_banded_lapack(diag[None], off[None], rhs[None])[0], ref, atol=1e-12)
    got = solve_block_banded(torch.tensor(diag[None]), torch.tensor(off[None]), torch.tensor(rhs[None]))[0]
    assert np.allclose(got.numpy(), ref, atol=1e-12)
    # a second, shorter sequence padded to T: solved over its own 7 frames (dense reference of those alone)
    L = 7
    A7 = np.kron(lam * np.diff(np.eye(L), n=p, axis=0).T @ np.diff(np.eye(L), n=p, axis=0), np.diag(s))
    for t in range(L):
        A7[t * n:(t + 1) * n, t * n:(t + 1) * n] += blocks[t]
    diag7 = blocks[:L] + np.einsum("t,n,nm->tnm", difference_gram(L, p)[0] * lam, s, np.eye(n))
    off7 = np.stack([np.pad(difference_gram(L, p)[e, :L - e, None] * lam * s, ((0, T - L + e), (0, 0))) for e in (1, 2)])
    pad = lambda x: np.concatenate([x, np.zeros((T - L,) + x.shape[1:])])           # noqa: E731
    both = [torch.tensor(np.stack(x)) for x in ((diag, pad(diag7)), (off, off7), (rhs, pad(rhs[:L])))]
    x = solve_banded(*both, lengths=[T, L]).numpy()
    assert np.allclose(x[0], ref, atol=1e-12) and not x[1, L:].any()
    assert np.allclose(x[1, :L], np.linalg.solve(A7, rhs[:L].reshape(-1)).reshape(L, n), atol=1e-12)
    with pytest.raises(torch.linalg.LinAlgError):
        solve_banded(-both[0][:1], both[1][:1], both[2][:1])                           # not positive definite


def test_true_markers_recover_the_ground_truth(model, ground_truth):
    runs, truth = zip(*(_markers(ground_truth, s) for s in ("Walking 1", "Purchases 1", "Photo 1")))
    out = kin.inverse_kinematics_batched(model.path, list(runs), NAMES)
    err = np.degrees(np.concatenate([q for q, _ in out]) - np.concatenate(truth))
    rms = np.sqrt((err ** 2).mean(0))
    assert rms[LUMBAR].max() < 0.05                                        # deg, every lumbar DOF
    assert rms[model.rotational].max() < 0.2                               # deg, every rotational coordinate
    assert max(r.max() for _, r in out) < 0.01                             # mm marker RMS


def test_couplers_exact_bounds_respected_nan_markers_skipped(model, ground_truth):
    m, q = _markers(ground_truth, "Walking 1")
    q = q.copy()
    knee = skeleton.KINEMATIC_AXES.index("knee_angle_r")
    q[:, knee] = np.deg2rad(-15.0)                         # hyperextended: outside the clamped range [0, 155] deg
    world = kin.forward_markers(model, model.apply_couplers(q), NAMES)
    world[4, NAMES.index("Spine_03")] = np.nan             # one marker missing in one frame
    world[6] = np.nan                                      # a frame with no marker at all
    (qb, rms), = kin.inverse_kinematics_batched(model.path, [world], NAMES)
    assert np.array_equal(qb, model.apply_couplers(qb))                 # couplers hold exactly
    lo, hi = np.array([c.range for c in model.tree.coordinates]).T
    clamped = np.array([c.clamped for c in model.tree.coordinates])
    assert (qb[:, clamped] >= lo[clamped]).all() and (qb[:, clamped] <= hi[clamped]).all()
    assert np.allclose(qb[np.arange(len(qb)) != 6, knee], 0.0)          # held at its bound
    assert np.isfinite(qb).all() and np.isfinite(rms[[4]]).all()
    # the frame with a missing marker solves the problem without that marker
    ik = BatchedIK(model.tree, NAMES, W)
    sub = [n for n in NAMES if n != "Spine_03"]
    ik_sub = BatchedIK(model.tree, sub, W[[NAMES.index(n) for n in sub]])
    z0 = torch.tensor(ik.vars.variables_of(qb[3:4]))
    Zm = torch.tensor(zup_mm_to_yup_m(world[4:5]))
    za, ca, _ = ik.solve_frames(Zm, ik._w * torch.isfinite(Zm).all(-1), z0.clone())
    zb, cb, _ = ik_sub.solve_frames(Zm[:, [NAMES.index(n) for n in sub]], ik_sub._w[None], z0.clone())
    assert torch.allclose(za, zb, atol=1e-12) and torch.allclose(ca, cb, rtol=1e-12)


def test_no_sequences_is_no_results_and_bad_shapes_are_named(model):
    """Nothing to solve (a sequence QC rejected altogether) returns no results; a wrong shape names it."""
    ik = BatchedIK(model.tree, NAMES, W)
    assert ik.solve([]) == [] and ik.solve([], lam=1.0) == []
    with pytest.raises(ValueError, match=r"sequence 0: markers must be"):
        ik.solve([np.zeros((3, len(NAMES) + 1, 3))])


@pytest.fixture(scope="module")
def opensim_noisy(model, ground_truth):
    """OpenSim 4.6's IK tool on noisy twin markers (5 mm on the triangulated markers; 25 frames)."""
    pytest.importorskip("opensim", reason="OpenSim (the opensim extra) is the anchor of these tests")
    m, q = _markers(ground_truth, "Purchases 1", noise_mm=5.0, seed=3)
    qo, rms = kin.inverse_kinematics(model.path, m, NAMES, 50.0)
    return m, model.apply_couplers(qo), rms


def test_per_frame_cost_never_above_opensims(model, opensim_noisy):
    m, qo, rms_o = opensim_noisy
    (qb, rms_b), = kin.inverse_kinematics_batched(model.path, [m], NAMES)
    ik = BatchedIK(model.tree, NAMES, W)
    _, ours = ik.objective(qb, zup_mm_to_yup_m(m))
    _, theirs = ik.objective(qo, zup_mm_to_yup_m(m))
    assert np.allclose(np.sqrt(((kin.forward_markers(model, qo, NAMES) - m) ** 2).sum(-1).mean(-1)), rms_o,
                       atol=1e-4)                                  # OpenSim's cost is what it reports (mm)
    assert (ours <= theirs * (1 + 1e-6)).mean() >= 0.99
    # the lumbar DOFs, well observed, within 0.1 deg RMS of OpenSim's (the bound); where the cost is
    # flat (forearm twist, toes) OpenSim, stopping early (accuracy 1e-5), is degrees away: tools/bench_ik.py
    lumbar_rms = np.sqrt((np.degrees(qb - qo)[:, LUMBAR] ** 2).mean(0))
    assert lumbar_rms.max() < 0.1


def test_joint_solve_reaches_a_lower_objective_than_two_stage(model, opensim_noisy):
    m, qo, _ = opensim_noisy
    lam = 1.0
    (qj, _), = kin.inverse_kinematics_batched(model.path, [m], NAMES, lam=lam)
    two_stage = model.apply_couplers(kin.smooth_coordinates(qo, lam))
    ik = BatchedIK(model.tree, NAMES, W)
    F_joint, _ = ik.objective(qj, zup_mm_to_yup_m(m), lam)
    F_two, _ = ik.objective(two_stage, zup_mm_to_yup_m(m), lam)
    F_frame, _ = ik.objective(kin.inverse_kinematics_batched(model.path, [m], NAMES)[0][0], zup_mm_to_yup_m(m), lam)
    assert F_joint < F_two and F_joint < F_frame


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none on this machine")
def test_cuda_solve_matches_cpu(model, ground_truth):
    runs = [_markers(ground_truth, s, noise_mm=5.0)[0] for s in ("Walking 1", "Purchases 1")]
    Zs = [zup_mm_to_yup_m(r) for r in runs]
    start = kin.ik_start_pose(model)
    cpu = BatchedIK(model.tree, NAMES, W).solve(Zs, lam=1.0, start_pose=start)
    gpu = BatchedIK(model.tree, NAMES, W, device="cuda").solve(Zs, lam=1.0, start_pose=start)
    for a, b in zip(cpu, gpu):
        assert abs(a.objective - b.objective) <= 1e-6 * a.objective
        assert np.abs(a.q - b.q)[:, LUMBAR].max() < 1e-3


def test_simulate_on_ray_writes_the_same_bytes_as_one_process(twin_root, tmp_path):
    """``simspine simulate --ray``: a local Ray (2 CPUs) runs the per-sequence jobs (triangulation, IK); every
    output file equals the single-process run's, byte for byte, and so do those of a 2-process pool."""
    import shutil

    from simspine_hub.simulation.pipeline import simulate_capture
    from simspine_hub.twin.generator import write_detections

    ray = pytest.importorskip("ray", reason="Ray (the ray extra) is not installed")
    twin = tmp_path / "twin"
    shutil.copytree(twin_root, twin, ignore=shutil.ignore_patterns("Videos"))
    write_detections(twin, split_subjects=("S9",))
    kw = {"subjects": ["S9"], "progress": False}
    one = simulate_capture(twin / "h36m", twin / "detections", tmp_path / "one", **kw)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        many = simulate_capture(twin / "h36m", twin / "detections", tmp_path / "ray", ray_address="local", **kw)
    finally:
        ray.shutdown()
    pool = simulate_capture(twin / "h36m", twin / "detections", tmp_path / "pool", workers=2, **kw)
    assert one == many == pool and len(one["S9"]) == 3
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".mot"]) == 3
    for other in ("ray", "pool"):
        assert files == sorted(p.relative_to(tmp_path / other) for p in (tmp_path / other).rglob("*") if p.is_file())
        for f in files:
            assert (tmp_path / "one" / f).read_bytes() == (tmp_path / other / f).read_bytes(), (other, f)
