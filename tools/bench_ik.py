"""Benchmark: batched IK (simspine_hub.osim.ik) against OpenSim 4.6's InverseKinematicsTool on the same markers.

    python tools/bench_ik.py [--seconds 8] [--opensim-frames 300] [--threads 2] [--skip-pipeline] [--smoke]

Markers: a synthetic twin (subject S9, every motion, ``--seconds`` each; twin results), merged as the
pipeline merges them, with 5 mm Gaussian noise on the triangulated markers (the Human3.6M limb markers stay
exact). Both backends get the same markers, weights and scaled model.

* OpenSim: ``--opensim-frames`` frames split over ``--threads`` worker processes (one IK tool each, model
  loading included, as the pipeline calls it), wall-clock frames/s.
* batched: every frame of every sequence, the sequences dealt over ``--threads`` processes (one call each,
  after a warm-up call), wall clock of the slowest; lambda = 0 (per-frame IK) and lambda = 1 (the joint
  temporal solve). On a GPU, when torch sees one, the same on CUDA in one process.
* both also as frames per CPU-second (the processes' own CPU time), which the load of a shared machine
  leaves alone.
* parity on the OpenSim frames (lambda = 0): share of frames where our weighted marker cost is <= OpenSim's
  x (1 + 1e-6), the worst ratio, and coordinate RMS differences, then our solver started from OpenSim's
  solution (does it stay there? where it moves on, OpenSim's point was not a minimum); lambda = 1: the full objective of the
  joint solve against today's two-stage approximation (OpenSim IK + ``smooth_coordinates``).
* whole pipeline (not with ``--skip-pipeline``): ``simulate_capture`` frames/s with ``ik="opensim"`` and
  ``ik="batched"`` on the twin's simulated detections (``--pipeline-seconds`` per sequence).

``--smoke``: a tiny twin (2 sequences), 8 OpenSim frames in one process, no pipeline; checks that the
benchmark runs.
Set SIMSPINE_BENCH_TMP to keep the twin between runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.simulation import kinematics as kin
from simspine_hub.units import zup_mm_to_yup_m

NOISE_MM = 5.0


def _twin(root: Path, seconds: float, motions=None) -> Path:
    from simspine_hub.twin.generator import MOTIONS, TwinConfig, generate_twin

    cfg = TwinConfig(subjects=("S9",), motions=tuple(motions or MOTIONS), seconds=seconds, videos=False, seed=11)
    out = root / f"twin_{seconds:g}s_{len(cfg.motions)}m"
    if not (out / "twin.json").is_file():
        generate_twin(out, cfg, progress=False)
    return out


def _markers(twin: Path) -> list[np.ndarray]:
    from simspine_hub.twin.generator import load_ground_truth

    rng = np.random.default_rng(0)
    tri = [i for i, n in enumerate(kin.IK_MARKERS) if n not in kin.H36M_IK_SOURCES]
    out = []
    for _, g in sorted(load_ground_truth(twin).items()):
        m, _ = kin.merge_markers(g["keypoints37"], g["h36m32"])
        m[:, tri] += rng.normal(scale=NOISE_MM, size=m[:, tri].shape)
        out.append(m)
    return out


def _opensim_chunk(args):
    model_path, markers = args
    return kin.inverse_kinematics(model_path, markers, list(kin.IK_MARKERS), 50.0)[0]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _opensim(model_path: str, frames: np.ndarray, threads: int) -> tuple[np.ndarray, float, float]:
    """OpenSim IK of ``frames`` split over ``threads`` processes -> q, wall s, CPU s (the workers' own)."""
    chunks = np.array_split(frames, threads)
    t, c = time.perf_counter(), _children_cpu()
    with ProcessPoolExecutor(threads, mp_context=get_context("spawn")) as ex:
        q = np.concatenate(list(ex.map(_opensim_chunk, [(model_path, c) for c in chunks])))
    return q, time.perf_counter() - t, _children_cpu() - c


def _batched_worker(args) -> tuple[int, float, float]:
    model_path, runs, lam, device = args
    kin.inverse_kinematics_batched(model_path, [runs[0][:40]], list(kin.IK_MARKERS), lam=lam,
                                   device=device)                               # warm-up: kernel, caches
    t, c = time.perf_counter(), time.process_time()
    kin.inverse_kinematics_batched(model_path, runs, list(kin.IK_MARKERS), lam=lam, device=device)
    return sum(len(r) for r in runs), time.perf_counter() - t, time.process_time() - c


def _batched(model_path: str, runs: list[np.ndarray], lam: float, device: str, procs: int) -> tuple[float, float]:
    """Batched IK of all ``runs``, their sequences dealt over ``procs`` processes (one call each, after a
    warm-up) -> (wall s of the slowest process, CPU s of all)."""
    if procs == 1 or device != "cpu":
        _, wall, cpu = _batched_worker((model_path, runs, lam, device))
        return wall, cpu
    shares = [runs[k::procs] for k in range(procs)]
    with ProcessPoolExecutor(procs, mp_context=get_context("spawn")) as ex:
        res = list(ex.map(_batched_worker, [(model_path, sh, lam, device) for sh in shares]))
    return max(r[1] for r in res), sum(r[2] for r in res)


def _parity(model_path: str, frames: np.ndarray, q_os: np.ndarray) -> None:
    from simspine_hub.osim.ik import BatchedIK
    from simspine_hub.osim.model import SpineModel

    model = SpineModel(model_path)
    w = np.array([kin.IK_WEIGHTS[n] for n in kin.IK_MARKERS])
    ik = BatchedIK(model.tree, kin.IK_MARKERS, w)
    Z = zup_mm_to_yup_m(frames)
    q_os = model.apply_couplers(q_os)
    (q_b, _), = kin.inverse_kinematics_batched(model_path, [frames], list(kin.IK_MARKERS))
    _, ours = ik.objective(q_b, Z)
    _, theirs = ik.objective(q_os, Z)
    ratio = ours / theirs
    worse = np.flatnonzero(ratio > 1 + 1e-6)
    print(f"  parity (lambda 0, {len(frames)} frames): our cost <= OpenSim's x (1 + 1e-6) on "
          f"{100 * (1 - len(worse) / len(frames)):.1f} % of frames; worst ratio {ratio.max():.6f}, median "
          f"{np.median(ratio):.4f} (< 1: OpenSim stopped above the minimum, accuracy 1e-5)")
    if len(worse):
        print(f"    frames where ours is higher: {worse.tolist()[:20]} (see the warm start below)")
    d = np.degrees(q_b - q_os)
    d = np.sqrt((((d + 180) % 360 - 180) ** 2).mean(0))
    rot = skeleton.ROTATIONAL
    lumbar = [i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a.startswith(("L1_", "L2_", "L3_", "L4_", "L5_"))]
    print(f"  coordinates vs OpenSim, RMS deg: lumbar max {d[lumbar].max():.3f}; rotational within 0.1 deg: "
          f"{int((d[rot] <= 0.1).sum())}/{int(rot.sum())}; largest: "
          + ", ".join(f"{skeleton.KINEMATIC_AXES[i]} {d[i]:.2f}" for i in np.argsort(-np.where(rot, d, 0))[:4])
          + " (why: next line)")
    # why: start our solver from OpenSim's own solution; if that were a minimum, it would stay there
    warm, = ik.solve([Z], lam=0.0, q_init=[q_os], max_iter=200)
    q_w = model.apply_couplers(warm.q)
    _, cost_w = ik.objective(q_w, Z)
    d_w = np.degrees(q_w - q_os)
    d_w = np.sqrt((((d_w + 180) % 360 - 180) ** 2).mean(0))
    d_wb = np.degrees(q_w - q_b)
    d_wb = np.sqrt((((d_wb + 180) % 360 - 180) ** 2).mean(0))
    print(f"  started from OpenSim's solution, our solver moves on: cost {np.median(cost_w / theirs):.4f} x OpenSim's "
          f"(median; {np.median(cost_w / ours):.7f} x our cold-start cost), coordinates within 0.1 deg of OpenSim's "
          f"{int((d_w[rot] <= 0.1).sum())}/{int(rot.sum())} (largest move: "
          + ", ".join(f"{skeleton.KINEMATIC_AXES[i]} {d_w[i]:.1f}" for i in np.argsort(-np.where(rot, d_w, 0))[:3])
          + f"), within 0.1 deg of our cold start {int((d_wb[rot] <= 0.1).sum())}/{int(rot.sum())}: OpenSim's "
          "points are not minima (it stops early where the valley is shallow); what stays apart is a flat valley "
          "(equal cost)")
    for lam in (1.0,):
        (q_j, _), = kin.inverse_kinematics_batched(model_path, [frames], list(kin.IK_MARKERS), lam=lam)
        F_j, _ = ik.objective(q_j, Z, lam)
        F_2, _ = ik.objective(model.apply_couplers(kin.smooth_coordinates(q_os, lam)), Z, lam)
        print(f"  lambda {lam:g}: full objective, joint solve {F_j:.6f} vs two-stage (OpenSim + smoothing) {F_2:.6f} "
              f"({F_2 / F_j:.2f}x lower)")


def _pipeline(root: Path, seconds: float, threads: int) -> None:
    from simspine_hub.simulation.pipeline import SimulationConfig, simulate_capture
    from simspine_hub.twin.generator import write_detections

    twin = _twin(root, seconds, motions=("walking", "forward_bending", "arm_raising"))
    if not (twin / "detections").is_dir():
        write_detections(twin)
    rates = {}
    for ik in ("opensim", "batched"):
        out = root / f"sim_{ik}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        res = simulate_capture(twin / "h36m", twin / "detections", out, ["S9"], SimulationConfig(ik=ik),
                               workers=threads, progress=False, write_hdf5=False)
        rates[ik] = sum(r["frames"] for r in res["S9"].values()) / (time.perf_counter() - t)
    print(f"whole pipeline (twin S9, 3 sequences x {seconds:g} s, {threads} workers): OpenSim IK "
          f"{rates['opensim']:.1f} frames/s, batched {rates['batched']:.1f} frames/s "
          f"({rates['batched'] / rates['opensim']:.1f}x)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="twin sequence length (7 sequences)")
    ap.add_argument("--opensim-frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--pipeline-seconds", type=float, default=8.0)
    ap.add_argument("--smoke", action="store_true", help="tiny run that checks the benchmark works")
    args = ap.parse_args(argv)
    motions = None
    if args.smoke:
        args.seconds, args.opensim_frames, args.skip_pipeline, motions = 0.4, 8, True, ("walking", "arm_raising")
    import torch

    keep = os.environ.get("SIMSPINE_BENCH_TMP")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_ik_"))
    try:
        twin = _twin(root, args.seconds, motions)
        model_path = str(twin / "simspine" / "models" / "S9.osim")
        runs = _markers(twin)
        n = sum(len(r) for r in runs)
        frames = np.concatenate(runs)[:args.opensim_frames]
        procs = 1 if args.smoke else args.threads
        q_os, t_os, c_os = _opensim(model_path, frames, procs)
        fps_os, cps_os = len(frames) / t_os, len(frames) / c_os
        print(f"OpenSim 4.6 IK tool: {len(frames)} frames on {procs} processes: {fps_os:.1f} frames/s wall, "
              f"{cps_os:.2f} frames per CPU-second (twin S9, {NOISE_MM:g} mm noise on the triangulated markers; "
              "twin results)")
        for lam in (0.0, 1.0):
            t_b, c_b = _batched(model_path, runs, lam, "cpu", args.threads)
            print(f"batched IK, CPU ({args.threads} processes), lambda {lam:g}: {n} frames in {t_b:.2f} s = "
                  f"{n / t_b:.0f} frames/s wall = {n / t_b / fps_os:.1f}x OpenSim; {n / c_b:.0f} frames per "
                  f"CPU-second = {n / c_b / cps_os:.1f}x OpenSim's (the ratio a shared machine's load leaves alone)")
        if torch.cuda.is_available():
            for lam in (0.0, 1.0):
                t_g, _ = _batched(model_path, runs, lam, "cuda", 1)
                print(f"batched IK, {torch.cuda.get_device_name()}, lambda {lam:g}: {n / t_g:.0f} frames/s = "
                      f"{n / t_g / cps_os:.0f}x OpenSim's per-core rate")
        _parity(model_path, frames, q_os)
        if not args.skip_pipeline:
            _pipeline(root, args.pipeline_seconds, args.threads)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
