"""Stages 4-7 on the real OpenSim model: marker merge and weights, scaling, inverse kinematics with a
temporal smoothness term, forward kinematics of the virtual vertebral markers.

Units: marker tables (T, M, 3) in world millimetres (Z-up) at the interfaces, converted to OpenSim's
metres / Y-up ground inside; coordinates in radians (rotations) and metres (translations).

Temporal smoothness. The paper's IK objective adds ``lambda * ||D q||^2``. Two backends:

* ``batched`` (default, :func:`inverse_kinematics_batched`): :class:`simspine_hub.osim.ik.BatchedIK` minimises
  ``sum_m w_m ||z_m - z_m(q_t)||^2 + lambda * ||D2 q||^2`` (metres, radians; second differences over all
  62 coordinates) jointly over each sequence, couplers substituted exactly;
* ``opensim``: OpenSim's IK tool solves each frame alone, so the temporal term is a second stage: the exact
  minimiser of ``||q - q_IK||^2 + lambda * ||D2 q||^2`` over the whole sequence (a Whittaker smoother; one
  banded linear solve per coordinate, all coordinates at once), then the couplers are re-applied. This
  treats the marker term as locally quadratic with unit curvature around the IK solution, so the same
  ``lambda`` weighs smoothness differently in the two backends. ``lambda = 0`` skips the step.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np
from scipy.linalg import solve_banded

from simspine_hub import skeleton
from simspine_hub.io import release
from simspine_hub.osim.backend import MissingExtraError, quiet_stdout, require_opensim
from simspine_hub.osim.model import SIMSPINE_MARKERS, SpineModel, model_file
from simspine_hub.units import MM_PER_M, kinematics_to_radians, yup_m_to_zup_mm, zup_mm_to_yup_m

__all__ = ["IK_WEIGHTS", "IK_MARKERS", "H36M_IK_SOURCES", "merge_markers", "estimate_scale", "scale_model",
           "ik_start_pose", "inverse_kinematics_batched",
           "inverse_kinematics", "smooth_coordinates", "forward_markers"]

#: IK weight per marker (dfki-av/simspine setup, FACTS.md section 2): Human3.6M shoulders and hips 2,
#: limbs, Hip and feet 1, the vertebral column 0.5, Head/clavicles/latissimi 0.3, face 0.1.
IK_WEIGHTS = {
    **{n: 2.0 for n in ("LShoulder", "RShoulder", "LHip", "RHip")},
    **{n: 1.0 for n in ("LElbow", "RElbow", "LWrist", "RWrist", "LKnee", "RKnee", "LAnkle", "RAnkle", "Hip",
                        "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel")},
    **{n: 0.5 for n in ("Neck", "Spine_01", "Spine_02", "Spine_03", "Spine_04", "Spine_05", "Neck_02", "Neck_03")},
    **{n: 0.3 for n in ("Head", "LClavicle", "RClavicle", "LLatissimus", "RLatissimus")},
    **{n: 0.1 for n in ("Nose", "LEye", "REye", "LEar", "REar")},
}
#: Markers used as IK targets (the 33 of the SIMSPINE marker set; eyes and ears are not in it).
IK_MARKERS = tuple(n for n in SIMSPINE_MARKERS if n not in ("LEye", "REye", "LEar", "REar"))
#: The 12 limb markers taken from Human3.6M's ground truth (the paper leaves out Pelvis, Spine, Neck,
#: HeadTop and Nose); every other IK marker comes from the triangulated pseudo-3D points.
H36M_IK_SOURCES = {skeleton.KEYPOINT_NAMES[k]: j for k, j in skeleton.H36M_TO_LIMB.items()}


def merge_markers(triangulated: np.ndarray, h36m32: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """Merge pseudo-3D points with Human3.6M ground truth into the IK marker set.

    Args:
        triangulated: (T, 37, 3) world mm (NaN where missing), SpineTrack order.
        h36m32: (T, 32, 3) Human3.6M D3_Positions (world mm) or None (then all markers are triangulated).
    Returns:
        (T, M, 3) world mm and the M marker names (:data:`IK_MARKERS` order).
    """
    T = len(triangulated)
    out = np.empty((T, len(IK_MARKERS), 3))
    for m, name in enumerate(IK_MARKERS):
        if h36m32 is not None and name in H36M_IK_SOURCES:
            out[:, m] = h36m32[:T, H36M_IK_SOURCES[name]]
        else:
            out[:, m] = triangulated[:, skeleton.index_of(name)]
    return out, list(IK_MARKERS)


_SCALE_PAIRS = (("LHip", "RHip"), ("LShoulder", "RShoulder"), ("LKnee", "LAnkle"), ("RKnee", "RAnkle"),
                ("Hip", "Neck"), ("LHip", "LKnee"), ("RHip", "RKnee"), ("LShoulder", "LElbow"), ("RShoulder", "RElbow"))


def estimate_scale(markers_mm: np.ndarray, names: list[str], model: SpineModel | None = None,
                   trim: float = 0.2) -> tuple[float, dict[str, float]]:
    """Uniform scale factor of the generic model from marker distances, with outlier trimming.

    For each marker pair in ``_SCALE_PAIRS`` the median distance over frames is divided by the same distance
    on the generic model in its default pose; the factor is the ``trim``-trimmed mean of those ratios.
    Returns (factor, {pair: ratio}).
    """
    model = model or SpineModel(markers=SIMSPINE_MARKERS)
    ref = model.marker_positions(_neutral(model)[None])[0] * MM_PER_M
    ratios = {}
    for a, b in _SCALE_PAIRS:
        if a in names and b in names and a in model.marker_names and b in model.marker_names:
            d = np.linalg.norm(markers_mm[:, names.index(a)] - markers_mm[:, names.index(b)], axis=-1)
            d0 = np.linalg.norm(ref[model.marker_names.index(a)] - ref[model.marker_names.index(b)])
            if np.isfinite(d).any():
                ratios[f"{a}-{b}"] = float(np.nanmedian(d) / d0)
    if not ratios:
        raise ValueError("no marker pair available to estimate the subject's scale")
    r = np.sort(np.array(list(ratios.values())))
    k = int(np.floor(trim * len(r)))
    return float(r[k:len(r) - k].mean() if len(r) > 2 * k else r.mean()), ratios


def _neutral(model: SpineModel) -> np.ndarray:
    q = model.default_pose
    for s in ("r", "l"):
        q[skeleton.KINEMATIC_AXES.index(f"arm_add_{s}")] = 0.0
    return q


def ik_start_pose(model: SpineModel) -> np.ndarray:
    """(62,) pose batched IK starts from: the model's defaults with the arms down (``arm_add`` 0). The paper
    model's default holds the arms abducted 90 deg, the shoulder's gimbal singularity, from which the two
    equivalent shoulder solutions are equally near; from the arms-down pose the anatomical one is nearer."""
    return _neutral(model)


@functools.lru_cache(maxsize=8)
def _batched_solver(path: str, mtime: int, names: tuple[str, ...], weights: tuple[float, ...], device: str):
    from simspine_hub.osim.ik import BatchedIK

    model = SpineModel(path)
    return BatchedIK(model.tree, names, np.array(weights), device=device), ik_start_pose(model)


def inverse_kinematics_batched(model_path: str | os.PathLike, runs: list[np.ndarray], names: list[str],
                               weights: dict[str, float] | None = None, lam: float = 0.0,
                               device: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batched IK (:class:`~simspine_hub.osim.ik.BatchedIK`) of several runs of world-mm markers at once.

    Args:
        model_path: scaled .osim carrying the markers.
        runs: list of (T, M, 3) world mm (Z-up); NaN markers leave their frame's sum.
        names: the M marker names; weights: per marker (default :data:`IK_WEIGHTS`).
        lam: weight of ``||D2 q||^2`` (solved jointly over each run; 0: per-frame IK).
        device: torch device (default: CUDA when torch sees a GPU, else the CPU).
    Returns:
        per run: q (T, 62) radians / metres, and the marker RMS per frame (T,) mm, unweighted, as OpenSim
        reports it.
    """
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError('batched IK needs torch: pip install "simspine-hub[ik]" (or use --ik opensim)') \
            from exc
    weights = weights or IK_WEIGHTS
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = Path(model_path)
    ik, start = _batched_solver(str(path), path.stat().st_mtime_ns, tuple(names),
                                tuple(float(weights.get(n, 1.0)) for n in names), device)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # same numbers in every process (thread count changes summation order)
    try:
        res = ik.solve([zup_mm_to_yup_m(r) for r in runs], lam=lam, start_pose=start)
    finally:
        torch.set_num_threads(threads)
    return [(r.q, r.marker_rms * MM_PER_M) for r in res]


def scale_model(factor: float, out_path: str | os.PathLike, mass_kg: float | None = None,
                base: str | os.PathLike | None = None) -> Path:
    """Scale the paper's model uniformly with OpenSim (``Model.scale``), markers included; write .osim.

    ``mass_kg`` defaults to the generic model's mass times ``factor**3`` (a uniform-density estimate).
    """
    model = SpineModel(base or model_file(), markers=SIMSPINE_MARKERS)
    model.scale(factor, mass_kg if mass_kg is not None else model.total_mass * factor ** 3)
    model.save(out_path)
    return Path(out_path)


def inverse_kinematics(model_path: str | os.PathLike, markers_mm: np.ndarray, names: list[str], fs: float,
                       weights: dict[str, float] | None = None, workdir: str | os.PathLike | None = None,
                       accuracy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """OpenSim InverseKinematicsTool on world-mm markers.

    Args:
        model_path: scaled .osim carrying the markers.
        markers_mm: (T, M, 3) world mm (Z-up); NaN markers are ignored in their frames by OpenSim.
        names: the M marker names; fs: frame rate (Hz).
        accuracy: the tool's convergence setting (OpenSim's default, 1e-5, when None).
    Returns:
        q (T, 62) radians / metres, and the per-frame marker RMS error (T,) in mm.
    """
    osim = require_opensim("OpenSim's InverseKinematicsTool (--ik opensim)")
    weights = weights or IK_WEIGHTS
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        trc = tmp / "markers.trc"
        release.write_trc(trc, names, zup_mm_to_yup_m(markers_mm), rate=fs)
        ik = osim.InverseKinematicsTool()
        model = osim.Model(str(model_path))
        ik.setModel(model)
        ik.setMarkerDataFileName(str(trc))
        T = len(markers_mm)
        ik.setStartTime(0.0)
        ik.setEndTime((T - 1) / fs)
        ik.setResultsDir(str(tmp))
        ik.setOutputMotionFileName(str(tmp / "ik.mot"))
        ik.set_report_errors(True)
        if accuracy is not None:
            ik.set_accuracy(float(accuracy))
        tasks = ik.getIKTaskSet()
        for n in names:
            task = osim.IKMarkerTask()
            task.setName(n)
            task.setApply(True)
            task.setWeight(float(weights.get(n, 1.0)))
            tasks.cloneAndAppend(task)
        with quiet_stdout():                      # OpenSim prints a model summary on stdout
            ok = ik.run()
        if not ok:
            raise RuntimeError(f"OpenSim IK failed on {model_path}")
        cols, _, values = release.read_mot(tmp / "ik.mot")
        errs = sorted(tmp.glob("*marker_errors.sto"))
        rms = release.read_mot(errs[0])[2][:, 1] * MM_PER_M if errs else np.full(T, np.nan)
    idx = [cols.index(a) for a in skeleton.KINEMATIC_AXES]
    q = values[:, idx]
    return kinematics_to_radians(q), rms


def smooth_coordinates(q: np.ndarray, lam: float) -> np.ndarray:
    """argmin_x ||x - q||^2 + lam * ||D2 x||^2 along time, per column of (T, C) ``q`` (exact banded solve)."""
    q = np.asarray(q, dtype=np.float64)
    T = len(q)
    if lam <= 0 or T < 3:
        return q.copy()
    # (I + lam * D2^T D2) is symmetric pentadiagonal; build its 5 bands.
    D = np.zeros((T - 2, T))
    idx = np.arange(T - 2)
    D[idx, idx], D[idx, idx + 1], D[idx, idx + 2] = 1.0, -2.0, 1.0
    A = np.eye(T) + lam * (D.T @ D)
    ab = np.zeros((5, T))
    for k in range(-2, 3):
        diag = np.diagonal(A, k)
        if k >= 0:
            ab[2 - k, k:] = diag
        else:
            ab[2 - k, :T + k] = diag
    return solve_banded((2, 2), ab, q)


def forward_markers(model: SpineModel | str | os.PathLike, q: np.ndarray,
                    names: list[str] | tuple[str, ...] = skeleton.KEYPOINT_NAMES) -> np.ndarray:
    """(T, 62) coordinates on a scaled model (a :class:`SpineModel` or its .osim) -> (T, K, 3) world mm (Z-up)
    of the named markers (NaN where the model lacks a marker)."""
    if not isinstance(model, SpineModel):
        model = SpineModel(model)
    have = [n for n in names if n in model.marker_names]
    out = np.full((len(q), len(names), 3), np.nan)
    if have:
        pts = yup_m_to_zup_mm(model.marker_positions(q, have))
        out[:, [list(names).index(n) for n in have]] = pts
    return out
