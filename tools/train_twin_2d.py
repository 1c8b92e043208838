"""2D fine-tuning on the synthetic twin, in one command: SpinePose-s trained on S1 frames and evaluated on S9
frames, AUC (and AP/AR on a twin COCO stand-in for SpineTrack) before and after, loss curve, crops per second.
**Every number is a twin result**, never a SIMSPINE, Human3.6M or SpineTrack one.

    python tools/train_twin_2d.py [--out outputs/train_twin_2d] [--steps 300] [--input-size 128 96] [--threads 1]

1. A twin of S1, S5, S9 with videos (the people rendered as shaded body volumes, no keypoint dots), all seven
   motions, ``--seconds`` per sequence (``simspine twin``).
2. The "SpineTrack" stand-ins: twin COCO files (``simspine_hub.twin.coco``) of S5 frames (training, the second
   source of the per-batch mixup) and of S9 frames (val, for AP/AR body / spine).
3. ``simspine train 2d --model spinepose-s`` (random initial weights: no pretrained weights exist here), SIMSPINE
   source = the S1 views (``--simspine-fraction`` of them; the paper's 2 % of a twin this small would be a handful of
   frames), test = the S9 views; ``--steps`` optimizer steps of ``--batch-size`` crops (half per source) at
   ``--input-size`` (smaller than the released 256x192 so that it runs in minutes on two shared CPU cores),
   the recipe otherwise unchanged (curriculum switching at 33 % / 67 % of the run's epochs).
4. ``report.md`` and ``summary.json`` (sizes, runtimes, Table 2 layout before / after, crops/s), the run's folder
   under ``model/`` (``loss_curve.png``, ``preview.png``, the model card).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from simspine_hub.io.files import write_text
from simspine_hub.training.card2d import table2_markdown
from simspine_hub.training.trainer2d import train_2d
from simspine_hub.twin.coco import write_twin_coco
from simspine_hub.twin.generator import TwinConfig, ensure_twin


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/train_twin_2d"))
    ap.add_argument("--seconds", type=float, default=1.0, help="twin seconds per sequence")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--input-size", type=int, nargs=2, default=(128, 96), metavar=("H", "W"))
    ap.add_argument("--simspine-fraction", type=float, default=0.25)
    ap.add_argument("--coco-stride", type=int, default=5, help="every n-th twin video frame in the COCO stand-ins")
    ap.add_argument("--eval-stride", type=int, default=5, help="every n-th S9 frame for the AUC")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids spin-waiting on shared cores)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    twin = ensure_twin(args.out / "twin", TwinConfig(subjects=("S1", "S5", "S9"), seconds=args.seconds, videos=True))
    t_twin = time.perf_counter() - t0
    coco = {name: write_twin_coco(twin, args.out / f"coco_{name}", subjects, stride=args.coco_stride)
            for name, subjects in (("train", ("S5",)), ("val", ("S9",)))}
    overrides = {"data": {"simspine_fraction": args.simspine_fraction, "train_subjects": ["S1"],
                          "test_subjects": ["S9"], "eval_frame_stride": args.eval_stride},
                 "training": {"per_device_train_batch_size": args.batch_size, "dataloader_num_workers": args.workers,
                              "report_to": [], "save_strategy": "no", "logging_steps": 5}}
    t1 = time.perf_counter()
    run = train_2d("spinepose-s", out=args.out / "model", h36m_root=twin / "h36m", annotations=twin / "simspine",
                   spinetrack=[coco["train"]], spinetrack_images=[coco["train"].parent / "images"],
                   spinetrack_val=coco["val"], spinetrack_val_images=coco["val"].parent / "images",
                   max_steps=args.steps,
                   overrides=overrides, arch_overrides={"input_size": tuple(args.input_size)},
                   cache_dir=args.out / "hf_cache", model_name="SpinePose-s-ft (twin)", preview=True, eval_before=True)
    t_run = time.perf_counter() - t1
    losses = [r["loss"] for r in run.log_history if "loss" in r]
    summary = {
        "data": "twin", "initial weights": "random (no pretrained weights here)",
        "input size (H, W)": list(args.input_size), "steps": args.steps, "batch": args.batch_size,
        "sources": run.sources, "torch threads": args.threads,
        "AUC before": run.before["simspine"]["AUC"], "AUC after": run.result["AUC"],
        "coco before": {k: run.before["coco"][k] for k in ("AP_B", "AR_B", "AP_S", "AR_S")},
        "coco after": {k: run.coco[k] for k in ("AP_B", "AR_B", "AP_S", "AR_S")},
        "loss first 5 logs": losses[:5], "loss last 5 logs": losses[-5:],
        "training crops/s": run.crops_per_second, "twin generation s": round(t_twin, 1),
        "train + evaluate s": round(t_run, 1)}
    write_text(args.out / "summary.json", json.dumps(summary, indent=2, default=float))
    table = table2_markdown([("SpinePose-s, random init (before)", run.before["coco"], run.before["simspine"]),
                             ("SpinePose-s-ft (after)", run.coco, run.result)],
                            run.coco["dataset"], "twin S9 test views")
    report = f"""# 2D fine-tuning on the twin (twin results)

SpinePose-s, random initial weights, trained on twin S1 views ({run.sources[0]['rows']} crops' worth of rows,
{args.simspine_fraction:.0%} of S1) mixed per batch with a twin COCO stand-in for SpineTrack (S5 frames,
{run.sources[1]['rows']} persons); {args.steps} steps of {args.batch_size} crops at
{args.input_size[0]}x{args.input_size[1]}, recipe `spinepose-s-2d` otherwise. Evaluated on twin S9 (AUC: every
{args.eval_stride}th frame, 4 cameras; AP/AR: twin COCO of S9, every {args.coco_stride}th frame). **All numbers are twin results.**

{table}

Training throughput: {run.crops_per_second:.1f} crops/s ({args.threads} torch thread(s), {args.workers} loader
worker(s), 2 shared CPU cores). Loss: {losses[0]:.3g} (first log) -> {losses[-1]:.3g} (last log).
Twin generation {t_twin:.0f} s; training + evaluation {t_run:.0f} s.

Loss curve: `model/loss_curve.png`; augmentation preview: `model/preview.png`; card: `model/README.md`.
"""
    write_text(args.out / "report.md", report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
