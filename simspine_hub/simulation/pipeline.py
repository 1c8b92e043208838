"""The whole simulation (paper Section 3.1) for one subject or a whole capture, writing the release layout.

Per subject: detections -> robust triangulation -> low-pass -> merge with Human3.6M limbs -> scale the
model (OpenSim) -> per sequence: IK (OpenSim) + temporal smoothing -> FK of the 37 virtual markers -> QC.
Outputs (SIMSPINE raw layout, readable by :class:`simspine_hub.io.release.Release` and the dataset builder)::

    <out>/cameras/Calib_<S>.toml   <out>/models/<S>.osim   <out>/positions/<S>/<S>_<ACTION>.trc  (37 markers)
    <out>/kinematics/<S>/<S>_<ACTION>/{<S>_<ACTION>.mot, _ik_marker_errors.sto}
    <out>/qc/<S>_<ACTION>.json      <out>/simspine.h5 (when asked)

A sequence is finished when its .mot exists (written last, atomically); re-runs skip finished sequences.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub import skeleton
from simspine_hub.geometry import Camera
from simspine_hub.io import h36m, release
from simspine_hub.io.detections import read_detections
from simspine_hub.io.files import write_text
from simspine_hub.osim.model import SpineModel
from simspine_hub.simulation.filtering import butterworth_filter, reject_spikes
from simspine_hub.simulation.kinematics import (
    estimate_scale,
    forward_markers,
    inverse_kinematics,
    merge_markers,
    scale_model,
    smooth_coordinates,
)
from simspine_hub.simulation.qc import quality_control
from simspine_hub.simulation.triangulation import triangulate_robust
from simspine_hub.units import MM_PER_M, kinematics_to_degrees, zup_mm_to_yup_m

__all__ = ["SimulationConfig", "triangulate_sequence", "simulate_capture"]


@dataclass
class SimulationConfig:
    """Knobs of the pipeline (units in the names)."""

    fs_hz: float = h36m.FPS
    cutoff_hz: float = 6.0
    min_confidence: float = 0.3
    prune_px: float = 20.0
    huber_px: float = 3.0
    smooth_lambda: float = 1.0
    spike_mm: float = 100.0
    max_gap_frames: int = 10
    use_h36m_limbs: bool = True


def triangulate_sequence(uv: np.ndarray, scores: np.ndarray, cameras: list[Camera], cfg: SimulationConfig
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(V, T, 37, 2) px + (V, T, 37) scores -> filtered (T, 37, 3) world mm and (T, 37) reprojection error px."""
    tri = triangulate_robust(uv, cameras, scores, min_confidence=cfg.min_confidence, prune_px=cfg.prune_px,
                             huber_px=cfg.huber_px)
    pts = np.where((tri.reprojection_error <= cfg.prune_px)[..., None], tri.points, np.nan)  # inconsistent -> gap
    pts = reject_spikes(pts, cfg.spike_mm)                                                 # temporal consistency
    return butterworth_filter(pts, cfg.fs_hz, cfg.cutoff_hz, max_gap=cfg.max_gap_frames), tri.reprojection_error


def _ik_job(args) -> tuple[str, dict]:
    """Worker: IK + smoothing + FK + QC for one sequence; writes its files, .mot last."""
    out, subject, stem, model_path, merged, names, cfg = args
    out = Path(out)
    key = f"{subject}_{release.action_key(stem)}"
    q, rms = inverse_kinematics(model_path, merged, names, cfg.fs_hz)
    model = SpineModel(model_path)
    q = model.apply_couplers(smooth_coordinates(q, cfg.smooth_lambda))
    pts = forward_markers(model, q)
    q, pts, report = quality_control(q, pts, rms, max_gap=cfg.max_gap_frames)
    t = np.arange(len(q)) / cfg.fs_hz
    release.write_trc(out / "positions" / subject / f"{key}.trc", list(skeleton.KEYPOINT_NAMES),
                      zup_mm_to_yup_m(pts), rate=cfg.fs_hz)
    kdir = out / "kinematics" / subject / key
    release.write_sto(kdir / "_ik_marker_errors.sto", "IK marker errors", ["marker_error_RMS"], t, rms[:, None] / MM_PER_M)
    write_text(out / "qc" / f"{key}.json", json.dumps(report.as_dict(), indent=2))
    release.write_mot(kdir / f"{key}.mot", t, kinematics_to_degrees(q))
    return stem, report.as_dict()


def _capture_sequences(detections: Path, subject: str, cam_ids: list[str]) -> list[str]:
    """Sequence stems found in a detections folder (``<stem>.<camera>.npz`` or ``<stem>.<camera>/``)."""
    folder = detections / subject
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no detections for subject {subject}")
    stems = set()
    for p in folder.iterdir():
        name = p.name[:-4] if p.name.endswith(".npz") else p.name
        stem, _, cam = name.rpartition(".")
        if cam in cam_ids and stem:
            stems.add(stem)
    return sorted(stems)


def simulate_capture(h36m_root: str | os.PathLike | None, detections: str | os.PathLike, out: str | os.PathLike,
                     subjects: list[str] | None = None, cfg: SimulationConfig | None = None, workers: int = 1,
                     progress: bool = True, write_hdf5: bool = True,
                     calibration: str | os.PathLike | None = None) -> dict:
    """Run the pipeline; returns {subject: {stem: qc dict}}.

    Two kinds of capture:
      * a Human3.6M-layout ``h36m_root``: its cameras, its sequences, and its 3D limbs when
        ``cfg.use_h36m_limbs``;
      * any calibrated multi-camera capture: ``h36m_root=None`` and a Pose2Sim ``calibration`` TOML
        (translations in metres); sequences are the stems found in ``detections/<subject>/`` and every
        marker is triangulated. ``subjects`` names the capture's subject folder(s).
    """
    cfg = cfg or SimulationConfig()
    out = Path(out)
    data = h36m.Human36M(h36m_root) if h36m_root is not None else None
    if data is None and calibration is None:
        raise ValueError("pass a Human3.6M root or a Pose2Sim calibration TOML (calibration=...)")
    if data is None and not subjects:
        raise ValueError("a calibrated capture needs subjects=[...] (the folder names under the detections)")
    results: dict[str, dict] = {}
    for subject in subjects or data.subjects():
        cams = data.cameras(subject) if data is not None else release.read_calibration_toml(calibration)
        cam_ids = list(cams)
        stems = [s.stem for s in data.sequences(subject)] if data is not None else \
            _capture_sequences(Path(detections), subject, cam_ids)
        release.write_calibration_toml(out / "cameras" / f"Calib_{subject}.toml", cams)
        todo, merged_all = [], {}
        for stem in tqdm(stems, desc=f"{subject} triangulate", disable=not progress):
            key = f"{subject}_{release.action_key(stem)}"
            if (out / "kinematics" / subject / key / f"{key}.mot").is_file():
                continue                                                   # finished earlier
            uv, sc = read_detections(detections, subject, stem, tuple(cam_ids))
            pts, _ = triangulate_sequence(uv, sc, [cams[c] for c in cam_ids], cfg)
            j32 = data.read_3d(subject, stem) if (cfg.use_h36m_limbs and data is not None) else None
            n = len(pts) if j32 is None else min(len(pts), len(j32))
            merged_all[stem] = merge_markers(pts[:n], None if j32 is None else j32[:n])
            todo.append(stem)
        model_path = out / "models" / f"{subject}.osim"
        if not model_path.is_file():
            if not merged_all:
                raise ValueError(f"{subject}: no sequence to scale the model from")
            stacked = np.concatenate([m for m, _ in merged_all.values()])
            factor, _ = estimate_scale(stacked, merged_all[todo[0]][1])
            scale_model(factor, model_path)
        jobs = [(str(out), subject, s, str(model_path), merged_all[s][0], merged_all[s][1], cfg) for s in todo]
        results[subject] = {}
        bar = tqdm(total=len(jobs), desc=f"{subject} IK", unit="seq", disable=not progress)
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers) as ex:
                for stem, rep in ex.map(_ik_job, jobs):
                    results[subject][stem] = rep
                    bar.update(1)
        else:
            for job in jobs:
                stem, rep = _ik_job(job)
                results[subject][stem] = rep
                bar.update(1)
        bar.close()
    if write_hdf5:
        release.write_release_hdf5(out / "simspine.h5", release.Release(out))
    return results
