"""Trainer callbacks of 2D training: the augmentation curriculum's stage switch and the EMA of the weights.

* :class:`CurriculumCallback`: mmpose's ``PipelineSwitchHook`` idea for the paper's three stages (Supplementary
  A): at the start of every epoch it sets the stage ``stage_for_epoch(epoch, E)`` on the batch sampler, whose
  sample keys carry it to the dataset (and its workers). E is the number of epochs the run has
  (``state.num_train_epochs``: the recipe's epochs, or fewer when ``max_steps`` caps the run).
* :class:`EmaCallback`: mmpose's ``EMAHook`` with ``ExpMomentumEMA`` (the RTMPose configs: momentum 2e-4,
  gamma 2000, buffers averaged too): after every optimizer step
  ``ema = (1 - m_t) ema + m_t w`` with ``m_t = (1 - m) exp(-(1 + t) / gamma) + m`` (the first step copies);
  the averaged state is saved in every checkpoint (``ema.safetensors``, restored by ``--resume``) and becomes
  the model's weights when training ends, as mmpose's deployed checkpoints hold the EMA weights.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from simspine_hub.training.augment2d import stage_for_epoch

log = logging.getLogger(__name__)

__all__ = ["CurriculumCallback", "EmaCallback", "EMA_FILE"]

EMA_FILE = "ema.safetensors"


def current_epoch(state) -> int:
    """The 0-based epoch a Trainer is in (``state.epoch`` is fractional, None before the first step)."""
    return math.floor((state.epoch or 0.0) + 1e-6)


class CurriculumCallback(TrainerCallback):
    """Switch the augmentation stage at the epoch boundaries (see the module docstring).

    Args:
        sampler: the batch sampler (anything with ``set_stage(stage)``).
        epochs: E of the schedule; default the run's ``state.num_train_epochs``.
    """

    def __init__(self, sampler, epochs: int | None = None):
        self.sampler, self.epochs = sampler, epochs
        self.switches: list[tuple[int, int]] = []          # (epoch, stage) at every epoch start

    def on_epoch_begin(self, args, state, control, **kwargs):
        total = int(self.epochs or state.num_train_epochs)
        epoch = current_epoch(state)
        stage = stage_for_epoch(min(epoch, total - 1), total)
        if not self.switches or self.switches[-1][1] != stage:
            log.info("epoch %d of %d: augmentation stage %d", epoch, total, stage + 1)
        self.switches.append((epoch, stage))
        self.sampler.set_stage(stage)


class EmaCallback(TrainerCallback):
    """Exponential moving average of the weights (see the module docstring).

    Args:
        model: the (unwrapped) model being trained.
        momentum, gamma: ``ExpMomentumEMA``'s.
        resume_from: the checkpoint a resumed run starts from (its ``ema.safetensors`` is loaded).
    """

    def __init__(self, model: torch.nn.Module, momentum: float = 2e-4, gamma: float = 2000.0,
                 resume_from: str | Path | None = None):
        self.model, self.momentum, self.gamma = model, float(momentum), float(gamma)
        self.resume_from = resume_from
        self.shadow: dict[str, torch.Tensor] | None = None
        self.steps = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.shadow = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.steps = 0
        path = Path(self.resume_from) / EMA_FILE if self.resume_from else None
        if path is not None and path.is_file():
            from safetensors.torch import load_file

            saved = load_file(str(path))
            self.steps = int(saved.pop("__steps__").item())
            for k, v in saved.items():
                self.shadow[k].copy_(v)

    @torch.no_grad()
    def on_step_end(self, args, state, control, **kwargs):
        current = self.model.state_dict()
        if self.steps == 0:
            for k, v in self.shadow.items():
                v.copy_(current[k])
        else:
            m = (1 - self.momentum) * math.exp(-(1 + self.steps) / self.gamma) + self.momentum
            for k, v in self.shadow.items():
                if v.dtype.is_floating_point:
                    v.mul_(1 - m).add_(current[k].detach().to(v.dtype), alpha=m)
        self.steps += 1

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self.shadow is None:
            return
        from safetensors.torch import save_file

        from simspine_hub.io.files import atomic_path

        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        tensors = {k: v.contiguous() for k, v in self.shadow.items()}
        tensors["__steps__"] = torch.tensor(self.steps)
        with atomic_path(folder / EMA_FILE) as tmp:
            save_file(tensors, str(tmp))

    @torch.no_grad()
    def on_train_end(self, args, state, control, **kwargs):
        if self.shadow is not None and self.steps:
            self.model.load_state_dict(self.shadow)
