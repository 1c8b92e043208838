import subprocess
import sys
from pathlib import Path

from huggingface_hub import DatasetCard, ModelCard

ROOT = Path(__file__).resolve().parent.parent


def test_dataset_card_is_valid_and_current():
    card = DatasetCard.load(ROOT / "loading_scripts/simspine/README.md")
    assert card.data.license == "other" and {c["config_name"] for c in card.data.configs} == {"spine15", "full37", "views2d"}
    res = subprocess.run([sys.executable, "tools/make_dataset_card.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_model_cards_are_valid_current_and_marked_as_reported():
    names = {p.stem for p in (ROOT / "model_cards").glob("*.md")}
    assert {"spinepose-s", "spinepose-m-ft", "hrnet-w32", "rtmpose-m", "vitpose-b", "lifter-full37"} <= names
    for name in names:
        card = ModelCard.load(ROOT / "model_cards" / f"{name}.md")
        results = card.data.to_dict()["model-index"][0]["results"][0]
        assert results["source"]["name"] == "reported by the paper" and results["metrics"]
    res = subprocess.run([sys.executable, "tools/make_model_cards.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_push_to_hub_dry_run_offline(tmp_path):
    from simspine_hub.models import create_model

    create_model("lifter-spine15").save_pretrained(tmp_path / "m")
    _trainer_outputs(tmp_path / "m")                               # a training output folder as --model-dir
    res = subprocess.run([sys.executable, "tools/push_to_hub.py", "--model-dir", str(tmp_path / "m"), "--card",
                          "lifter-spine15", "--repo-id", "someone/lifter", "--dry-run"], cwd=ROOT, capture_output=True,
                         text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "README.md" in res.stdout and "model.safetensors" in res.stdout and "config.json" in res.stdout
    assert not any(w in res.stdout for w in ("checkpoint", "tensorboard", "optimizer.pt", "tfevents")), res.stdout
    bad = subprocess.run([sys.executable, "tools/push_to_hub.py", "--model-dir", str(tmp_path), "--card", "lifter-spine15",
                          "--repo-id", "x/y", "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "model.safetensors" in bad.stderr


def _trainer_outputs(folder: Path) -> None:
    """What the Trainer adds to a training output folder: checkpoints (optimizer state) and TensorBoard events."""
    for rel in ("checkpoints/checkpoint-2/optimizer.pt", "checkpoints/checkpoint-2/model.safetensors",
                "tensorboard/events.out.tfevents.1.host"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"\0" * 64)


def test_push_to_hub_never_uploads_checkpoints_or_tensorboard(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("push_to_hub", ROOT / "tools" / "push_to_hub.py")
    push = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(push)
    _trainer_outputs(tmp_path)
    for rel in ("model.safetensors", "config.json", "sub/kept.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert [name for name, _ in push.upload_files(tmp_path)] == ["config.json", "model.safetensors", "sub/kept.py"]
