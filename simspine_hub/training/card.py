"""What a training run leaves next to its weights: the model card (``README.md``, huggingface_hub ``ModelCard``
with a ``model-index`` of the measured results), the recipe (``recipe.yaml``) and the learning curve (PNG)."""

from __future__ import annotations

import os
from pathlib import Path

from simspine_hub.benchmark.leaderboard import format_table, model_index
from simspine_hub.io.files import save_png, write_text
from simspine_hub.training.recipe import Recipe

__all__ = ["write_model_card", "plot_learning_curve", "card_model_index"]

_PAPER = ("SIMSPINE: A Biomechanics-Aware Simulation Framework for 3D Spine Motion Annotation and Benchmarking "
          "(Khan & Stricker)")


def card_model_index(result: dict, model_name: str) -> list[dict]:
    """The leaderboard's ``model-index`` entry, kept to what ``huggingface_hub`` validates (a ``source`` needs a
    URL there, and a local run has none: the dataset name carries the data label instead)."""
    entries = model_index(result, model_name)
    for entry in entries:
        for res in entry["results"]:
            if "url" not in res.get("source", {}):
                res.pop("source", None)
    return entries


def _recipe_table(recipe: Recipe) -> str:
    rows = ["| setting | value | source |", "|---|---|---|"]
    rows += [f"| `{k}` | `{v}` | {s} |" for k, v, s in recipe.rows()]
    return "\n".join(rows)


def write_model_card(out: str | os.PathLike, *, model_name: str, recipe: Recipe, result: dict,
                     references: list[dict] = (), input_2d: str = "GT", summary: dict | None = None) -> Path:
    """Write ``out/README.md``: YAML metadata + ``model-index`` (the measured ``result``), then what was trained,
    on which data, the tables in the paper's layout, reference rows, the recipe with sources and the log."""
    import yaml
    from huggingface_hub import ModelCard, ModelCardData

    data_label = result["data"]
    twin = data_label == "twin"                  # weights from the package's own synthetic data: Apache-2.0
    meta = ModelCardData(license="apache-2.0" if twin else "other", license_name=None if twin else "simspine-academic",
                         library_name="transformers", model_name=model_name,
                         datasets=None if twin else ["dfki-av/simspine"],
                         tags=["simspine", "spine", "pose-lifting", "biomechanics", "simspine-hub", recipe.task]
                         + (["synthetic-twin"] if twin else [])).to_dict()
    meta = {k: v for k, v in meta.items() if v is not None}
    meta["model-index"] = card_model_index(result, model_name)
    twin_note = ("**All numbers on this card are twin results**: trained and evaluated on the package's synthetic "
                 "twin, not on SIMSPINE/Human3.6M; they check the pipeline, not the paper's claims.\n\n"
                 if twin else "")
    refs = "\n".join(format_table(r) for r in references) or "(none)"
    summary = summary or {}
    body = f"""
# {model_name}

{recipe.description}

Trained with `simspine train lifter` (simspine-hub) following the recipe `{recipe.name}` ({_PAPER}, Sec. 4.3
for lifting). 2D input: **{input_2d}**. Data: **{data_label}**.

{twin_note}## Use

```python
import simspine_hub.models, transformers               # registers the model types
model = transformers.AutoModel.from_pretrained("<this folder or repo>")
```

Input: `keypoints_2d` (batch, K, 2) camera-normalised 2D (`simspine_hub.models.lifter.normalize_screen`), in the
keypoint order of `config.keypoints`. The standardisation statistics are buffers inside `model.safetensors`.
`simspine infer VIDEO --model <2d model> --lifter <this folder>` lifts a video's last frame.

## Results ({data_label}, test split {result.get('frames', '?')} rows)

{format_table(result)}

### Reference rows (same evaluation)

{refs}

## Training

{", ".join(f"{k}: {v}" for k, v in summary.items())}

The full log is `training_log.csv` (every logged step; TensorBoard events in `tensorboard/` when enabled), the
learning curve `learning_curve.png`, the recipe as run `recipe.yaml`.

{_recipe_table(recipe)}

## Licence and limits

SIMSPINE annotations are under the authors' academic licence and need a Human3.6M licence; weights trained on
them inherit those terms. The training code (simspine-hub) is Apache-2.0. Labels are simulation-derived
(OpenSim), not measured in vivo; not for diagnosis.
"""
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body
    card = ModelCard(text)                      # parses and validates the metadata (model-index included)
    path = Path(out) / "README.md"
    write_text(path, str(card))
    return path


def plot_learning_curve(log_history: list[dict], path: str | os.PathLike, title: str) -> Path:
    """Training loss per logged step and test-split loss per evaluation (standardised MSE) -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in log_history if "loss" in r]
    val = [(r["step"], r["eval_loss"]) for r in log_history if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    if train:
        ax.plot(*zip(*train), label="training loss", color="tab:blue")
    if val:
        ax.plot(*zip(*val), "o-", label="test-split loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (standardised MSE)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    if train or val:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
