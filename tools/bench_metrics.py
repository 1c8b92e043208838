"""Benchmark: MPJPE + P-MPJPE + PCK-AUC on a 0.58 M-frame, 37-joint synthetic prediction set (CPU).

    python tools/bench_metrics.py [--frames 580000] [--loop-frames 20000] [--smoke]

The anchor is a per-frame Python loop (scipy.linalg.orthogonal_procrustes per frame, like most
evaluation scripts), timed on ``--loop-frames`` frames in the same run and scaled to the full set.
Goal: the vectorised evaluation under 10 s. ``--smoke``: 4,000 frames, 1,000 in the loop (a few seconds; CI).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.linalg import orthogonal_procrustes

from simspine_hub.benchmark import metrics


def per_frame_loop(pred, target, boxes_short):
    mp, pa, pck = [], [], []
    thr = metrics.AUC_THRESHOLDS
    for p, t, s in zip(pred, target, boxes_short):
        mp.append(np.linalg.norm(p - t, axis=-1).mean())
        p0, t0 = p - p.mean(0), t - t.mean(0)
        R, sc = orthogonal_procrustes(p0, t0)
        a = sc / (p0 ** 2).sum() * p0 @ R + t.mean(0)
        pa.append(np.linalg.norm(a - t, axis=-1).mean())
        d = np.linalg.norm(p[:, :2] - t[:, :2], axis=-1) / s
        pck.append([(d <= x).mean() for x in thr])
    return np.mean(mp), np.mean(pa), np.mean(pck)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=580_000)
    ap.add_argument("--loop-frames", type=int, default=20_000)
    ap.add_argument("--smoke", action="store_true", help="tiny run (4,000 frames) that only checks the bench works")
    args = ap.parse_args(argv)
    if args.smoke:
        args.frames, args.loop_frames = 4_000, 1_000
    rng = np.random.default_rng(0)
    target = rng.normal(scale=300, size=(args.frames, 37, 3)).astype(np.float64)
    pred = target + rng.normal(scale=30, size=target.shape)
    short = rng.uniform(300, 600, size=args.frames)

    t = time.perf_counter()
    m = metrics.mpjpe(pred, target)
    pa = metrics.p_mpjpe_errors(pred, target).mean()
    auc, _ = metrics.pck_auc(pred[..., :2], target[..., :2], short)
    fast = time.perf_counter() - t

    n = min(args.loop_frames, args.frames)
    t = time.perf_counter()
    lm, lpa, lauc = per_frame_loop(pred[:n], target[:n], short[:n])
    slow = (time.perf_counter() - t) * args.frames / n
    check = (abs(metrics.mpjpe(pred[:n], target[:n]) - lm) + abs(metrics.p_mpjpe_errors(pred[:n], target[:n]).mean() - lpa)
             + abs(metrics.pck_auc(pred[:n, :, :2], target[:n, :, :2], short[:n])[0] - lauc))
    print(f"frames: {args.frames:,} x 37 joints   MPJPE {m:.3f} mm, P-MPJPE {pa:.3f} mm, AUC {auc:.4f}")
    print(f"vectorised: {fast:.2f} s   per-frame loop (anchor, {n:,} frames scaled up): {slow:.1f} s   "
          f"ratio {slow / fast:.1f}x   (goal: < 10 s)   |difference on the anchor's frames| {check:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
