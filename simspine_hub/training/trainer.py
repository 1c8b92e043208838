"""The training loop: ``transformers.Trainer`` configured from a recipe (:mod:`simspine_hub.training.recipe`).

Why ``transformers.Trainer`` rather than a hand-written loop or bare ``accelerate``: our models are already
``PreTrainedModel``s, and Trainer brings, tested by its maintainers, checkpoints holding the optimizer,
scheduler and RNG states (``--resume`` continues the same run), bf16/fp16 autocast, multi-GPU through
accelerate (the same command under ``accelerate launch`` or ``torchrun``), seeding, tqdm progress bars,
TensorBoard logging, gradient clipping and accumulation. What it lacks is plugged in, not rewritten:

* a step learning-rate schedule (torch's ``StepLR``) and RTMPose's warm-up + cosine schedule
  (:func:`warmup_cosine_factor`) through :meth:`RecipeTrainer.create_scheduler`;
* a CSV log of every logged value (:class:`CsvLogCallback`), rewritten from Trainer's own log history;
* in-memory tensors fetched a whole batch at a time (:class:`ArrayDataset` implements ``__getitems__``), so
  a batch of 256 lifter rows is one indexing operation instead of 256 ``__getitem__`` calls.

Another task plugs in with its own model, dataset, collator and loss: :func:`fit` takes any
``PreTrainedModel`` whose ``forward`` accepts ``labels`` and returns ``loss`` (or a ``compute_loss_func(outputs,
labels, num_items_in_batch)`` for models that do not, e.g. transformers' ViTPose), any torch ``Dataset``, a
``data_collator`` and a recipe whose ``training`` section holds ``TrainingArguments`` fields.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from simspine_hub.io.files import write_text
from simspine_hub.training.recipe import Recipe, RecipeError

log = logging.getLogger(__name__)

__all__ = ["ArrayDataset", "collate", "RecipeTrainer", "CsvLogCallback", "training_arguments", "fit",
           "warmup_cosine_factor", "last_checkpoint", "CHECKPOINTS", "LOG_CSV", "OWN_SCHEDULES"]

CHECKPOINTS = "checkpoints"          # sub-folder of the output folder holding Trainer's checkpoints
LOG_CSV = "training_log.csv"
#: schedule types built here rather than by transformers (``schedule.type`` in a recipe)
OWN_SCHEDULES = ("step", "warmup_cosine")


class ArrayDataset(torch.utils.data.Dataset):
    """Rows of aligned tensors (all with the same first dimension N); ``__getitems__`` fetches a batch at once.

    Example: ``ArrayDataset(keypoints_2d=(N, K, 2) tensor, labels=(N, K, 3) tensor)``.
    """

    def __init__(self, **columns: torch.Tensor):
        lengths = {k: len(v) for k, v in columns.items()}
        if not columns or len(set(lengths.values())) != 1:
            raise ValueError(f"ArrayDataset needs columns of one length; got {lengths}")
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.columns.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[idx] for k, v in self.columns.items()}


def collate(batch) -> dict[str, torch.Tensor]:
    """Collator for :class:`ArrayDataset` (a batch arrives already stacked) and for lists of row dicts."""
    if isinstance(batch, dict):
        return batch
    return {k: torch.stack([row[k] for row in batch]) for k in batch[0]}


def warmup_cosine_factor(step: int, total: int, warmup_steps: int = 1000, warmup_start: float = 1e-5,
                         cosine_start: float = 0.5, min_factor: float = 0.05) -> float:
    """Learning-rate factor of mmpose's RTMPose schedule at optimizer ``step`` of ``total``: ``LinearLR`` from
    ``warmup_start`` to 1 over ``warmup_steps``, constant, then ``CosineAnnealingLR`` from
    ``floor(cosine_start * total)`` to ``total`` down to ``min_factor`` (``eta_min = 0.05 lr``)."""
    factor = warmup_start + (1.0 - warmup_start) * min(step, warmup_steps) / warmup_steps if warmup_steps > 0 else 1.0
    begin = int(cosine_start * total)
    if step >= begin and total > begin:
        t = min(step - begin, total - begin) / (total - begin)
        factor *= min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


class RecipeTrainer(Trainer):
    """``Trainer`` with the recipe's learning-rate schedule: ``type: step`` is torch's ``StepLR`` (``step_size``
    optimizer steps, factor ``gamma``); ``type: warmup_cosine`` is :func:`warmup_cosine_factor` (its keyword
    arguments from the schedule section, ``warmup_steps`` capped to ``warmup_max_fraction`` of the run when given);
    any other type is a transformers scheduler name (``lr_scheduler_type``)."""

    def __init__(self, *args, schedule: dict | None = None, **kwargs):
        self.schedule = dict(schedule or {})
        super().__init__(*args, **kwargs)

    def get_eval_dataloader(self, eval_dataset=None):
        """Every evaluation row counts: ``dataloader_drop_last`` (which keeps BatchNorm from a one-row training
        batch) applies to training batches only."""
        drop, self.args.dataloader_drop_last = self.args.dataloader_drop_last, False
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.args.dataloader_drop_last = drop

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        kind = self.schedule.get("type", "step")
        if kind not in OWN_SCHEDULES:
            return super().create_scheduler(num_training_steps, optimizer)
        if kind == "warmup_cosine" and self.lr_scheduler is None:
            kw = {k: self.schedule[k] for k in ("warmup_steps", "warmup_start", "cosine_start", "min_factor")
                  if k in self.schedule}
            if self.schedule.get("warmup_max_fraction") is not None:
                cap = int(float(self.schedule["warmup_max_fraction"]) * num_training_steps)
                kw["warmup_steps"] = min(int(kw.get("warmup_steps", 1000)), cap)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer or self.optimizer, partial(_factor_at, total=num_training_steps, **kw))
            self._created_lr_scheduler = True
        if self.lr_scheduler is None:
            self.lr_scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer or self.optimizer, step_size=int(self.schedule.get("step_size", 100_000)),
                gamma=float(self.schedule.get("gamma", 1.0)))
            self._created_lr_scheduler = True
        return self.lr_scheduler


def _factor_at(step: int, **kw) -> float:      # module-level: LambdaLR state stays picklable
    return warmup_cosine_factor(step, **kw)


class CsvLogCallback(TrainerCallback):
    """Writes Trainer's log history (one row per logged step: step, epoch, loss, learning_rate, eval_loss...)
    to a CSV file. The file is rewritten from the history each time, so a resumed run (whose history is
    restored from its checkpoint) never repeats or loses rows."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _write(self, state) -> None:
        if not state.is_world_process_zero or not state.log_history:
            return
        keys = ["step", "epoch"] + sorted({k for row in state.log_history for k in row} - {"step", "epoch"})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(state.log_history)
        write_text(self.path, buf.getvalue())

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._write(state)

    def on_train_end(self, args, state, control, **kwargs):
        self._write(state)


_ARG_FIELDS = {f.name for f in dataclasses.fields(TrainingArguments)}


def training_arguments(recipe: Recipe, output_dir: str | os.PathLike, progress: bool = True) -> TrainingArguments:
    """``TrainingArguments`` from the recipe's ``training`` section (``report_to: [tensorboard]`` is served by
    :func:`fit` with a log folder of its own; other integrations pass through)."""
    kw = recipe.section("training")
    kw.pop("report_to", None)
    unknown = sorted(set(kw) - _ARG_FIELDS)
    if unknown:
        raise RecipeError(f"{recipe.path or recipe.name}: training.{unknown[0]} is not a transformers."
                          f"TrainingArguments field (unknown: {unknown})")
    schedule = recipe.section("schedule")
    if schedule.get("type", "step") not in OWN_SCHEDULES:
        kw["lr_scheduler_type"] = schedule["type"]
        kw["lr_scheduler_kwargs"] = {k: v for k, v in schedule.items() if k != "type"}
    else:
        kw["lr_scheduler_type"] = "constant"           # replaced in RecipeTrainer.create_scheduler
    others = [r for r in (recipe.get("training", "report_to") or []) if r != "tensorboard"]
    kw.setdefault("dataloader_pin_memory", torch.cuda.is_available())
    if kw.get("bf16") and not torch.cuda.is_available():
        kw.setdefault("use_cpu", True)                 # bf16 autocast on the CPU (AVX512-BF16 / AMX where present)
    return TrainingArguments(output_dir=str(output_dir), remove_unused_columns=False, disable_tqdm=not progress,
                             report_to=others or "none", **kw)


def fit(model, recipe: Recipe, out: str | os.PathLike, train_dataset, *, eval_dataset=None,
        data_collator: Callable = collate, compute_loss_func: Callable | None = None, resume: bool = False,
        progress: bool = True, callbacks: Sequence[TrainerCallback] = (),
        trainer_class: type[RecipeTrainer] | None = None, trainer_kwargs: dict | None = None) -> RecipeTrainer:
    """Train ``model`` with the recipe; checkpoints go to ``out/checkpoints``, the CSV log to
    ``out/training_log.csv`` and TensorBoard events (``report_to: [tensorboard]``) to ``out/tensorboard``.

    ``resume=True`` continues from the last checkpoint under ``out/checkpoints`` (optimizer, scheduler, RNG
    and data order restored). ``trainer_class`` (a :class:`RecipeTrainer` subclass) with ``trainer_kwargs`` plugs
    in a task's own data loading or loss. Returns the trainer (``trainer.state.log_history`` holds the log).
    """
    out = Path(out)
    args = training_arguments(recipe, out / CHECKPOINTS, progress)
    if args.eval_strategy != "no" and eval_dataset is None:
        args.eval_strategy = "no"
    extra = [CsvLogCallback(out / LOG_CSV)]
    if "tensorboard" in (recipe.get("training", "report_to") or []):
        extra.append(_tensorboard_callback(out / "tensorboard"))
    checkpoint = last_checkpoint(out) if resume else None
    trainer = (trainer_class or RecipeTrainer)(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=data_collator,
        compute_loss_func=compute_loss_func, callbacks=[*extra, *callbacks], schedule=recipe.section("schedule"),
        **(trainer_kwargs or {}))
    if not progress:
        trainer.remove_callback(PrinterCallback)         # no per-log prints either when bars are off
    trainer.train(resume_from_checkpoint=checkpoint)
    return trainer


def last_checkpoint(out: str | os.PathLike) -> str:
    """The newest Trainer checkpoint under ``out/checkpoints``; FileNotFoundError (one clear line) if none."""
    folder = Path(out) / CHECKPOINTS
    checkpoint = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if checkpoint is None:
        raise FileNotFoundError(f"--resume: no checkpoint under {folder}; run without --resume to start training")
    log.info("resuming from %s", checkpoint)
    return checkpoint


def _tensorboard_callback(log_dir: Path) -> TrainerCallback:
    from transformers.integrations import TensorBoardCallback

    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise RecipeError("the recipe logs to TensorBoard (training.report_to) but tensorboard is not installed: "
                          "pip install 'simspine-hub[train]', or set report_to: [] in the recipe") from exc
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))
