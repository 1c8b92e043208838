"""Generate model_cards/*.md from data with huggingface_hub.ModelCard (``--check``: verify they are current).

Each card: licence, base model, datasets, intended use and limits from the paper, and ``model-index`` results
marked as reported by the paper (``source``), with room for reproduced numbers (simspine evaluate --model-index).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

OUT = Path(__file__).resolve().parent.parent / "model_cards"
PAPER = "SIMSPINE: A Biomechanics-Aware Simulation Framework for 3D Spine Motion Annotation and Benchmarking (Khan & Stricker)"

# Numbers reported by the paper (Tables 2, 5); AP on SpineTrack, AUC on SIMSPINE.
CARDS = {
    "spinepose-s": {"arch": "SpinePose-s (RTMPose: CSPNeXt-s + RTMCC head)", "task": "2d", "paper": {"AP_B": 0.792, "AP_S": 0.896, "AUC": 0.611}},
    "spinepose-m": {"arch": "SpinePose-m (RTMPose: CSPNeXt-m + RTMCC head)", "task": "2d", "paper": {"AP_B": 0.840, "AP_S": 0.914, "AUC": 0.633}},
    "spinepose-l": {"arch": "SpinePose-l (RTMPose: CSPNeXt-l + RTMCC head)", "task": "2d", "paper": {"AP_B": 0.854, "AP_S": 0.910, "AUC": 0.633}},
    "spinepose-s-ft": {"arch": "SpinePose-s fine-tuned on SpineTrack + 2 % SIMSPINE", "task": "2d", "paper": {"AP_B": 0.788, "AP_S": 0.920, "AUC": 0.790}},
    "spinepose-m-ft": {"arch": "SpinePose-m fine-tuned on SpineTrack + 2 % SIMSPINE", "task": "2d", "paper": {"AP_B": 0.821, "AP_S": 0.928, "AUC": 0.798}},
    "spinepose-l-ft": {"arch": "SpinePose-l fine-tuned on SpineTrack + 2 % SIMSPINE", "task": "2d", "paper": {"AP_B": 0.840, "AP_S": 0.917, "AUC": 0.803}},
    "hrnet-w32": {"arch": "HRNet-w32 heatmap model, fine-tuned on SpineTrack + SIMSPINE", "task": "2d", "paper": {"AP_B": 0.776, "AP_S": 0.905, "AUC": 0.769}},
    "rtmpose-m": {"arch": "RTMPose-m, fine-tuned on SpineTrack + SIMSPINE", "task": "2d", "paper": {"AP_B": 0.832, "AP_S": 0.925, "AUC": 0.794}},
    "vitpose-b": {"arch": "ViTPose-b (transformers VitPoseForPoseEstimation), fine-tuned on SpineTrack + SIMSPINE", "task": "2d", "paper": {"AP_B": 0.835, "AP_S": 0.921, "AUC": 0.794}},
    "lifter-spine15": {"arch": "SimpleBaseline3D lifter trained on the 15 spine joints", "task": "lifting", "paper": {"P-MPJPE (GT 2D)": 17.52, "P-MPJPE (det. 2D)": 18.58}},
    "lifter-full37": {"arch": "SimpleBaseline3D lifter trained on all 37 joints", "task": "lifting", "paper": {"P-MPJPE (GT 2D)": 13.48, "P-MPJPE (det. 2D)": 16.28}},
}

BODY = """
# {name}

{arch}. A baseline of the SIMSPINE benchmark ({paper}), packaged for `simspine-hub`.

## Use

```python
import simspine_hub.models, transformers               # registers the model types
model = transformers.AutoModel.from_pretrained("<this repo or folder>")
```

or `simspine infer IMAGE_OR_VIDEO --model <this repo or folder>` (2D models). Weights are `model.safetensors`;
`tools/convert_checkpoint.py` converts the authors' mmpose `.pth` / spinepose `.onnx` files.

## Licence

The weights carry the licence their authors released them under (see the SIMSPINE / SpinePose
repositories of DFKI); SIMSPINE annotations are under the authors' academic licence and need a Human3.6M
licence. The packaging code (simspine-hub) is Apache-2.0.

## Intended use and limits (from the paper)

Research on vision-based spine motion analysis: 37 keypoints (SpineTrack order) including 9 vertebral-column
points. SIMSPINE labels are simulation-derived (OpenSim), not measured in vivo; the cervical and thoracic
spine are rigid segments with motion only at transition junctions; motions come from Human3.6M indoor
activities, so appearance diversity and clinical pathologies are out of scope. Not for diagnosis.

## Results

The `model-index` lists the numbers **reported by the paper** (source: the paper). Reproduced numbers go
next to them, produced with `simspine evaluate --model-index`.

| metric | reported by the paper | reproduced |
|---|---|---|
{rows}
"""


def make(name: str) -> ModelCard:
    spec = CARDS[name]
    metrics = [{"type": k.split(" ")[0].lower(), "name": k, "value": v, "verified": False} for k, v in spec["paper"].items()]
    data = ModelCardData(
        license="other", license_name="upstream-weights-licence",
        license_link="https://github.com/dfki-av/simspine", library_name="transformers", tags=["pose-estimation", "spine", "simspine", "biomechanics"],
        datasets=["dfki-av/simspine"], pipeline_tag="keypoint-detection" if spec["task"] == "2d" else None,
        model_name=name,
        eval_results=None,
    )
    card_yaml = data.to_dict()
    card_yaml["model-index"] = [{"name": name, "results": [{
        "task": {"type": "keypoint-detection" if spec["task"] == "2d" else "other", "name": f"SIMSPINE {spec['task']}"},
        "dataset": {"type": "simspine", "name": "SIMSPINE / SpineTrack (as reported)", "split": "test"},
        "metrics": metrics,
        "source": {"name": "reported by the paper", "url": "https://saifkhichi96.github.io/research/simspine/"}}]}]
    rows = "\n".join(f"| {k} | {v} | – |" for k, v in spec["paper"].items())
    import yaml

    text = "---\n" + yaml.safe_dump(card_yaml, sort_keys=False) + "---\n" + BODY.format(
        name=name, arch=spec["arch"], paper=PAPER, rows=rows)
    return ModelCard(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    stale = []
    for name in CARDS:
        card = make(name)
        path = OUT / f"{name}.md"
        if args.check:
            if not path.is_file() or ModelCard.load(path).content.strip() != card.content.strip():
                stale.append(name)
        else:
            OUT.mkdir(exist_ok=True)
            path.write_text(card.content)
    if stale:
        print(f"stale model cards: {stale}; run python tools/make_model_cards.py", file=sys.stderr)
        return 1
    print("model cards " + ("up to date" if args.check else f"written to {OUT}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
