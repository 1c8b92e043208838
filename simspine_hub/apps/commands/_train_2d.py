"""`simspine train 2d`: fine-tune a 2D spine detector (SpinePose-s/m/l, RTMPose-m, HRNet-w32, ViTPose-b) on
SpineTrack-format files + a share of SIMSPINE with the paper's recipe (Sec. 4.1, Supplementary A), evaluated for
Table 2 and written as a hub model folder (see :mod:`simspine_hub.training.trainer2d`).

Several GPUs: ``accelerate launch -m simspine_hub.apps.cli train 2d ...`` (or ``torchrun``); one GPU or the CPU:
``simspine train 2d ...``."""

from __future__ import annotations

import argparse
from pathlib import Path

from simspine_hub.apps.commands._recipe_args import add_common_arguments, data_roots, training_overrides

NAME = "2d"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="fine-tune a 2D detector (Table 2) with the three-stage curriculum and mixup",
                       description=__doc__.splitlines()[0])
    p.add_argument("--model", default="spinepose-m",
                   help="spinepose-s|m|l, rtmpose-m, hrnet-w32, vitpose-b (recipe <model>-2d.yaml) or a recipe .yaml")
    p.add_argument("--init", type=Path, help="converted checkpoint folder to start from (default: random weights)")
    add_common_arguments(p, h36m_help="Human3.6M root (SIMSPINE views: videos, cameras)",
                         out_help="output folder: model, card, results, log, checkpoints",
                         epochs_help="override the recipe's epochs (10)")
    p.add_argument("--simspine-images", type=Path,
                   help="pre-extracted SIMSPINE frames (default: decode the needed frames from the videos)")
    p.add_argument("--image-naming", choices=("simspine", "mmpose"),
                   help="naming of --simspine-images (recipe: simspine)")
    p.add_argument("--simspine-fraction", type=float,
                   help="share of the SIMSPINE train split (recipe: 0.02, the paper's)")
    p.add_argument("--spinetrack", action="append", default=[], type=Path, metavar="ANN.json",
                   help="SpineTrack-format 37-keypoint COCO training file (repeatable)")
    p.add_argument("--spinetrack-images", action="append", default=[], type=Path, metavar="DIR",
                   help="image folder of each --spinetrack file (one for all, or one per file)")
    p.add_argument("--spinetrack-val", type=Path, help="val file for AP/AR on the body and spine subsets")
    p.add_argument("--spinetrack-val-images", type=Path, help="image folder of --spinetrack-val")
    p.add_argument("--mixing", choices=("batch", "epoch"), help="per-batch mixup (recipe) or per-epoch alternation")
    p.add_argument("--source-ratio", type=float, nargs="+", help="samples per batch by source (recipe: 1 1)")
    p.add_argument("--workers", type=int, help="data-loader worker processes (recipe: 4)")
    p.add_argument("--eval-stride", type=int, help="evaluate every N-th SIMSPINE test frame (recipe: 5)")
    p.add_argument("--no-ema", action="store_true", help="train without the EMA of the weights")
    p.add_argument("--preview", action="store_true", help="write preview.png: augmented samples of each stage")
    p.add_argument("--eval-before", action="store_true",
                   help="also evaluate the initial weights (Table 2's pretrain row)")
    return p


def overrides_from(args: argparse.Namespace) -> dict[str, dict]:
    """Recipe overrides ({section: {key: value}}) from the flags that were given."""
    training = training_overrides(args, dataloader_num_workers=args.workers)
    data = {"simspine_fraction": args.simspine_fraction, "mixing": args.mixing, "source_ratio": args.source_ratio,
            "image_naming": args.image_naming, "eval_frame_stride": args.eval_stride}
    out = {"training": training, "data": data, "model": {"ema_momentum": 0.0 if args.no_ema else None}}
    return {s: {k: v for k, v in d.items() if v is not None} for s, d in out.items()}


def run(args: argparse.Namespace) -> int:
    from simspine_hub.training.card2d import table2_markdown
    from simspine_hub.training.trainer2d import train_2d

    h36m_root, annotations = data_roots(args)
    run_ = train_2d(args.model, out=args.out, h36m_root=h36m_root, annotations=annotations,
                    spinetrack=args.spinetrack, spinetrack_images=args.spinetrack_images,
                    spinetrack_val=args.spinetrack_val, spinetrack_val_images=args.spinetrack_val_images,
                    init=args.init, simspine_images=args.simspine_images, max_steps=args.max_steps,
                    resume=args.resume, overrides=overrides_from(args), cache_dir=args.cache_dir,
                    model_name=args.model_name, preview=args.preview, eval_before=args.eval_before,
                    progress=not args.quiet)
    if run_ is None:                   # a non-main process of a multi-GPU run
        return 0
    rows = ([("before fine-tuning", run_.before.get("coco"), run_.before.get("simspine"))] if run_.before else [])
    rows.append((args.model_name or "fine-tuned", run_.coco, run_.result))
    data = run_.result["data"] if run_.result else "no SIMSPINE"
    print(table2_markdown(rows, run_.coco["dataset"] if run_.coco else "no val file", f"{data} test views"))
    print(f"training: {run_.crops_per_second:.1f} crops/s; model folder: {run_.out} (README.md, results.json, "
          "recipe.yaml, training_log.csv, loss_curve.png)")
    return 0
