"""Generate (or check) loading_scripts/simspine/README.md, the dataset card, with huggingface_hub.DatasetCard.

    python tools/make_dataset_card.py          # write the card
    python tools/make_dataset_card.py --check  # fail if the committed card differs or its YAML is invalid
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

CARD_PATH = Path(__file__).resolve().parent.parent / "loading_scripts" / "simspine" / "README.md"

BODY = """
# SIMSPINE

Biomechanics-aware 3D spine annotations for Human3.6M (Khan & Stricker, DFKI): 15 simulated spine points
per frame (sacrum to skull, clavicles, shoulder blades) and the 62 coordinates of a lumbar-detailed
OpenSim model, for 2.14 M frames (1.56 M train, 0.58 M test), 7 subjects, 15 actions.

**Human3.6M is required and is not redistributed.** The 12 limb points come from your own licensed copy;
`simspine_hub` joins them at build time. Face and feet points come from H3WB (`h3wb_root=`, MIT) on the frames
it annotates, otherwise from forward kinematics of the released kinematics on the released scaled models.

## Loading

```python
from simspine_hub import load_dataset  # datasets >= 4: the builder class is instantiated for you
ds = load_dataset("simspine", "full37", h36m_root="/data/h36m", annotations="/data/simspine")
```

On `datasets` < 4, `datasets.load_dataset("loading_scripts/simspine", "full37", h36m_root=..., annotations=...)`
runs the same builder from `simspine.py`.

## Configs and fields

| config | rows | fields |
|---|---|---|
| `spine15` | one per frame | `keypoints_3d` (15, 3), `kinematics` (62) |
| `full37` | one per frame | `keypoints_3d` (37, 3), `keypoints_source` (37), `kinematics` (62) |
| `views2d` | one per frame and camera | `camera`, `keypoints_2d` (37, 2), `visibility` (37), `bbox` (4), `image_path`, optional `image` |

Every row also has `subject`, `action` (normalised Human3.6M name), `subaction`, `sequence` (the Human3.6M
file stem), `frame` (0-based Human3.6M frame index) and `timestamp` (seconds, 50 Hz).

Units: `keypoints_3d` world millimetres, Z-up (Human3.6M frame); `kinematics` degrees for rotations,
metres for `pelvis_t*` and `Abs_t*`; `keypoints_2d` and `bbox` (`[x, y, w, h]`, tight box of the visible
points scaled 1.25x about its centre) in pixels. `keypoints_source`: missing, simspine, human36m, h3wb, fk.
spine15 order: Hip, Spine_01..05, Neck, Neck_02, Neck_03, Head, Nose, LLatissimus, RLatissimus, LClavicle,
RClavicle; full37 uses the SpineTrack order.

## Splits

train: S1, S5, S6, S7, S8; test: S9, S11 (configurable with `train_subjects=` / `test_subjects=`).

## Frames and images

`frame` is always the 0-based Human3.6M frame index. `image_path` (`views2d`) names the extracted image of that
frame under the convention chosen with `image_naming=`, named after who writes the images:

| `image_naming` | written by | frame `i` of `S1/Walking 1`, camera `54138969` | images exist for |
|---|---|---|---|
| `simspine` (default) | the SIMSPINE authors' converter (`tools/preprocess_simspine.py`) | `S1/S1_Walking_1.54138969/S1_Walking_1.54138969_{i:06d}.jpg` | every frame |
| `mmpose` | mmpose's Human3.6M extraction (`tools/dataset_converters/preprocess_h36m.py`) | `S1/S1_Walking_1.54138969/S1_Walking_1.54138969_{i+1:06d}.jpg` | every 5th frame (`i % 5 == 0`; other rows get null, use `frame_stride=5`) |

With `decode_frames=True` (`views2d`), frames are decoded from your Human3.6M videos. S11 `Directions`
(that exact sequence, not `Directions 1`) has no camera `54138969` view: its video is broken in the release.

## Citation

```bibtex
@article{khan2025simspine,
  title  = {SIMSPINE: A Biomechanics-Aware Simulation Framework for 3D Spine Motion Annotation and Benchmarking},
  author = {Khan, Muhammad Saif Ullah and Stricker, Didier},
  year   = {2025}
}
```
"""


def make_card() -> DatasetCard:
    data = DatasetCardData(
        pretty_name="SIMSPINE",
        license="other",
        license_name="simspine-academic",
        license_details="SIMSPINE annotations: academic licence from the authors. Human3.6M is licensed "
                        "separately by its owners, is needed to build the full samples and is not redistributed.",
        task_categories=["keypoint-detection"],
        tags=["human-pose", "3d-pose", "spine", "biomechanics", "opensim", "human3.6m"],
        size_categories=["1M<n<10M"],
        language=["en"],
        extra_gated_prompt="You need a Human3.6M licence and agree to the SIMSPINE academic licence.",
        extra_gated_fields={"Affiliation": "text", "I have a Human3.6M licence": "checkbox"},
        configs=[{"config_name": n, "data_files": [{"split": s, "path": f"{n}/{s}-*.parquet"}
                                                    for s in ("train", "test")]}
                 for n in ("spine15", "full37", "views2d")],
    )
    return DatasetCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + BODY)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    card = make_card()
    if args.check:
        committed = DatasetCard.load(CARD_PATH)  # parses and validates the YAML
        if committed.content.strip() != card.content.strip():
            print(f"{CARD_PATH} is stale; run python tools/make_dataset_card.py", file=sys.stderr)
            return 1
        print("dataset card up to date")
        return 0
    CARD_PATH.write_text(card.content)
    print(CARD_PATH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
