"""What a 2D training run leaves next to its weights: results JSONs, the recipe, the loss curve (with the
curriculum's stage switches marked) and the model card, whose ``model-index`` holds the Table 2 row: AUC on the
SIMSPINE test views (leaderboard ``2d`` task) and AP/AR body / spine on the val file when one was given."""

from __future__ import annotations

import os
from pathlib import Path

from simspine_hub.benchmark.leaderboard import format_table, save_results
from simspine_hub.benchmark.tasks import get_task
from simspine_hub.io.files import save_png, write_text
from simspine_hub.training.card import _PAPER, _recipe_table, card_model_index
from simspine_hub.training.eval2d import TABLE2_COCO

__all__ = ["finish_2d", "save_run_results", "write_card_2d", "plot_loss_curve_2d", "table2_markdown",
           "coco_model_index"]


def coco_model_index(coco: dict) -> dict:
    """A ``model-index`` result entry for AP/AR on a SpineTrack-format val file."""
    return {"task": {"type": "keypoint-detection", "name": "2D body + spine keypoints (Table 2)"},
            "dataset": {"type": "spinetrack", "name": coco["dataset"], "split": "val"},
            "metrics": [{"type": k.lower(), "name": k.replace("_", "^"), "value": round(float(coco[k]), 4),
                         "verified": False} for k in TABLE2_COCO]}


def _cell(res: dict | None, key: str) -> str:
    return f"{res[key]:.3f}" if res is not None and key in res else "–"


def table2_markdown(rows: list[tuple[str, dict | None, dict | None]], coco_name: str, simspine_name: str) -> str:
    """Table 2's layout: (method, SpineTrack-format AP/AR dict or None, SIMSPINE 2d result or None) rows."""
    lines = [f"| Method | AP^B | AR^B | AP^S | AR^S ({coco_name}) | AUC ({simspine_name}) |",
             "|---|---|---|---|---|---|"]
    for name, coco, res in rows:
        lines.append(f"| {name} | " + " | ".join(_cell(coco, k) for k in TABLE2_COCO) + f" | {_cell(res, 'AUC')} |")
    return "\n".join(lines)


def plot_loss_curve_2d(log_history: list[dict], path: str | os.PathLike, title: str) -> Path:
    """Training loss per logged step, the curriculum stage switches marked -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in log_history if "loss" in r]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    if rows:
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="tab:blue", label="training loss")
        for prev, cur in zip(rows, rows[1:]):
            if cur.get("curriculum_stage") != prev.get("curriculum_stage"):
                ax.axvline(cur["step"], color="tab:gray", ls="--", lw=0.8)
                ax.text(cur["step"], 0.98, f" stage {cur.get('curriculum_stage')}", transform=ax.get_xaxis_transform(),
                        fontsize=7, va="top")
        if all(r["loss"] > 0 for r in rows):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (the family's: SimCC KL or heatmap MSE)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


_TWIN_NOTE = ("**All numbers on this card are twin results**: trained and evaluated on the package's synthetic "
              "twin (its rendered videos; a twin COCO file stands in for SpineTrack), not on SIMSPINE, Human3.6M "
              "or SpineTrack; they check the pipeline, not the paper's claims.\n\n")

#: The card's body; ``str.format`` fields, filled by :func:`write_card_2d`.
_BODY = """
# {model_name}

{description}

Trained with `simspine train 2d` (simspine-hub) following the recipe `{recipe_name}` ({paper}, Sec. 4.1, 4.4 and
Supplementary A). Data: **{data_label}**.

{twin_note}## Use

```python
import simspine_hub.models, transformers               # registers the model types
model = transformers.AutoModel.from_pretrained("<this folder or repo>")
```

or `simspine infer IMAGE_OR_VIDEO --model <this folder>`. Input: (batch, 3, H, W) crops of a person box padded
1.25 (`simspine_hub.models.processing.PoseImageProcessor`); 37 keypoints in the SpineTrack order.

## Results (Table 2 layout, {data_label} data)

{table2}

{simspine_table}

The paper's AUC values (SIMSPINE test, reported, reference only):

| Method | AUC | source |
|---|---|---|
{references}

## Training data

{sources}

## Training

{summary}

The full log is `training_log.csv` (loss, learning rate, curriculum stage and batch share per source at every
logged step; TensorBoard events in `tensorboard/` when enabled), the loss curve `loss_curve.png`, the recipe as
run `recipe.yaml`.

{recipe_table}

## Licence and limits

SIMSPINE annotations are under the authors' academic licence and need a Human3.6M licence; SpineTrack has its own
terms; weights trained on them inherit those terms. The training code (simspine-hub) is Apache-2.0. SIMSPINE labels
are simulation-derived (OpenSim), not measured in vivo; not for diagnosis.
"""


def _card_metadata(run, model_name: str, twin: bool) -> dict:
    """The card's YAML metadata: licence, tags and the ``model-index`` (SIMSPINE AUC, AP/AR on the val file)."""
    from huggingface_hub import ModelCardData

    meta = ModelCardData(license="apache-2.0" if twin else "other", license_name=None if twin else "simspine-academic",
                         library_name="transformers", model_name=model_name, datasets=["dfki-av/simspine"],
                         tags=["simspine", "spine", "keypoint-detection", "pose-estimation", "simspine-hub", "2d"]
                         + (["synthetic-twin"] if twin else [])).to_dict()
    meta = {k: v for k, v in meta.items() if v is not None}
    results = []
    if run.result is not None:
        results += card_model_index(run.result, model_name)[0]["results"]
    if run.coco is not None:
        results.append(coco_model_index(run.coco))
    if results:
        meta["model-index"] = [{"name": model_name, "results": results}]
    return meta


def _card_table2(run, model_name: str, data_label: str) -> str:
    """Table 2 rows of the run: the initial weights (when evaluated) and the fine-tuned ones."""
    rows = []
    if run.before:
        rows.append((f"{run.recipe.get('model', 'variant')} (before fine-tuning)", run.before.get("coco"),
                     run.before.get("simspine")))
    rows.append((model_name, run.coco, run.result))
    coco_name = run.coco["dataset"] if run.coco else "no val file"
    return table2_markdown(rows, coco_name, f"{data_label} test views")


def _card_sources(sources: list[dict]) -> str:
    """One bullet per training source: its name, persons and the rest of its summary."""
    return "\n".join(f"- `{s['name']}`: {s['rows']} persons ("
                     + ", ".join(f"{k}: {v}" for k, v in s.items() if k not in ("name", "rows")) + ")"
                     for s in sources)


def write_card_2d(run, *, model_name: str, data_label: str, summary: dict) -> Path:
    """``out/README.md``: metadata with the ``model-index`` (Table 2 row), results, data, recipe and log."""
    import yaml
    from huggingface_hub import ModelCard

    twin = data_label == "twin"
    body = _BODY.format(
        model_name=model_name, description=run.recipe.description, recipe_name=run.recipe.name, paper=_PAPER,
        data_label=data_label, twin_note=_TWIN_NOTE if twin else "",
        table2=_card_table2(run, model_name, data_label),
        simspine_table=(format_table(run.result) if run.result is not None
                        else "(no SIMSPINE evaluation: no --h36m-root / --annotations)"),
        references="\n".join(f"| {r.method} | {r.values['AUC']:.3f} | {r.source} |"
                              for r in get_task("2d").references),
        sources=_card_sources(run.sources), summary=", ".join(f"{k}: {v}" for k, v in summary.items()),
        recipe_table=_recipe_table(run.recipe))
    meta = _card_metadata(run, model_name, twin)
    card = ModelCard("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)
    path = Path(run.out) / "README.md"
    write_text(path, str(card))
    return path


def _json(obj) -> str:
    import json

    return json.dumps(obj, indent=2, sort_keys=True, default=float)


def save_run_results(run) -> None:
    """``results.json`` (SIMSPINE 2d result), ``spinetrack_val.json`` and their ``*_before`` twins."""
    if run.result is not None:
        save_results(run.out / "results.json", run.result)
    if run.coco is not None:
        write_text(run.out / "spinetrack_val.json", _json(run.coco))
    if run.before.get("simspine") is not None:
        save_results(run.out / "results_before.json", run.before["simspine"])
    if run.before.get("coco") is not None:
        write_text(run.out / "spinetrack_val_before.json", _json(run.before["coco"]))


def finish_2d(run, *, model_name: str, data_label: str) -> None:
    """Write the results, the recipe, the loss curve and the card of a finished run."""
    name = model_name
    save_run_results(run)
    write_text(run.out / "recipe.yaml", run.recipe.to_yaml())
    plot_loss_curve_2d(run.log_history, run.out / "loss_curve.png", f"{name} — {data_label}")
    steps = max((r.get("step", 0) for r in run.log_history), default=0)
    summary = {"optimizer steps": steps, "training crops/s": round(run.crops_per_second, 1),
               "wall time (s)": round(run.seconds, 1)}
    write_card_2d(run, model_name=name, data_label=data_label, summary=summary)
