"""``simspine train 2d``: fine-tune a 2D spine detector with the paper's recipe (Sec. 4.1, 4.4, Supplementary A;
Table 2), from the data sources to a finished hub model folder.

The pieces: sources (:mod:`~simspine_hub.training.data2d`: SIMSPINE views, SpineTrack-format COCO files), mixing
(:mod:`~simspine_hub.training.mixup`: per-batch mixup or per-epoch alternation), the curriculum and EMA
(:mod:`~simspine_hub.training.callbacks2d`), each family's own loss (:mod:`simspine_hub.models.targets`: SimCC KL
for SpinePose / RTMPose, heatmap MSE for HRNet and ViTPose, the latter computed here because transformers'
``VitPoseForPoseEstimation`` refuses labels), the RTMPose optimiser (AdamW, no weight decay on norm layers and
biases as mmengine's ``norm_decay_mult=0, bias_decay_mult=0``; warm-up + cosine schedule from the recipe), and
the evaluation (:mod:`~simspine_hub.training.eval2d`).

The output folder ``out`` holds ``config.json`` + ``model.safetensors`` (``AutoModel.from_pretrained`` after
``import simspine_hub.models``; runs in ``simspine infer``), ``README.md`` (model card, ``model-index`` with the
Table 2 row), ``results.json`` (the leaderboard's ``2d`` result on the SIMSPINE test views),
``spinetrack_val.json`` (AP/AR B/S, with a val file), ``results_before.json`` (``eval_before``), ``recipe.yaml``,
``training_log.csv``, ``learning_curve.png``, ``preview.png`` (``preview``), ``checkpoints/`` (for ``--resume``,
each with the EMA state) and ``frames/`` (SIMSPINE frames decoded from the videos).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from simspine_hub.models.targets import heatmap_loss
from simspine_hub.training import eval2d
from simspine_hub.training.callbacks2d import CurriculumCallback, EmaCallback
from simspine_hub.training.data2d import Data2DError, PersonRows, TopdownDataset, coco_rows, simspine_rows
from simspine_hub.training.mixup import MixedBatchSampler
from simspine_hub.training.recipe import Recipe, RecipeError, load_recipe
from simspine_hub.training.trainer import CHECKPOINTS, RecipeTrainer, collate, fit

log = logging.getLogger(__name__)

__all__ = ["FAMILIES", "Pose2DRun", "PoseTrainer", "resolve_recipe_2d", "build_model_2d", "train_2d",
           "load_sources", "decay_parameter_names", "family_loss"]

#: ``--model`` names -> shipped recipes (a recipe .yaml path works too)
FAMILIES = {n: f"{n}-2d" for n in ("spinepose-s", "spinepose-m", "spinepose-l", "rtmpose-m", "hrnet-w32", "vitpose-b")}
#: model-section keys copied onto the model config (the family's loss reads them there)
_LOSS_KEYS = ("simcc_sigma", "loss_beta", "label_softmax", "label_beta", "heatmap_sigma")
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


@dataclass
class Pose2DRun:
    """What :func:`train_2d` produced (on the main process)."""

    out: Path
    model: torch.nn.Module
    recipe: Recipe
    result: dict | None = None                   # leaderboard 2d result on the SIMSPINE test views
    coco: dict | None = None                     # AP/AR B/S on the val file
    before: dict = field(default_factory=dict)   # the same evaluations of the initial weights
    sources: list[dict] = field(default_factory=list)
    log_history: list[dict] = field(default_factory=list)
    batch_log: list[dict] = field(default_factory=list)   # per batch: step, stage, samples per source, time
    crops_per_second: float = float("nan")
    seconds: float = 0.0


def resolve_recipe_2d(model: str | os.PathLike, max_steps: int | None = None,
                      overrides: dict[str, dict] | None = None) -> Recipe:
    """The recipe of ``--model`` (a family name of :data:`FAMILIES` or a recipe .yaml), with overrides."""
    recipe = load_recipe(FAMILIES.get(str(model), model))
    if recipe.task != "2d":
        raise RecipeError(f"{recipe.path}: task {recipe.task!r}; `train 2d` trains 2d recipes ({sorted(FAMILIES)})")
    for section, values in (overrides or {}).items():
        recipe = recipe.override(section, **values)
    if max_steps is not None:
        recipe = recipe.override("training", max_steps=int(max_steps))
    return recipe


def build_model_2d(recipe: Recipe, init: str | os.PathLike | None = None, **arch_overrides):
    """The model to train: ``init`` (a converted checkpoint folder) or the recipe's variant with random weights
    (the recipe's ``model.architecture`` mapping, then ``arch_overrides``, go to the variant's builder: e.g. a
    smaller input size). The recipe's loss settings are set on its config."""
    from transformers import AutoModel, set_seed

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)
    from simspine_hub.models import create_model
    from simspine_hub.models.codecs import codec_for

    variant = recipe.get("model", "variant")
    set_seed(int(recipe.get("training", "seed", 0)))
    model = create_model(variant, **{**(recipe.get("model", "architecture") or {}), **arch_overrides})
    if init is not None:
        want = codec_for(model.config).name
        model = AutoModel.from_pretrained(init)
        if codec_for(model.config).name != want:
            raise RecipeError(f"--init {init}: a {type(model).__name__} ({codec_for(model.config).name} codec) but the "
                              f"recipe {recipe.name} trains {variant} ({want}); pick the matching --model")
    for key in _LOSS_KEYS:
        if recipe.get("model", key) is not None:
            setattr(model.config, key, recipe.get("model", key))
    return model


def decay_parameter_names(model: nn.Module) -> list[str]:
    """Parameters that get weight decay under mmengine's ``norm_decay_mult=0, bias_decay_mult=0``: all but the
    parameters of normalisation layers (BatchNorm, GroupNorm, LayerNorm, InstanceNorm) and every ``bias``."""
    names = []
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            if not isinstance(module, _NORMS) and p_name != "bias":
                names.append(f"{mod_name}.{p_name}" if mod_name else p_name)
    return names


def family_loss(model, pixel_values: torch.Tensor, labels: torch.Tensor):
    """(loss, outputs) of a 2D model on a batch: the model's own loss (SpinePose / RTMPose, HRNet take ``labels``),
    or, for transformers' ViTPose (which refuses labels), the UDP heatmap MSE computed here."""
    config = getattr(model, "module", model).config
    if config.model_type != "vitpose":
        outputs = model(pixel_values=pixel_values, labels=labels)
        return outputs.loss, outputs
    outputs = model(pixel_values=pixel_values)
    loss = heatmap_loss(outputs.heatmaps, labels, tuple(getattr(config, "input_size", (256, 192))), udp=True,
                        sigma=float(getattr(config, "heatmap_sigma", 2.0)))
    return loss, outputs


class PoseTrainer(RecipeTrainer):
    """:class:`RecipeTrainer` for top-down 2D models: batches from a :class:`MixedBatchSampler`, the family's loss
    (the model's own, or UDP heatmap MSE for transformers' ViTPose), mmengine's weight-decay rule, and a record of
    every batch (``batch_log``: step, stage, samples per source, wall time) with the curriculum stage and source
    shares in the training log."""

    def __init__(self, *args, batch_sampler: MixedBatchSampler, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sampler = batch_sampler
        self.model_accepts_loss_kwargs = False          # the loss is a per-batch value: Trainer scales it for GA
        self.loss_is_scaled_for_ga = False
        self.batch_log: list[dict] = []

    def get_train_dataloader(self):
        from torch.utils.data import DataLoader

        args = self.args
        extra = {"prefetch_factor": args.dataloader_prefetch_factor} if args.dataloader_num_workers else {}
        loader = DataLoader(self.train_dataset, batch_sampler=self.batch_sampler, collate_fn=self.data_collator,
                            num_workers=args.dataloader_num_workers, pin_memory=args.dataloader_pin_memory,
                            persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
                            **extra)
        return self.accelerator.prepare(loader)

    def get_decay_parameter_names(self, model) -> list[str]:
        return decay_parameter_names(model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stage, source = inputs["stage"], inputs["source"]
        counts = torch.bincount(source.cpu(), minlength=len(self.batch_sampler.sizes)).tolist()
        self.batch_log.append({"step": self.state.global_step + 1, "stage": int(stage.max()), "per_source": counts,
                               "time": time.perf_counter(), "size": int(len(source))})
        loss, outputs = family_loss(model, inputs["pixel_values"], inputs["labels"])
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs and self.batch_log:
            last = self.batch_log[-1]
            logs["curriculum_stage"] = last["stage"] + 1
            for s, c in enumerate(last["per_source"]):
                logs[f"batch_share_source{s}"] = c / max(last["size"], 1)
        super().log(logs, start_time)

    def crops_per_second(self) -> float:
        """Training throughput over the recorded batches, the first (warm-up) excluded."""
        if len(self.batch_log) < 2:
            return float("nan")
        b = self.batch_log
        return sum(r["size"] for r in b[1:]) / max(b[-1]["time"] - b[0]["time"], 1e-9)


def load_sources(recipe: Recipe, *, h36m_root=None, annotations=None, spinetrack=(), spinetrack_images=(),
                 simspine_images=None, frames_dir=None, cache_dir=None, progress=True) -> list[PersonRows]:
    """The training sources: SIMSPINE (the recipe's fraction of its train split) when both roots are given, then
    each SpineTrack-format file (``spinetrack[i]`` with ``spinetrack_images[i]``, or one images folder for all)."""
    sources = []
    if (h36m_root is None) != (annotations is None):
        raise Data2DError("SIMSPINE needs both --h36m-root and --annotations (or neither, to train on SpineTrack only)")
    if h36m_root is not None:
        sources.append(simspine_rows("train", h36m_root=h36m_root, annotations=annotations,
                                     fraction=recipe.get("data", "simspine_fraction"),
                                     seed=int(recipe.get("training", "seed", 0)), images_root=simspine_images,
                                     image_naming=recipe.get("data", "image_naming", "simspine"),
                                     frames_dir=frames_dir, progress=progress,
                                     **_subject_kwargs(recipe), cache_dir=cache_dir))
    spinetrack, images = list(spinetrack), list(spinetrack_images)
    if spinetrack and len(images) not in (1, len(spinetrack)):
        raise Data2DError(f"{len(spinetrack)} --spinetrack files but {len(images)} --spinetrack-images folders; "
                          "give one folder per file, or one for all")
    for i, ann in enumerate(spinetrack):
        sources.append(coco_rows(ann, images[i if len(images) > 1 else 0], _coco_name(ann)))
    if not sources:
        raise Data2DError("no training data: pass --h36m-root and --annotations (SIMSPINE) and/or --spinetrack FILE "
                          "--spinetrack-images DIR")
    return sources


def _coco_name(ann) -> str:
    """``twin-coco`` for a file written by ``simspine_hub.twin.coco`` (its default name), else ``spinetrack``."""
    return "twin-coco" if "twin" in Path(ann).name else "spinetrack"


def _subject_kwargs(recipe: Recipe) -> dict:
    from simspine_hub.io import h36m

    kw = {}
    for key, default in (("train_subjects", h36m.TRAIN_SUBJECTS), ("test_subjects", h36m.TEST_SUBJECTS)):
        value = recipe.get("data", key)
        if value is not None and tuple(value) != tuple(default):
            kw[key] = tuple(value)
    return kw


def _sampler(recipe: Recipe, sources: list[PersonRows]) -> MixedBatchSampler:
    """The batch sampler: the recipe's source ratio, its first entries when fewer sources are given."""
    ratio = recipe.get("data", "source_ratio")
    if ratio is not None and len(ratio) < len(sources):
        raise Data2DError(f"source ratio {list(ratio)} has fewer entries than the {len(sources)} sources "
                          f"({', '.join(s.name for s in sources)}); give one ratio per source (--source-ratio)")
    ratio = list(ratio)[:len(sources)] if ratio is not None else None
    return MixedBatchSampler([len(s) for s in sources], int(recipe.get("training", "per_device_train_batch_size")),
                             ratio, recipe.get("data", "mixing", "batch"), int(recipe.get("training", "seed", 0)))


def train_2d(model: str | os.PathLike = "spinepose-m", *, out: str | os.PathLike, h36m_root=None, annotations=None,
             spinetrack=(), spinetrack_images=(), spinetrack_val=None, spinetrack_val_images=None, init=None,
             simspine_images=None, max_steps: int | None = None, resume: bool = False,
             overrides: dict[str, dict] | None = None, arch_overrides: dict | None = None, cache_dir=None,
             model_name: str | None = None, preview: bool = False, eval_before: bool = False,
             evaluate_at_end: bool = True, progress: bool = True, callbacks=()) -> Pose2DRun | None:
    """Fine-tune a 2D model with its recipe and evaluate it (see the module docstring).

    Args:
        model: ``spinepose-s/m/l``, ``rtmpose-m``, ``hrnet-w32``, ``vitpose-b`` or a recipe path.
        h36m_root, annotations: SIMSPINE (training views, and the test views for the AUC).
        spinetrack, spinetrack_images: SpineTrack-format training files and their image folders.
        spinetrack_val, spinetrack_val_images: a val file for AP/AR (body, spine).
        init: a converted checkpoint folder; None = random weights.
        simspine_images: pre-extracted SIMSPINE frames (else decoded from the videos into ``out/frames``).
        max_steps: cap on optimizer steps (smoke runs; the run still evaluates and writes its folder).
        overrides: {section: {key: value}} recipe overrides, recorded as "command line".
        eval_before: also evaluate the initial weights (the "before fine-tuning" row).
        callbacks: further ``TrainerCallback`` objects.
    Returns:
        The run (main process), None on other processes of a multi-GPU run.
    """
    from transformers.trainer_utils import get_last_checkpoint

    from simspine_hub.models.codecs import codec_for
    from simspine_hub.training.card2d import finish_2d

    start = time.perf_counter()
    out = Path(out)
    recipe = resolve_recipe_2d(model, max_steps, overrides)
    frames_dir = out / "frames"
    sources = load_sources(recipe, h36m_root=h36m_root, annotations=annotations, spinetrack=spinetrack,
                           spinetrack_images=spinetrack_images, simspine_images=simspine_images,
                           frames_dir=frames_dir, cache_dir=cache_dir, progress=progress)
    sampler = _sampler(recipe, sources)
    net = build_model_2d(recipe, init, **(arch_overrides or {}))
    codec = codec_for(net.config).name
    input_size = tuple(getattr(net.config, "input_size", (256, 192)))
    dataset = TopdownDataset(sources, input_size, udp=codec == "udp", seed=int(recipe.get("training", "seed", 0)),
                             image_mean=getattr(net.config, "image_mean", None) or (123.675, 116.28, 103.53),
                             image_std=getattr(net.config, "image_std", None) or (58.395, 57.12, 57.375))
    if preview:
        from simspine_hub.training.augment2d import write_preview

        picks = np.linspace(0, len(dataset) - 1, num=min(len(dataset), 12)).astype(int)
        write_preview([dataset.person(int(i)) for i in picks], out / "preview.png", udp=codec == "udp",
                      seed=int(recipe.get("training", "seed", 0)))
    evaluation = {"h36m_root": h36m_root, "annotations": annotations, "val": spinetrack_val,
                  "val_images": spinetrack_val_images, "frames_dir": frames_dir, "simspine_images": simspine_images,
                  "cache_dir": cache_dir, "progress": progress}
    run = Pose2DRun(out, net, recipe, sources=[{"name": s.name, "rows": len(s), **s.info} for s in sources])
    if eval_before:
        run.before = _evaluate(net, recipe, evaluation, f"{recipe.get('model', 'variant')} (before fine-tuning)")
    callbacks = [CurriculumCallback(sampler), *callbacks]
    if recipe.get("model", "ema_momentum"):
        checkpoint = get_last_checkpoint(out / CHECKPOINTS) if resume and (out / CHECKPOINTS).is_dir() else None
        callbacks.append(EmaCallback(net, recipe.get("model", "ema_momentum"), recipe.get("model", "ema_gamma", 2000),
                                     resume_from=checkpoint))
    trainer = fit(net, recipe, out, dataset, data_collator=collate, resume=resume, progress=progress,
                  callbacks=callbacks, trainer_class=PoseTrainer,
                  trainer_kwargs={"batch_sampler": sampler})
    if not trainer.is_world_process_zero():
        return None
    run.model = trainer.accelerator.unwrap_model(trainer.model).eval()
    run.log_history = list(trainer.state.log_history)
    run.crops_per_second = trainer.crops_per_second()
    run.batch_log = list(trainer.batch_log)
    run.model.save_pretrained(out)
    name = model_name or f"{recipe.get('model', 'variant')}-ft"
    if evaluate_at_end:
        res = _evaluate(run.model, recipe, evaluation, name)
        run.result, run.coco = res.get("simspine"), res.get("coco")
    run.seconds = time.perf_counter() - start
    finish_2d(run, model_name=name, data_label=_data_label(h36m_root, annotations, sources))
    return run


def _data_label(h36m_root, annotations, sources: list[PersonRows]) -> str:
    """``twin`` when any input is the synthetic twin, else ``SIMSPINE`` (or ``SpineTrack`` without SIMSPINE)."""
    from simspine_hub.training.lifter import data_label_for

    if h36m_root is not None and data_label_for(h36m_root, annotations) == "twin":
        return "twin"
    if any(s.name == "twin-coco" for s in sources):
        return "twin"
    return "SIMSPINE" if h36m_root is not None else "SpineTrack"


def _evaluate(model, recipe: Recipe, ev: dict, label: str) -> dict:
    """{"simspine": the 2d result, "coco": AP/AR} for what the run has (SIMSPINE roots, a val file)."""
    flip = bool(recipe.get("model", "flip_test", True))
    out = {}
    if ev["h36m_root"] is not None:
        data_label = _data_label(ev["h36m_root"], ev["annotations"], [])
        out["simspine"] = eval2d.evaluate_simspine(
            model, label=label, data_label=data_label, frames_dir=ev["frames_dir"], images_root=ev["simspine_images"],
            image_naming=recipe.get("data", "image_naming", "simspine"),
            frame_stride=int(recipe.get("data", "eval_frame_stride", 1)), flip_test=flip, progress=ev["progress"],
            h36m_root=ev["h36m_root"], annotations=ev["annotations"], cache_dir=ev["cache_dir"],
            **_subject_kwargs(recipe))
    if ev["val"] is not None:
        if ev["val_images"] is None:
            raise Data2DError("--spinetrack-val needs --spinetrack-val-images (the folder of its images)")
        name = "twin COCO val (SpineTrack stand-in)" if _coco_name(ev["val"]) == "twin-coco" else "SpineTrack val"
        out["coco"] = eval2d.evaluate_coco(model, ev["val"], ev["val_images"], name=name, flip_test=flip,
                                           progress=ev["progress"])
    return out
