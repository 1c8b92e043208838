"""Benchmark: our batched weighted DLT against Pose2Sim's own ``weighted_triangulation`` on identical input.

    python tools/bench_triangulation.py [--frames 2000] [--skip-ik] [--smoke]

Both solve the same system: pinhole projection matrices ``K [R | t]``, noisy pixels, random weights.
Ours solves it in a world scaled by the mean camera-centre distance (which makes it independent of the
length unit), so Pose2Sim's function is given those same scaled matrices (``conditioning=False`` on our
side: no row equilibration, as Pose2Sim). Ours runs on all frames and joints at once, with the compiled
numba kernel (QR + inverse iteration per point, Jacobi SVD fallback; median of 5 runs) and, for reference,
the numpy batched-SVD backend. Prints frames/s of both, the ratio (goal >= 100x), the largest difference
of the 3D results on the same system (goal < 1e-6 mm), and, for information, how far Pose2Sim's function
lands when given the cameras in mm or in m instead (its raw system depends on the unit).
Also times OpenSim IK on the synthetic twin with 1 and 2 worker processes (not with --smoke / --skip-ik).
``--smoke``: 50 frames, no IK (seconds). Needs the pose2sim wheel's Python deps for its ``common``
module: rtoml, c3d, anytree (dev extras).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from simspine_hub.geometry import project
from simspine_hub.io.h36m import builtin_cameras
from simspine_hub.simulation.triangulation import triangulate_dlt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--skip-ik", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="50 frames, no IK: checks that the benchmark runs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.frames, args.skip_ik = 50, True
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from Pose2Sim.common import weighted_triangulation  # noqa: E402  (pose2sim installed --no-deps)

    cams = list(builtin_cameras("S9").values())
    rng = np.random.default_rng(0)
    X = rng.normal(scale=400, size=(args.frames, 37, 3)) + [0, 0, 900]
    uv = np.stack([project(X, c, distortion=False) for c in cams]) + rng.normal(scale=2.0, size=(4, args.frames, 37, 2))
    w = rng.uniform(0.3, 1.0, size=uv.shape[:-1])

    triangulate_dlt(uv[:, :2], cams, w[:, :2], distortion=False, conditioning=False)   # compile / warm up
    runs = []
    for _ in range(5):                                  # median of 5 runs (one run is ~20 ms)
        t = time.perf_counter()
        ours = triangulate_dlt(uv, cams, w, distortion=False, conditioning=False)
        runs.append(time.perf_counter() - t)
    t_ours = float(np.median(runs))
    t = time.perf_counter()
    triangulate_dlt(uv, cams, w, distortion=False, conditioning=False, backend="numpy")
    t_numpy = time.perf_counter() - t

    unit = float(np.mean([np.linalg.norm(c.center) for c in cams]))   # the world scale our DLT solves in
    n_ref = min(args.frames, 300)

    def pose2sim(P, scale):
        return np.array([[weighted_triangulation(P, uv[:, f, j, 0], uv[:, f, j, 1], w[:, f, j])[:3]
                          for j in range(37)] for f in range(n_ref)]) * scale

    t = time.perf_counter()
    ref = pose2sim([c.scaled(1.0 / unit).P for c in cams], unit)
    t_ref = (time.perf_counter() - t) * args.frames / n_ref
    diff = np.abs(ours[:n_ref] - ref).max()
    diff_mm = np.linalg.norm(ours[:n_ref] - pose2sim([c.P for c in cams], 1.0), axis=-1).max()
    diff_m = np.linalg.norm(ours[:n_ref] - pose2sim([c.scaled(1e-3).P for c in cams], 1e3), axis=-1).max()
    print(f"triangulation, 4 views x 37 joints, {args.frames} frames (Pose2Sim timed on {n_ref}, scaled):")
    print(f"  simspine-hub batched DLT: {args.frames / t_ours:,.0f} frames/s   Pose2Sim weighted_triangulation: "
          f"{args.frames / t_ref:,.0f} frames/s   ratio {t_ref / t_ours:.0f}x (goal >= 100x)")
    print(f"  (numpy-only backend: {args.frames / t_numpy:,.0f} frames/s)")
    print(f"  max |difference| on the same system {diff:.2e} mm (goal < 1e-6 mm); mean error vs truth "
          f"{np.linalg.norm(ours - X, axis=-1).mean():.2f} mm")
    print(f"  for information, Pose2Sim given the cameras in mm / in m (its raw system depends on the unit): "
          f"up to {diff_mm:.2f} / {diff_m:.2f} mm from ours")

    if not args.skip_ik:
        from simspine_hub.simulation.pipeline import simulate_capture
        from simspine_hub.twin.generator import TwinConfig, generate_twin, write_detections

        with tempfile.TemporaryDirectory(dir=os.environ.get("SIMSPINE_BENCH_TMP")) as tmp:
            twin = generate_twin(Path(tmp) / "twin", TwinConfig(subjects=("S9",), seconds=2.0, videos=False), progress=False)
            write_detections(twin)
            frames = 7 * 100
            for workers in (1, 2):
                t = time.perf_counter()
                simulate_capture(twin / "h36m", twin / "detections", Path(tmp) / f"sim{workers}", ["S9"],
                                 workers=workers, progress=False, write_hdf5=False)
                dt = time.perf_counter() - t
                print(f"  whole pipeline incl. OpenSim IK, {workers} worker(s): {frames / dt:.1f} frames/s ({frames} frames, {dt:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
