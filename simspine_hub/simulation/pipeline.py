"""The whole simulation (paper Section 3.1) for one subject or a whole capture, writing the release layout.

Per subject: detections -> robust triangulation -> low-pass -> evidence check -> merge with Human3.6M limbs
-> scale the model (OpenSim) -> per sequence: IK (batched, the temporal term solved jointly; or OpenSim +
temporal smoothing) -> FK of the 37 virtual markers -> QC. Outputs (SIMSPINE raw layout, readable by
:class:`simspine_hub.io.release.Release` and the dataset builder)::

    <out>/cameras/Calib_<S>.toml   <out>/models/<S>.osim   <out>/positions/<S>/<S>_<ACTION>.trc  (37 markers)
    <out>/kinematics/<S>/<S>_<ACTION>/{<S>_<ACTION>.mot, _ik_marker_errors.sto}
    <out>/qc/<S>_<ACTION>.json      <out>/simspine.h5 (when asked)

A sequence is finished when its .mot exists (written last, atomically). Its QC JSON records the parameters
it was made with; a re-run skips finished sequences made with the same parameters and refuses (or, with
``overwrite``, redoes the subject) when they differ. A sequence without enough spine evidence, or whose
frames QC rejects altogether, is *rejected*: only its QC JSON is written, saying why, and it is never
marked finished.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub import skeleton
from simspine_hub.geometry import Camera
from simspine_hub.io import h36m, release
from simspine_hub.io.detections import read_detections
from simspine_hub.io.files import write_text
from simspine_hub.osim.model import SpineModel
from simspine_hub.simulation import qc
from simspine_hub.simulation.filtering import butterworth_filter, reject_spikes, runs
from simspine_hub.simulation.kinematics import (
    estimate_scale,
    forward_markers,
    inverse_kinematics,
    inverse_kinematics_batched,
    merge_markers,
    scale_model,
    smooth_coordinates,
)
from simspine_hub.simulation.triangulation import triangulate_robust
from simspine_hub.units import MM_PER_M, kinematics_to_degrees, zup_mm_to_yup_m

__all__ = ["SimulationConfig", "triangulate_sequence", "simulate_capture", "StaleOutputError", "summary"]


@dataclass
class SimulationConfig:
    """Knobs of the pipeline (units in the names).

    ``min_spine_markers`` of the 15 spine points must be triangulated in a frame for it to be usable, and
    at least ``min_usable_fraction`` of a sequence's frames must be usable (see :mod:`.qc`).
    """

    fs_hz: float = h36m.FPS
    cutoff_hz: float = 6.0
    min_confidence: float = 0.3
    prune_px: float = 20.0
    huber_px: float = 3.0
    smooth_lambda: float = 1.0
    spike_mm: float = 100.0
    max_gap_frames: int = 10
    use_h36m_limbs: bool = True
    min_spine_markers: int = 8
    min_usable_fraction: float = 0.5
    ik: str = "batched"         # "batched" (osim.ik, the temporal term solved jointly) or "opensim" (+ 2nd stage)

    def __post_init__(self) -> None:
        if self.ik not in ("batched", "opensim"):
            raise ValueError(f"ik must be 'batched' or 'opensim', got {self.ik!r}")


class StaleOutputError(ValueError):
    """Finished outputs in ``out`` were made with other parameters than this run's."""


def triangulate_sequence(uv: np.ndarray, scores: np.ndarray, cameras: list[Camera], cfg: SimulationConfig
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(V, T, 37, 2) px + (V, T, 37) scores -> filtered (T, 37, 3) world mm and (T, 37) reprojection error px."""
    tri = triangulate_robust(uv, cameras, scores, min_confidence=cfg.min_confidence, prune_px=cfg.prune_px,
                             huber_px=cfg.huber_px)
    pts = np.where((tri.reprojection_error <= cfg.prune_px)[..., None], tri.points, np.nan)  # inconsistent -> gap
    pts = reject_spikes(pts, cfg.spike_mm)                                                 # temporal consistency
    return butterworth_filter(pts, cfg.fs_hz, cfg.cutoff_hz, max_gap=cfg.max_gap_frames), tri.reprojection_error


def _solve_ik(model_path: str, merged: np.ndarray, names: list[str], usable: np.ndarray, cfg: SimulationConfig
              ) -> tuple[np.ndarray, np.ndarray]:
    """IK with the temporal term on each run of usable frames (OpenSim's IK fails on a frame without markers).

    Returns q (T, 62) radians / metres and the IK marker RMS (T,) mm, NaN outside the usable runs.
    """
    q = np.full((len(merged), len(skeleton.KINEMATIC_AXES)), np.nan)
    rms = np.full(len(merged), np.nan)
    spans = list(zip(*runs(usable)))
    if not spans:                                        # nothing usable: QC rejects the sequence
        return q, rms
    if cfg.ik == "batched":                              # all runs at once, lambda solved jointly
        solved = inverse_kinematics_batched(model_path, [merged[s:e] for s, e in spans], names, lam=cfg.smooth_lambda)
        for (s, e), (q_run, rms_run) in zip(spans, solved):
            q[s:e], rms[s:e] = q_run, rms_run
        return q, rms
    for s, e in spans:
        q_run, rms[s:e] = inverse_kinematics(model_path, merged[s:e], names, cfg.fs_hz)
        q[s:e] = smooth_coordinates(q_run, cfg.smooth_lambda)
    return q, rms


def _ik_job(args) -> tuple[str, dict]:
    """Worker: IK + smoothing + FK + QC for one sequence; writes its files, .mot last (not when rejected)."""
    out, subject, stem, model_path, merged, names, usable, cfg, extra = args
    out = Path(out)
    key = f"{subject}_{release.action_key(stem)}"
    q, rms = _solve_ik(model_path, merged, names, usable, cfg)
    model = SpineModel(model_path)
    q = model.apply_couplers(q)
    pts = forward_markers(model, np.nan_to_num(q))
    q, pts, report = qc.quality_control(q, pts, rms, max_gap=cfg.max_gap_frames, usable=usable)
    report.triangulated, report.parameters = extra["triangulated"], extra["parameters"]
    if report.status == "ok":
        t = np.arange(len(q)) / cfg.fs_hz
        release.write_trc(out / "positions" / subject / f"{key}.trc", list(skeleton.KEYPOINT_NAMES),
                          zup_mm_to_yup_m(pts), rate=cfg.fs_hz)
        kdir = out / "kinematics" / subject / key
        release.write_sto(kdir / "_ik_marker_errors.sto", "IK marker errors", ["marker_error_RMS"], t,
                          rms[:, None] / MM_PER_M)
    write_text(out / "qc" / f"{key}.json", json.dumps(report.as_dict(), indent=2))
    if report.status == "ok":
        release.write_mot(out / "kinematics" / subject / key / f"{key}.mot", t, kinematics_to_degrees(q))
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


def _parameters(cfg: SimulationConfig, h36m_root, detections, calibration) -> dict:
    """What a sequence's outputs depend on (JSON-normalised): the config and the input locations."""
    inputs = {"h36m_root": h36m_root, "detections": detections, "calibration": calibration}
    inputs = {k: None if v is None else str(Path(v).resolve()) for k, v in inputs.items()}
    return json.loads(json.dumps({"config": asdict(cfg), "inputs": inputs}))


def _finished(out: Path, subject: str, stems: list[str], params: dict) -> tuple[set[str], list[str]]:
    """Stems of ``subject`` already finished in ``out`` -> (those made with ``params``, what differs in the others)."""
    same, stale = set(), []
    for stem in stems:
        key = f"{subject}_{release.action_key(stem)}"
        if not (out / "kinematics" / subject / key / f"{key}.mot").is_file():
            continue
        try:
            old = json.loads((out / "qc" / f"{key}.json").read_text()).get("parameters", {})
        except (OSError, ValueError, AttributeError):
            old = {}                                          # missing or unreadable QC: nothing recorded
        if old == params:
            same.add(stem)
            continue
        diff = [f"{group}.{k}: {old.get(group, {}).get(k, 'not recorded')} -> {v}"
                for group in ("config", "inputs") for k, v in params[group].items()
                if old.get(group, {}).get(k, "not recorded") != v]
        stale.append(f"{subject} {stem} ({'; '.join(diff)})")
    return same, stale


def _clear_subject(out: Path, subject: str, stems: list[str]) -> None:
    """Remove a subject's finished outputs (the .mot first, so nothing looks finished half-way)."""
    for stem in stems:
        key = f"{subject}_{release.action_key(stem)}"
        kdir = out / "kinematics" / subject / key
        for f in (kdir / f"{key}.mot", kdir / "_ik_marker_errors.sto", out / "positions" / subject / f"{key}.trc",
                  out / "qc" / f"{key}.json"):
            f.unlink(missing_ok=True)
    (out / "models" / f"{subject}.osim").unlink(missing_ok=True)


def _triangulate_job(args) -> tuple[str, tuple]:
    """Worker: read, triangulate and check the evidence of one stem -> (stem, ("todo", (merged, names, usable,
    counts))) or (stem, ("rejected", QC dict)); a rejected stem gets its QC JSON written here."""
    out, subject, stem, data, detections, cams, cfg, params = args
    uv, sc = read_detections(detections, subject, stem, tuple(c.name for c in cams))
    pts, _ = triangulate_sequence(uv, sc, cams, cfg)
    counts, usable = qc.spine_evidence(pts, cfg.min_spine_markers)
    reason = qc.evidence_verdict(usable, cfg.min_spine_markers, cfg.min_usable_fraction)
    if reason:
        rep = qc.rejected_report(len(pts), reason, counts, int(usable.sum()), params).as_dict()
        write_text(Path(out) / "qc" / f"{subject}_{release.action_key(stem)}.json", json.dumps(rep, indent=2))
        return stem, ("rejected", rep)
    j32 = data.read_3d(subject, stem) if (cfg.use_h36m_limbs and data is not None) else None
    n = len(pts) if j32 is None else min(len(pts), len(j32))
    merged, names = merge_markers(pts[:n], None if j32 is None else j32[:n])
    return stem, ("todo", (merged, names, usable[:n], counts))


def _triangulate_jobs(plan: _SubjectPlan, data, detections, cfg: SimulationConfig, params: dict, out: Path
                      ) -> list[tuple]:
    """The :func:`_triangulate_job` arguments of a subject's unfinished stems (its usable cameras each)."""
    jobs = []
    for stem in plan.stems:
        cam_ids = h36m.usable_cameras(plan.subject, stem, list(plan.cams)) if data is not None else list(plan.cams)
        jobs.append((str(out), plan.subject, stem, data, detections, [plan.cams[c] for c in cam_ids], cfg, params))
    return jobs


def _ik_jobs(subject: str, triangulated: dict, cfg: SimulationConfig, params: dict, out: Path
             ) -> tuple[list[tuple], dict]:
    """Scale the subject's model on its usable triangulated frames (unless kept from an earlier run) ->
    (the :func:`_ik_job` arguments of the stems to solve, {stem: rejected QC dict})."""
    todo = {s: v for s, (kind, v) in triangulated.items() if kind == "todo"}
    rejected = {s: v for s, (kind, v) in triangulated.items() if kind == "rejected"}
    model_path = out / "models" / f"{subject}.osim"
    if todo and not model_path.is_file():
        stacked = np.concatenate([m[np.asarray(u)] for m, _, u, _ in todo.values()])
        factor, _ = estimate_scale(stacked, next(iter(todo.values()))[1])
        scale_model(factor, model_path)
    jobs = [(str(out), subject, s, str(model_path), m, names, u, cfg, {"triangulated": c, "parameters": params})
            for s, (m, names, u, c) in todo.items()]
    return jobs, rejected


def _worker_context() -> multiprocessing.context.BaseContext:
    """Start pool workers fresh ("forkserver", else "spawn"), never by forking this process: by then it runs
    native thread pools (numba's OpenMP layer after triangulation, pyarrow's, OpenBLAS'), and a forked child
    inherits them half-alive (GNU OpenMP is not fork-safe; Python 3.12+ warns about fork with threads)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])           # the server imports the pipeline once; workers fork from it
    return ctx


def _limit_threads(threads: int) -> None:
    """Pool-worker initialiser: ``threads`` numba threads per worker, so the workers share the cores."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


class _JobRunner:
    """Runs per-sequence jobs ``fn(job) -> (stem, value)``: in this process (when their results are asked for),
    on one pool of ``workers`` processes kept for the whole run, or as Ray tasks (``ray_address``,
    :mod:`.ray_jobs`). Pool and Ray jobs start when submitted, so a later batch queues behind an earlier one
    and the workers stay busy across the phases and subjects."""

    def __init__(self, workers: int, progress: bool, ray_address: str | None = None) -> None:
        self.workers, self.progress, self.ray_address = workers, progress, ray_address
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _JobRunner:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, fn, jobs: list[tuple], desc: str, gpu: bool = False) -> Callable[[], dict]:
        """Hand ``jobs`` over -> a function that waits for their results ({stem: value}, a bar per batch)."""
        n = len(jobs)
        if not jobs:
            return lambda: {}
        if self.ray_address is not None:
            from simspine_hub.simulation.ray_jobs import collect_from_ray, submit_on_ray

            refs = submit_on_ray(fn, jobs, self.ray_address, gpu=gpu)
            return lambda: collect_from_ray(refs, desc, self.progress)
        if self.workers > 1:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_worker_context(),
                                                 initializer=_limit_threads,
                                                 initargs=(max(1, (os.cpu_count() or 1) // self.workers),))
            futures = [self._pool.submit(fn, job) for job in jobs]
            return lambda: self._collect((f.result() for f in futures), n, desc)
        return lambda: self._collect(map(fn, jobs), n, desc)

    def _collect(self, done, n: int, desc: str) -> dict:
        results = {}
        with tqdm(total=n, desc=desc, unit="seq", disable=not self.progress) as bar:
            for stem, value in done:
                results[stem] = value
                bar.update(1)
        return results


@dataclass
class _SubjectPlan:
    """A subject to simulate: its cameras and the stems not yet finished with this run's parameters."""

    subject: str
    cams: dict[str, Camera]
    stems: list[str]


def simulate_capture(h36m_root: str | os.PathLike | None, detections: str | os.PathLike, out: str | os.PathLike,
                     subjects: list[str] | None = None, cfg: SimulationConfig | None = None, workers: int = 1,
                     progress: bool = True, write_hdf5: bool = True,
                     calibration: str | os.PathLike | None = None, overwrite: bool = False,
                     ray_address: str | None = None) -> dict:
    """Run the pipeline; returns {subject: {stem: qc dict}} for the sequences processed in this run
    (``qc["status"]`` is "ok" or "rejected", with ``qc["reason"]``).

    Two kinds of capture:
      * a Human3.6M-layout ``h36m_root``: its cameras, its sequences, and its 3D limbs when
        ``cfg.use_h36m_limbs``;
      * any calibrated multi-camera capture: ``h36m_root=None`` and a Pose2Sim ``calibration`` TOML
        (translations in metres); sequences are the stems found in ``detections/<subject>/`` and every
        marker is triangulated. ``subjects`` names the capture's subject folder(s).
    Finished sequences made with other parameters raise :class:`StaleOutputError` unless ``overwrite``
    (then the subject's outputs are removed and made again). The per-sequence jobs (triangulation, then IK
    once the subject's model is scaled) run on ``workers`` processes, or as Ray tasks with ``ray_address``
    (``"local"``: a Ray on this machine; else a cluster address; :mod:`.ray_jobs`).
    """
    cfg = cfg or SimulationConfig()
    out = Path(out)
    data = h36m.Human36M(h36m_root) if h36m_root is not None else None
    if data is None and calibration is None:
        raise ValueError("pass a Human3.6M root or a Pose2Sim calibration TOML (calibration=...)")
    if data is None and not subjects:
        raise ValueError("a calibrated capture needs subjects=[...] (the folder names under the detections)")
    params = _parameters(cfg, h36m_root, detections, calibration)
    plans = [_plan_subject(s, data, detections, calibration, params, out, overwrite) for s in subjects or data.subjects()]
    results: dict[str, dict] = {}
    with _JobRunner(workers, progress, ray_address) as runner:
        triangulated = runner.submit(_triangulate_job, _triangulate_jobs(plans[0], data, detections, cfg, params,
                                                                         out), f"{plans[0].subject} triangulate") \
            if plans else None
        for k, plan in enumerate(plans):      # subject k's IK jobs queue ahead of subject k + 1's triangulation
            jobs, done = _ik_jobs(plan.subject, triangulated(), cfg, params, out)
            solved = runner.submit(_ik_job, jobs, f"{plan.subject} IK", gpu=True)
            if k + 1 < len(plans):
                triangulated = runner.submit(_triangulate_job, _triangulate_jobs(plans[k + 1], data, detections, cfg,
                                                                                 params, out),
                                             f"{plans[k + 1].subject} triangulate")
            done.update(solved())
            results[plan.subject] = {s: done[s] for s in plan.stems if s in done}
    if write_hdf5 and any((out / "positions").glob("*/*.trc")):                   # something finished
        release.write_release_hdf5(out / "simspine.h5", release.Release(out))
    return results


def _plan_subject(subject: str, data, detections, calibration, params: dict, out: Path, overwrite: bool
                  ) -> _SubjectPlan:
    """A subject's cameras and unfinished stems, after the stale-output check (every subject is checked
    before any work starts); writes its calibration TOML."""
    cams = data.cameras(subject) if data is not None else release.read_calibration_toml(calibration)
    if len(cams) < 2:
        raise ValueError(f"{calibration or data.root}: {len(cams)} camera(s) for {subject}; triangulation "
                         "needs at least 2 calibrated cameras")
    stems = [s.stem for s in data.sequences(subject)] if data is not None else \
        _capture_sequences(Path(detections), subject, list(cams))
    same, stale = _finished(out, subject, stems, params)
    if stale and not overwrite:
        raise StaleOutputError(f"{out}: finished sequences were made with other parameters: {'; '.join(stale)}. "
                               "Use a new --out folder, or pass --overwrite (overwrite=True) to redo them")
    if stale:
        _clear_subject(out, subject, stems)
        same = set()
    if not same:                       # nothing kept: a model left by an unfinished run is made again
        (out / "models" / f"{subject}.osim").unlink(missing_ok=True)
    release.write_calibration_toml(out / "cameras" / f"Calib_{subject}.toml", cams)
    return _SubjectPlan(subject, cams, [s for s in stems if s not in same])


def summary(results: dict) -> tuple[str, int]:
    """{subject: {stem: qc dict}} from :func:`simulate_capture` -> (one line per sequence, number of usable ones)."""
    lines, usable = [], 0
    for subject, seqs in results.items():
        for stem, rep in seqs.items():
            if rep.get("status", "ok") != "ok":
                lines.append(f"{subject} {stem}: REJECTED ({rep['frames']} frames): {rep['reason']}")
                continue
            usable += 1
            lines.append(f"{subject} {stem}: {rep['frames']} frames, rejected {rep['rejected']} "
                         f"({rep.get('rejected_evidence', 0)} too little spine evidence, "
                         f"{rep.get('rejected_curvature', 0)} implausible curvature; {rep['left_nan']} left NaN), "
                         f"IK marker RMS {rep['marker_rms_mm']:.1f} mm (max {rep['marker_max_rms_mm']:.1f})")
    return "\n".join(lines), usable
