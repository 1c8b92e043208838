"""Benchmark: `simspine analyze` on a full-size release (2.14 M frames, the size of SIMSPINE), goal < 2 min on 2 cores.

    python tools/bench_analysis.py                        # full size: a twin's sequences tiled to 2.14 M frames
    python tools/bench_analysis.py --frames 500000        # another size
    python tools/bench_analysis.py --twin T               # tile an existing twin (e.g. made by `simspine twin`)
    python tools/bench_analysis.py --smoke                # tiny (< 30 s; CI runs this)

The input is built first (not timed): a twin (7 subjects x 7 motions, no videos) whose sequences are tiled in
time until the HDF5 release holds ``--frames`` frames, gzip-compressed like the release writer's. Then the
whole analysis is timed end to end (read, curvature, ROM, densities, tables, figures, report.md/html).

Anchor, measured in the same run: the same library path called one frame at a time (forward kinematics,
marker proxies, Cobb angle, body frame, density accumulation per frame) on a few hundred frames; the ratio
is its time per frame over the vectorised study's (reading included on our side). Timings are twin results.
Temporary files go to ``$SIMSPINE_BENCH_TMP`` when set (else a temporary folder), removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from simspine_hub.analysis import curvature
from simspine_hub.analysis.density import UPPER_BODY, DensityMaps, heading_frame, to_body_frame
from simspine_hub.analysis.report import write_report
from simspine_hub.analysis.study import run_study
from simspine_hub.io import release
from simspine_hub.osim.model import SpineModel

FULL_SIZE = 2_140_000


def tile_release(src_h5: Path, dst_h5: Path, frames: int) -> int:
    """Copy ``src_h5`` with every sequence tiled in time so that all sequences hold ``frames`` together."""
    import h5py

    shutil.copy(src_h5, dst_h5)
    with h5py.File(dst_h5, "a") as f:
        seqs = [(s, a) for s in f if s != "metadata" for a in f[s] if a != "calibration"]
        per_seq = -(-frames // len(seqs))
        total = 0
        for s, a in seqs:
            g = f[s][a]
            for key in ("markers", "kinematics", "timestamps"):
                data = g[key][()]
                reps = -(-per_seq // len(data))
                tiled = np.concatenate([data] * reps)[:per_seq]
                if key == "timestamps":
                    tiled = np.arange(per_seq) / 50.0
                del g[key]
                g.create_dataset(key, data=tiled, compression="gzip" if key != "timestamps" else None)
            total += per_seq
    return total


def per_frame_anchor(h5: Path, n_frames: int) -> float:
    """Seconds per frame of the study's per-sequence computation called one frame at a time."""
    rel = release.open_release(h5)
    subject = rel.subjects()[0]
    seq = rel.read(subject, rel.sequences(subject)[0])
    model = SpineModel(rel.model_path(subject))
    ids = list(seq.keypoints)
    pos = {k: i for i, k in enumerate(ids)}
    upper = [k for k in UPPER_BODY if k in pos]
    dens = DensityMaps()
    n = min(n_frames, len(seq.markers))
    t = time.perf_counter()
    for i in range(n):
        kin, markers = seq.kinematics[i:i + 1], seq.markers[i:i + 1]
        rot = curvature.segment_orientations(model, kin)
        right, forward = curvature.pelvis_axes(rot["pelvis"])
        curvature.marker_proxies(markers, ids, right)
        curvature.cobb_lla(rot["sacrum"], rot["lumbar1"])
        body = to_body_frame(markers[:, [pos[k] for k in upper]], markers[:, pos[19]], heading_frame(right, forward))
        dens.add("anchor", body, upper)
    return (time.perf_counter() - t) / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=FULL_SIZE, help="frames of the tiled release (default 2.14 M)")
    p.add_argument("--twin", type=Path, help="twin root to tile (default: one made now)")
    p.add_argument("--anchor-frames", type=int, default=300)
    p.add_argument("--smoke", action="store_true", help="tiny twin, 20 000 frames (< 30 s)")
    args = p.parse_args(argv)
    if args.smoke:
        args.frames, args.anchor_frames = 20_000, 50
    base = os.environ.get("SIMSPINE_BENCH_TMP")
    with tempfile.TemporaryDirectory(prefix="bench_analysis_", dir=base) as tmp:
        return _run(args, Path(tmp))


def _run(args, tmp: Path) -> int:
    if args.twin is None:
        from simspine_hub.twin.generator import SUBJECT_BODIES, TwinConfig, generate_twin

        cfg = TwinConfig(subjects=("S9",), motions=("walking", "forward_bending"), seconds=0.5, videos=False) \
            if args.smoke else TwinConfig(subjects=tuple(SUBJECT_BODIES), seconds=4.0, videos=False)
        args.twin = generate_twin(tmp / "twin", cfg, progress=False)
    big = args.twin / f"bench_{args.frames}.h5"                  # beside the twin: its model paths stay valid
    try:
        t = time.perf_counter()
        frames = tile_release(args.twin / "simspine.h5", big, args.frames)
        print(f"input: {big.name}, {frames:,} frames (twin sequences tiled; built in {time.perf_counter() - t:.1f} s)")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        t0, c0 = time.perf_counter(), time.process_time()
        study = run_study(big, label="twin (tiled)", progress=False)
        t1, c1 = time.perf_counter(), time.process_time()
        write_report(study, tmp / "report")
        t2, c2 = time.perf_counter(), time.process_time()
        anchor = per_frame_anchor(big, args.anchor_frames)
    finally:
        big.unlink(missing_ok=True)
    ours = (t1 - t0) / frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"analysis of {frames:,} frames on {cores} cores (twin results): read + compute {t1 - t0:.1f} s, "
          f"tables + figures + report {t2 - t1:.1f} s, total {t2 - t0:.1f} s wall (goal < 120 s at 2.14 M); "
          f"CPU time of this process {c2 - c0:.1f} s (read + compute {c1 - c0:.1f} s); load average {load:.1f} "
          f"(wall time exceeds CPU time when other work shares the cores); peak RSS {peak:,.0f} MiB")
    print(f"per-frame loop anchor: {1e3 * anchor:.2f} ms/frame ({anchor * frames:,.0f} s extrapolated); "
          f"vectorised {1e6 * ours:.1f} us/frame: {anchor / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
