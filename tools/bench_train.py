"""Benchmark: lifter training throughput (rows/s = camera frames per second) of ``simspine train lifter``'s loop
(``transformers.Trainer`` through :func:`simspine_hub.training.trainer.fit`), on CPU and on CUDA when torch sees a
GPU, and the time of one epoch at 1 Hz over the full-size twin.

    python tools/bench_train.py [--steps 60] [--batch-size 256] [--smoke]

The anchor, measured in the same run on the same device, is a plain torch loop (the loop the demo used before:
index a random batch, forward with labels, backward, AdamW step, StepLR step) on the same model, data and batch
size. Both are timed over steps 2..N (the first step warms up). Data are random tensors shaped like the
full37 lifter's (37 x 2 in, 37 x 3 targets): throughput does not depend on their values.

The epoch time is computed from the measured throughput, not run: the full-size twin has the real dataset's
2.14 M frames at 50 Hz, 1.56 M of them in the train split (S1 S5 S6 S7 S8); at 1 Hz that is 31.2 k frames,
x 4 cameras = 124.8 k training rows per epoch.

2D row: training crops/s of ``simspine train 2d`` (:func:`simspine_hub.training.trainer2d.train_2d`: JPEG decoding,
the curriculum's augmentation, per-batch mixup sampler, Trainer, the SimCC loss) for SpinePose-s on a
SpineTrack-format file of synthetic 640x480 JPEGs; anchor: a plain torch loop (forward with labels, backward, AdamW
step) of the same model on one pre-made batch, so the ratio is what the data pipeline and Trainer cost.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from transformers import TrainerCallback, set_seed

import simspine_hub.models  # noqa: F401  (registers the lifter)
from simspine_hub.models import create_model
from simspine_hub.training.recipe import load_recipe
from simspine_hub.training.trainer import ArrayDataset, fit

TRAIN_FRAMES_50HZ = 1_560_000       # the real SIMSPINE train split, which the full-size twin reproduces
ROWS_PER_EPOCH_1HZ = TRAIN_FRAMES_50HZ // 50 * 4


class _Clock(TrainerCallback):
    """Times optimizer steps 2..N."""

    def __init__(self):
        self.t0 = self.t1 = None
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        if args.device.type == "cuda":
            torch.cuda.synchronize()
        if state.global_step == 1:
            self.t0 = time.perf_counter()
        self.t1, self.steps = time.perf_counter(), state.global_step - 1


def _data(rows: int, device: str):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 37, 2, generator=g) * 0.3
    y = torch.randn(rows, 37, 3, generator=g) * 200
    y[:, 19] = 0
    return x, y


def _model(x, y, device: str, hidden: int):
    set_seed(0)
    model = create_model("lifter-full37", hidden=hidden)
    model.set_statistics(x, y)
    return model.to(device)


def trainer_rate(device: str, steps: int, batch: int, hidden: int, rows: int, bf16: bool = False) -> float:
    x, y = _data(rows, device)
    model = _model(x, y, device, hidden)
    recipe = load_recipe("lifter-full37").override(
        "training", "benchmark", max_steps=steps, per_device_train_batch_size=batch, report_to=[],
        save_strategy="no", eval_strategy="no", logging_steps=10 ** 9, use_cpu=device == "cpu", bf16=bf16)
    clock = _Clock()
    with tempfile.TemporaryDirectory(dir=os.environ.get("SIMSPINE_BENCH_TMP")) as out:
        fit(model, recipe, out, ArrayDataset(keypoints_2d=x, labels=y), progress=False, callbacks=[clock])
    return clock.steps * batch / (clock.t1 - clock.t0)


def _timed_rate(step, steps: int, batch: int, device: str) -> float:
    """Samples per second of a plain loop: ``step()`` called ``steps`` times, timed over steps 2..N (the first warms
    up), ``batch`` samples a step; on CUDA synchronised at both ends of the timed span."""
    t0 = None
    for i in range(steps):
        if i == 1:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (steps - 1) * batch / (time.perf_counter() - t0)


def plain_loop_rate(device: str, steps: int, batch: int, hidden: int, rows: int) -> float:
    x, y = _data(rows, device)
    model = _model(x, y, device, hidden).train()
    x, y = x.to(device), y.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100_000, gamma=0.96)
    gen = torch.Generator(device=device).manual_seed(0)

    def step():
        b = torch.randint(0, len(x), (batch,), generator=gen, device=device)
        loss = model(keypoints_2d=x[b], labels=y[b]).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()

    return _timed_rate(step, steps, batch, device)


def _coco_file(folder: str, images: int = 24) -> tuple[str, str]:
    """A 37-keypoint COCO file of ``images`` random 640x480 JPEGs, one person each -> (file, image folder)."""
    import cv2
    import numpy as np

    from simspine_hub.io.coco import write_coco_keypoints

    rng = np.random.default_rng(0)
    names = []
    for i in range(images):
        names.append(f"img_{i:03d}.jpg")
        cv2.imwrite(os.path.join(folder, names[-1]), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    boxes = np.tile([200.0, 60.0, 180.0, 360.0], (images, 1))
    kp = boxes[:, None, :2] + rng.uniform(0.05, 0.95, (images, 37, 2)) * boxes[:, None, 2:]
    path = write_coco_keypoints(os.path.join(folder, "person_keypoints_bench.json"), names, [(640, 480)] * images,
                                np.arange(images), boxes, kp, np.full((images, 37), 2))
    return str(path), folder


def pose2d_rates(device: str, steps: int, batch: int, input_size: tuple[int, int], workers: int) -> tuple[float, float]:
    """(``train 2d`` crops/s, plain-loop crops/s) for SpinePose-s, both timed over steps 2..N."""
    from simspine_hub.training.trainer2d import family_loss, train_2d

    with tempfile.TemporaryDirectory(dir=os.environ.get("SIMSPINE_BENCH_TMP")) as tmp:
        ann, images = _coco_file(tmp)
        overrides = {"training": {"per_device_train_batch_size": batch, "dataloader_num_workers": workers,
                                  "report_to": [], "save_strategy": "no", "logging_steps": 10 ** 9,
                                  "use_cpu": device == "cpu"}, "model": {"ema_momentum": 0.0}}
        run = train_2d("spinepose-s", out=os.path.join(tmp, "out"), spinetrack=[ann], spinetrack_images=[images],
                       max_steps=steps, overrides=overrides, arch_overrides={"input_size": input_size},
                       evaluate_at_end=False, progress=False)
        from simspine_hub.training.data2d import SampleKey, TopdownDataset, coco_rows

        data = TopdownDataset([coco_rows(ann, images)], input_size)
        items = [data[SampleKey(i % len(data), 0, 2, i)] for i in range(batch)]
    set_seed(0)
    model = create_model("spinepose-s", input_size=input_size).to(device).train()
    x = torch.stack([b["pixel_values"] for b in items]).to(device)
    y = torch.stack([b["labels"] for b in items]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

    def step():
        loss, _ = family_loss(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return run.crops_per_second, _timed_rate(step, steps, batch, device)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=256, help="the recipe's per-device batch")
    ap.add_argument("--hidden", type=int, default=1024, help="lifter width (the recipe's 1024)")
    ap.add_argument("--smoke", action="store_true", help="a few steps, to check that the benchmark runs (< 30 s)")
    ap.add_argument("--steps-2d", type=int, default=12, help="optimizer steps of the 2D row")
    ap.add_argument("--batch-2d", type=int, nargs=2, default=(32, 256), metavar=("CPU", "CUDA"),
                    help="2D crops per batch on CPU and on CUDA")
    ap.add_argument("--workers-2d", type=int, default=2, help="2D data-loader workers")
    ap.add_argument("--rounds", type=int, default=2, help="lifter: interleaved rounds, the best kept (shared machines)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads or args.smoke:           # smoke: one thread (on shared cores OpenMP spin-waits distort two)
        torch.set_num_threads(args.threads or 1)
    steps, hidden = (6, 256) if args.smoke else (args.steps, args.hidden)
    rows = max(20 * args.batch_size, 4096)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"lifter-full37 (width {hidden}), batch {args.batch_size}, {steps} steps (2..{steps} timed, best of "
          f"{1 if args.smoke else args.rounds} interleaved rounds), "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for dev in devices:
        plain = ours = 0.0
        for _ in range(1 if args.smoke else args.rounds):        # interleaved, best of each kept
            plain = max(plain, plain_loop_rate(dev, steps, args.batch_size, hidden, rows))
            ours = max(ours, trainer_rate(dev, steps, args.batch_size, hidden, rows))
        epoch = ROWS_PER_EPOCH_1HZ / ours
        print(f"{dev}: Trainer {ours:,.0f} rows/s, plain torch loop (anchor) {plain:,.0f} rows/s, "
              f"ratio {ours / plain:.2f}x")
        print(f"{dev}: one epoch at 1 Hz over the full-size twin's train split ({ROWS_PER_EPOCH_1HZ:,} rows) "
              f"= {epoch:.1f} s, computed from the measured throughput ({epoch * 90 / 3600:.2f} h for the "
              "recipe's 90 epochs)")
        if dev == "cuda" and not args.smoke:
            for batch in (2048,):
                r = trainer_rate(dev, steps, batch, hidden, max(20 * batch, rows))
                print(f"cuda: Trainer batch {batch} (the authors' 8 x 256 on one GPU) {r:,.0f} rows/s")
            r = trainer_rate(dev, steps, args.batch_size, hidden, rows, bf16=True)
            print(f"cuda: Trainer bf16 batch {args.batch_size} {r:,.0f} rows/s, ratio to fp32 {r / ours:.2f}x")
    size = (96, 64) if args.smoke else (256, 192)
    if args.smoke:                 # one thread: on shared cores OpenMP spin-waits make two many times slower
        torch.set_num_threads(1)
    for dev in devices:
        batch = 4 if args.smoke else args.batch_2d[dev == "cuda"]
        steps_2d = 4 if args.smoke else args.steps_2d
        ours, plain = pose2d_rates(dev, steps_2d, batch, size, 0 if args.smoke else args.workers_2d)
        print(f"{dev}: 2D SpinePose-s {size[0]}x{size[1]}, batch {batch}: train 2d {ours:,.1f} crops/s (JPEG decoding, "
              f"curriculum augmentation, mixup sampler, Trainer), plain torch loop on one pre-made batch (anchor) "
              f"{plain:,.1f} crops/s, ratio {ours / plain:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
