"""Publish a model folder to the hub: save_pretrained output + its model card, uploaded with huggingface_hub.

    python tools/push_to_hub.py --model-dir outputs/spinepose-m --card spinepose-m --repo-id you/spinepose-m [--dry-run]

The staged folder is the model re-saved with ``save_pretrained``: ``config.json`` (with ``auto_map``),
``model.safetensors`` and the modelling code (the family file and the files it imports relatively, e.g.
``rtmpose.py``, ``_base.py``, ``_registry.py``, ``_constants.py``), so hub users load it with transformers alone:
``AutoModel.from_pretrained("you/spinepose-m", trust_remote_code=True)``. ViTPose is transformers' own class
and needs no code. ``--dry-run`` validates the folder (loads it with the Auto classes, parses the card) and
prints what would be uploaded, without any network access.

A training output folder (``simspine train ...``) works as ``--model-dir``: only the re-saved model and the card are
staged, and :data:`IGNORE_PATTERNS` (the Trainer's ``checkpoints/`` and ``tensorboard/``) are never uploaded.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import ModelCard

CARDS = Path(__file__).resolve().parent.parent / "model_cards"
#: Never uploaded, even if the staged folder held them: what the Trainer writes into a training output folder
#: (checkpoints with optimizer state, TensorBoard events). huggingface_hub ``upload_folder`` patterns.
IGNORE_PATTERNS = ["checkpoints/*", "tensorboard/*"]


def upload_files(stage: Path) -> list[tuple[str, int]]:
    """(path relative to ``stage``, bytes) of each file ``upload_folder`` sends from ``stage``, with
    :data:`IGNORE_PATTERNS` applied the way huggingface_hub applies them."""
    from huggingface_hub.utils import filter_repo_objects

    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    return [(f, (stage / f).stat().st_size) for f in filter_repo_objects(files, ignore_patterns=IGNORE_PATTERNS)]


def plan(model_dir: Path, card: str) -> tuple[Path, list[tuple[str, int]]]:
    """Stage the upload in a temporary folder: the model re-saved (weights, config with ``auto_map``, modelling
    code) plus README.md (the card); validate both."""
    import transformers

    import simspine_hub.models  # noqa: F401  (registers our model types)

    card_path = CARDS / f"{card}.md"
    if not card_path.is_file():
        raise FileNotFoundError(f"{card_path}: no such model card; choose one of {sorted(p.stem for p in CARDS.glob('*.md'))}")
    ModelCard.load(card_path)                                       # parses and validates the YAML
    if not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"{model_dir}: no model.safetensors; write it with save_pretrained")
    transformers.AutoConfig.from_pretrained(model_dir)             # config.json resolves to our classes
    model = transformers.AutoModel.from_pretrained(model_dir)       # the weights fit the config
    stage = Path(tempfile.mkdtemp(prefix="push_"))
    model.save_pretrained(stage)                                    # + auto_map and the modelling code
    shutil.copy(card_path, stage / "README.md")
    return stage, upload_files(stage)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--card", required=True)
    p.add_argument("--repo-id", required=True)
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    stage, files = plan(args.model_dir, args.card)
    print(f"{'would upload' if args.dry_run else 'uploading'} to {args.repo_id}:")
    for name, size in files:
        print(f"  {name}  {size:,} bytes")
    if not args.dry_run:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(args.repo_id, private=args.private, exist_ok=True)
        api.upload_folder(repo_id=args.repo_id, folder_path=str(stage), commit_message=f"Upload {args.card}",
                          ignore_patterns=IGNORE_PATTERNS)
    shutil.rmtree(stage, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
