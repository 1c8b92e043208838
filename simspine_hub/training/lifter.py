"""``simspine train lifter``: the paper's lifting recipe (Sec. 4.3, Tables 5-6) and the angle-regression
baseline, from the dataset builder to a finished hub model folder.

The output folder ``out`` holds ``config.json`` + ``model.safetensors`` (loads with ``AutoModel.from_pretrained``
after ``import simspine_hub.models``), ``README.md`` (model card, ``model-index`` with the measured results),
``results.json`` (the leaderboard result of the test split), ``reference_*.results.json`` (reference rows),
``recipe.yaml`` (the recipe as run, with sources), ``training_log.csv``, ``learning_curve.png``, and
``checkpoints/`` (Trainer checkpoints, for ``--resume``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from simspine_hub import skeleton
from simspine_hub.io import h36m
from simspine_hub.io.files import write_text
from simspine_hub.training import evaluation
from simspine_hub.training.card import plot_learning_curve, write_model_card
from simspine_hub.training.lifting_data import LiftingSplit, frame_stride, load_lifting_split
from simspine_hub.training.recipe import Recipe, RecipeError, load_recipe
from simspine_hub.training.trainer import ArrayDataset, fit, last_checkpoint

log = logging.getLogger(__name__)

__all__ = ["CONFIGS", "LifterRun", "resolve_recipe", "build_model", "train_lifter", "predict", "data_label_for"]

#: ``--config`` short names -> shipped recipes (a path to a recipe file works too).
CONFIGS = {"full37": "lifter-full37", "spine15": "lifter-spine15", "angles": "lifter-angles"}
_KEYPOINTS = {"full37": tuple(range(skeleton.NUM_KEYPOINTS)), "spine15": skeleton.SPINE15}


@dataclass
class LifterRun:
    """What :func:`train_lifter` produced (on the main process)."""

    out: Path
    model: torch.nn.Module
    recipe: Recipe
    result: dict                                     # the leaderboard result on the test split
    references: list[dict] = field(default_factory=list)
    log_history: list[dict] = field(default_factory=list)
    train_rows: int = 0
    seconds: float = 0.0


def resolve_recipe(config: str | os.PathLike, max_steps: int | None = None,
                   overrides: dict[str, dict] | None = None) -> Recipe:
    """The recipe for ``--config`` (``full37``, ``spine15``, ``angles``, a shipped recipe name or a YAML path),
    with command-line ``overrides`` ({section: {key: value}}) and ``max_steps`` applied."""
    recipe = load_recipe(CONFIGS.get(str(config), config))
    if recipe.task not in ("lifting", "angles"):
        raise RecipeError(f"{recipe.path}: task {recipe.task!r}; `train lifter` trains lifting or angles recipes")
    for section, values in (overrides or {}).items():
        recipe = recipe.override(section, **values)
    if max_steps is not None:
        recipe = recipe.override("training", max_steps=int(max_steps))
    kp = recipe.get("model", "keypoints")
    if kp not in _KEYPOINTS:
        raise RecipeError(f"{recipe.path}: model.keypoints {kp!r}; choose one of {list(_KEYPOINTS)}")
    return recipe


def build_model(recipe: Recipe):
    """A randomly initialised lifter for the recipe (3D lifter for ``lifting``, angle lifter for ``angles``)."""
    from simspine_hub.models import create_model
    from simspine_hub.models.lifter import AngleLifterConfig, SimpleBaselineAngles

    m = recipe.section("model")
    arch = {k: m[k] for k in ("hidden", "num_blocks", "dropout") if k in m}
    if recipe.task == "lifting":
        return create_model(f"lifter-{m['keypoints']}", **arch)
    return SimpleBaselineAngles(AngleLifterConfig(keypoints=list(_KEYPOINTS[m["keypoints"]]), **arch,
                                                  rotational=[bool(r) for r in skeleton.ROTATIONAL],
                                                  axis_names=list(skeleton.KINEMATIC_AXES)))


def _tensors(model, split: LiftingSplit, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, 2) camera-normalised inputs and targets: (N, K, 3) root-relative mm, or (N, 62) deg / mm."""
    x = split.normalized_2d(model.config.keypoints)
    y = split.keypoints_3d[:, list(model.config.keypoints)] if task == "lifting" else split.kinematics
    return x, torch.from_numpy(np.ascontiguousarray(y, np.float32))


def predict(model, split: LiftingSplit, task: str, batch_size: int = 8192) -> np.ndarray:
    """Predictions for every row of ``split``: (N, K, 3) root-relative camera mm, or (N, 62) deg / mm."""
    x, _ = _tensors(model, split, task)
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(keypoints_2d=x[i:i + batch_size].to(model.device))
            outs.append((out.keypoints_3d if task == "lifting" else out.kinematics).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,))


def data_label_for(h36m_root: str | os.PathLike, annotations: str | os.PathLike) -> str:
    """``twin`` when the inputs are a synthetic twin (its ``twin.json`` beside them), else ``SIMSPINE``."""
    roots = (Path(h36m_root).parent, Path(annotations).parent)
    return "twin" if any((r / "twin.json").is_file() for r in roots) else "SIMSPINE"


def _cap_batch(recipe: Recipe, rows: int) -> Recipe:
    batch = int(recipe.get("training", "per_device_train_batch_size", 8))
    if rows < 2:
        raise RecipeError(f"only {rows} training row(s): BatchNorm needs at least 2; sample more frames "
                          "(--sample-hz) or use more subjects")
    if rows < batch:
        log.warning("batch size %d capped to the %d training rows", batch, rows)
        return recipe.override("training", f"capped to the {rows} training rows", per_device_train_batch_size=rows)
    return recipe


def train_lifter(config: str | os.PathLike = "full37", *, h36m_root: str | os.PathLike,
                 annotations: str | os.PathLike, out: str | os.PathLike, detections: str | os.PathLike | None = None,
                 max_steps: int | None = None, resume: bool = False, overrides: dict[str, dict] | None = None,
                 cache_dir: str | os.PathLike | None = None, model_name: str | None = None,
                 progress: bool = True) -> LifterRun | None:
    """Train a lifter with a recipe and evaluate it through the leaderboard (see the module docstring).

    Args:
        config: ``full37`` / ``spine15`` (the paper's lifting variants), ``angles``, or a recipe path.
        detections: a 2D predictions file (leaderboard ``2d`` format) used as input for both splits ("Det.");
            without it the input is the ground truth projected with distortion ("GT").
        max_steps: cap on optimizer steps (smoke runs); the run still evaluates and writes its folder.
        resume: continue from the last checkpoint in ``out/checkpoints``.
        overrides: {section: {key: value}} recipe overrides, recorded as "command line" in ``recipe.yaml``.
    Returns:
        The run (main process), None on other processes of a multi-GPU run.
    """
    from transformers import set_seed

    start = time.perf_counter()
    recipe = resolve_recipe(config, max_steps, overrides)
    out = Path(out)
    if resume:
        last_checkpoint(out)                              # fail before loading any data
    det, det_name = _read_detections(detections)
    kw = _data_kwargs(recipe, h36m_root, annotations, cache_dir)
    hz = recipe.get("data", "sample_hz")
    train = load_lifting_split("train", sample_hz=hz, detections=det, detections_name=det_name, **kw)
    val = load_lifting_split("test", sample_hz=hz, detections=det, detections_name=det_name, **kw)
    set_seed(int(recipe.get("training", "seed", 0)))
    model = build_model(recipe)
    x_tr, y_tr = _tensors(model, train, recipe.task)
    model.set_statistics(x_tr, y_tr)
    recipe = _cap_batch(recipe, len(train))
    trainer = fit(model, recipe, out, ArrayDataset(keypoints_2d=x_tr, labels=y_tr),
                  eval_dataset=ArrayDataset(**dict(zip(("keypoints_2d", "labels"), _tensors(model, val, recipe.task)))),
                  resume=resume, progress=progress)
    if not trainer.is_world_process_zero():
        return None
    model = trainer.accelerator.unwrap_model(trainer.model).eval()
    eval_hz = recipe.get("data", "eval_hz")
    test = val if eval_hz == hz else load_lifting_split("test", sample_hz=eval_hz, detections=det,
                                                        detections_name=det_name, **kw)
    run = LifterRun(out, model, recipe, {}, log_history=list(trainer.state.log_history), train_rows=len(train))
    _finish(run, train, test, kw, input_2d="Det." if det is not None else "GT",
            model_name=model_name, data_label=data_label_for(h36m_root, annotations))
    run.seconds = time.perf_counter() - start
    return run


def _read_detections(path) -> tuple[dict | None, str]:
    if path is None:
        return None, ""
    from simspine_hub.benchmark.leaderboard import read_predictions

    return read_predictions(path), str(path)


def _data_kwargs(recipe: Recipe, h36m_root, annotations, cache_dir) -> dict:
    """Builder arguments; subject lists equal to the protocol's defaults are left out (shared datasets cache)."""
    kw = {"h36m_root": h36m_root, "annotations": annotations, "cache_dir": cache_dir}
    for key, default in (("train_subjects", h36m.TRAIN_SUBJECTS), ("test_subjects", h36m.TEST_SUBJECTS)):
        value = recipe.get("data", key)
        if value is not None and tuple(value) != tuple(default):
            kw[key] = tuple(value)
    return kw


def _finish(run: LifterRun, train: LiftingSplit, test: LiftingSplit, kw: dict, input_2d: str,
            model_name: str | None, data_label: str) -> None:
    """Save the model, evaluate it and the reference rows, write results, recipe, curve and card."""
    from simspine_hub.benchmark.leaderboard import save_results

    recipe, task, out = run.recipe, run.recipe.task, run.out
    kp = recipe.get("model", "keypoints")
    name = model_name or (f"SimpleBaseline3D {kp} ({input_2d} 2D)" if task == "lifting"
                          else f"SimpleBaseline3D-angles {kp} ({input_2d} 2D)")
    run.model.save_pretrained(out)
    gt_kw, train_kw = dict(kw), dict(kw)                # frame_stride left out when 1 (shared datasets cache)
    for kwargs, key in ((gt_kw, "eval_hz"), (train_kw, "sample_hz")):
        if frame_stride(recipe.get("data", key)) > 1:
            kwargs["frame_stride"] = frame_stride(recipe.get("data", key))
    pred = predict(run.model, test, task)
    gt = evaluation.ground_truth(task, "test", **gt_kw)
    if task == "lifting":
        table = evaluation.lifting_predictions(test, pred)
        refs = evaluation.lifting_references(train, test)
    else:
        table = evaluation.angles_predictions(test, pred)
        refs = evaluation.angles_references(table, evaluation.ground_truth(task, "train", **train_kw), gt, name)
    run.result = evaluation.score(task, table, gt, label=name, data_label=data_label)
    run.references = [evaluation.score(task, t, gt, label=lbl, data_label=data_label) for lbl, t in refs]
    save_results(out / "results.json", run.result)
    for slug, res in zip(("mean_pose", "coupling", "own_coupling"), run.references):
        save_results(out / f"reference_{slug}.results.json", res)
    write_text(out / "recipe.yaml", recipe.to_yaml())
    plot_learning_curve(run.log_history, out / "learning_curve.png", f"{name} — {data_label}")
    last = [r for r in run.log_history if "train_runtime" in r]
    summary = {"training rows": run.train_rows, "optimizer steps": max((r.get("step", 0) for r in run.log_history),
                                                                       default=0)}
    if last:
        summary["train runtime (s)"] = round(last[-1]["train_runtime"], 1)
    write_model_card(out, model_name=name, recipe=recipe, result=run.result, references=run.references,
                     input_2d=input_2d, summary=summary)
