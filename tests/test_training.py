"""simspine_hub.training: recipes, the Trainer loop (overfit, resume), `simspine train lifter` end to end on the
tiny twin (saved folder reloads and scores through the leaderboard, works in `simspine infer --lifter`), the
angle lifter, and one clear error per bad input."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModel, TrainerCallback, set_seed

import simspine_hub.models  # noqa: F401  (registers the Auto classes)
from simspine_hub import skeleton
from simspine_hub.benchmark.leaderboard import evaluate, load_ground_truth
from simspine_hub.models import create_model
from simspine_hub.training import evaluation
from simspine_hub.training.lifter import predict, train_lifter
from simspine_hub.training.lifting_data import LiftingDataError, load_lifting_split
from simspine_hub.training.recipe import RecipeError, list_recipes, load_recipe
from simspine_hub.training.trainer import LOG_CSV, ArrayDataset, fit

TINY = {"model": {"hidden": 32}, "training": {"report_to": [], "logging_steps": 1, "eval_strategy": "no"},
        "data": {"sample_hz": 50.0}}


@pytest.fixture(scope="module")
def splits(kw):
    return {s: load_lifting_split(s, sample_hz=None, **kw) for s in ("train", "test")}


def _recipe(**training):
    base = {"report_to": [], "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no"}
    return load_recipe("lifter-spine15").override("training", **{**base, **training})


def _tiny_model(split, dropout=0.5):
    set_seed(0)
    model = create_model("lifter-spine15", hidden=32, dropout=dropout)
    x = split.normalized_2d(model.config.keypoints)
    y = torch.from_numpy(split.keypoints_3d[:, list(model.config.keypoints)])
    model.set_statistics(x, y)
    return model, x, y


def _losses(trainer):
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_every_shipped_recipe_names_a_source_for_every_value(tmp_path):
    assert {"lifter-full37", "lifter-spine15", "lifter-angles"} <= set(list_recipes())
    for name in list_recipes():
        recipe = load_recipe(name)
        assert recipe.rows() and all(src.strip() for _, _, src in recipe.rows())
        if recipe.task in ("lifting", "angles"):
            assert recipe.get("data", "sample_hz") == 1.0                    # the paper's 1 Hz
    bad = yaml.safe_load(load_recipe("lifter-full37").to_yaml())
    bad["training"]["learning_rate"] = {"value": 1e-3}                       # no source
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(RecipeError, match=r"training\.learning_rate must be \{value: \.\.\., source"):
        load_recipe(tmp_path / "bad.yaml")


def test_loss_falls_on_a_fixed_batch(splits, tmp_path):
    model, x, y = _tiny_model(splits["train"], dropout=0.0)
    batch = ArrayDataset(keypoints_2d=x[:32].repeat(8, 1, 1), labels=y[:32].repeat(8, 1, 1))  # one batch, 8 times
    trainer = fit(model, _recipe(max_steps=40, per_device_train_batch_size=256, learning_rate=3e-3), tmp_path / "run",
                  batch, progress=False)
    losses = _losses(trainer)
    assert len(losses) == 40 and losses[-1] < 0.1 * losses[0]


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def test_resume_continues_with_the_uninterrupted_losses(splits, tmp_path):
    def run(out, resume=False, stop=None):
        model, x, y = _tiny_model(splits["train"])
        recipe = _recipe(max_steps=6, per_device_train_batch_size=16, save_strategy="steps", save_steps=3)
        return fit(model, recipe, out, ArrayDataset(keypoints_2d=x, labels=y), resume=resume, progress=False,
                   callbacks=[_StopAt(stop)] if stop else [])

    whole = _losses(run(tmp_path / "a"))
    first = _losses(run(tmp_path / "b", stop=3))
    assert len(first) == 3 and (tmp_path / "b" / "checkpoints" / "checkpoint-3").is_dir()
    resumed = run(tmp_path / "b", resume=True)
    np.testing.assert_allclose(_losses(resumed), whole, rtol=1e-6)
    with open(tmp_path / "b" / LOG_CSV) as f:
        assert [int(r["step"]) for r in csv.DictReader(f) if r["loss"]] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(tmp_path / "c", resume=True)


def test_cli_trains_a_folder_that_reloads_scores_and_lifts(kw, tmp_path, twin_root, capsys):
    from simspine_hub.apps.cli import main

    out = tmp_path / "lifter"
    assert main(["-q", "train", "lifter", "--twin", str(twin_root), "--config", "spine15", "--out", str(out),
                 "--max-steps", "150", "--sample-hz", "50", "--cache-dir", str(kw["cache_dir"]),
                 "--set", "training.save_strategy=no", "--set", "training.eval_strategy=no",
                 "--set", "model.hidden=128"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "results.json", "recipe.yaml", LOG_CSV,
            "learning_curve.png", "reference_mean_pose.results.json", "tensorboard"} <= names
    assert "(twin results" in capsys.readouterr().out
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    result = json.loads((out / "results.json").read_text())
    metric = {m["name"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metric["P-MPJPE"] == pytest.approx(result["P-MPJPE"], abs=1e-3) and "twin results" in card
    assert "max_steps" in card and "command line" in (out / "recipe.yaml").read_text()
    ref = json.loads((out / "reference_mean_pose.results.json").read_text())    # the no-learning reference
    assert result["MPJPE"] < 0.8 * ref["MPJPE"] and result["P-MPJPE"] < ref["P-MPJPE"]

    model = AutoModel.from_pretrained(out).eval()                 # statistics come back from the folder
    assert float(model.std_3d.mean()) > 1.0 and float(model.mean_2d.abs().sum()) > 0
    test = load_lifting_split("test", sample_hz=None, **kw)
    res = evaluate("lifting", evaluation.lifting_predictions(test, predict(model, test, "lifting")),
                   load_ground_truth("lifting", "test", **kw), label="reloaded")
    assert res["P-MPJPE"] == pytest.approx(result["P-MPJPE"], rel=1e-6)

    import cv2

    frame = np.full((1002, 1000, 3), 40, np.uint8)
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    create_model("spinepose-s").save_pretrained(tmp_path / "pose")
    assert main(["-q", "infer", str(tmp_path / "frame.png"), "--model", str(tmp_path / "pose"), "--lifter", str(out),
                 "--out", str(tmp_path / "infer")]) == 0
    assert (tmp_path / "infer" / "lifted_3d.png").stat().st_size > 0


def test_angle_lifter_trains_one_step_and_scores_with_references(kw, tmp_path):
    run = train_lifter("angles", max_steps=1, out=tmp_path / "angles", overrides=TINY, progress=False, **kw)
    res = run.result
    assert res["task"] == "angles" and np.isfinite(res["MAE"]) and res["data"] == "twin"
    mean_pose, coupling, own = run.references
    assert mean_pose["model"] == "mean training pose" and "L5_S1-driven" in coupling["model"]
    # the twin's kinematics obey the model's couplers: true L5_S1 + couplers reproduce all 18 lumbar axes
    assert coupling["MAE_by_group"]["lumbar"] < 1e-6 and mean_pose["MAE_by_group"]["lumbar"] > 0.01
    assert own["MAE_by_group"]["lumbar_L5S1"] == pytest.approx(res["MAE_by_group"]["lumbar_L5S1"])
    reloaded = AutoModel.from_pretrained(tmp_path / "angles").eval()
    kin = reloaded(keypoints_2d=torch.zeros(2, 37, 2)).kinematics
    rot = torch.tensor(np.asarray(skeleton.ROTATIONAL))
    assert kin.shape == (2, 62) and kin[:, rot].abs().max() <= 180.0


def test_angles_table_averages_cameras_on_the_circle(splits):
    test = splits["test"]
    kin = np.zeros((len(test), 62))
    rot, trans = np.flatnonzero(skeleton.ROTATIONAL), np.flatnonzero(~np.asarray(skeleton.ROTATIONAL))
    first_cam = test.camera == test.camera[0]
    kin[:, rot] = np.where(first_cam, 179.0, -179.0)[:, None]        # cameras disagree across the wrap
    kin[:, trans] = np.where(first_cam, 10.0, 30.0)[:, None]
    n_cams = len(np.unique(test.camera))
    table = evaluation.angles_predictions(test, kin)
    assert n_cams == 4 and len(table["frame"]) == len(test) // n_cams
    # the mean of unit vectors: one at +179 deg, three at -179 deg -> about -179.5 (the arithmetic mean: -89.5)
    expected = np.rad2deg(np.angle(np.exp(1j * np.deg2rad(179.0)) + 3 * np.exp(-1j * np.deg2rad(179.0))))
    assert expected == pytest.approx(-179.5, abs=0.01)
    np.testing.assert_allclose(table["kinematics"][:, rot], expected, atol=1e-9)
    np.testing.assert_allclose(table["kinematics"][:, trans], (10.0 + 3 * 30.0) / 4)


def test_fast_ground_truth_equals_the_leaderboards(kw):
    for task in ("lifting", "angles"):
        fast, ref = evaluation.ground_truth(task, "test", **kw), load_ground_truth(task, "test", **kw)
        assert np.array_equal(fast.keys.subject, ref.keys.subject) and np.array_equal(fast.keys.frame, ref.keys.frame)
        np.testing.assert_array_equal(fast.target, ref.target)


def test_the_loss_ignores_the_root_and_unlabelled_values():
    torch.manual_seed(0)
    model = create_model("lifter-spine15", hidden=16).eval()
    x, y = torch.randn(4, 15, 2), torch.randn(4, 15, 3) * 100
    base = model(keypoints_2d=x, labels=y).loss
    y_root = y.clone()
    y_root[:, model.root_index] += 1e3
    assert torch.equal(model(keypoints_2d=x, labels=y_root).loss, base)
    y_nan = y.clone()
    y_nan[0, 3] = float("nan")
    assert torch.isfinite(model(keypoints_2d=x, labels=y_nan).loss)


def test_detections_file_with_missing_columns_or_rows(kw, splits, tmp_path):
    from simspine_hub.benchmark.leaderboard import save_predictions

    test = splits["test"]
    cols = {**test.columns(), "keypoints": test.keypoints_2d}
    save_predictions(tmp_path / "nocam.npz", **{k: v for k, v in cols.items() if k != "camera"})
    with pytest.raises(LiftingDataError, match=r"nocam.npz: missing columns \['camera'\]"):
        train_lifter("spine15", max_steps=1, out=tmp_path / "a", detections=tmp_path / "nocam.npz", overrides=TINY,
                     progress=False, **kw)
    save_predictions(tmp_path / "test_only.npz", **cols)               # the train split's rows are absent
    with pytest.raises(LiftingDataError, match=r"test_only.npz: no detections for \d+ of the \d+ train rows"):
        train_lifter("spine15", max_steps=1, out=tmp_path / "b", detections=tmp_path / "test_only.npz",
                     overrides=TINY, progress=False, **kw)


def test_empty_split_is_one_clear_error(kw, tmp_path):
    over = {**TINY, "data": {**TINY["data"], "train_subjects": ["S5"]}}    # the tiny twin has S1 and S9
    with pytest.raises(LiftingDataError, match=r"the train split is empty: no SIMSPINE sequence of subjects \('S5',\)"):
        train_lifter("spine15", max_steps=1, out=tmp_path / "x", overrides=over, progress=False, **kw)


def test_missing_statistics_buffer_is_one_clear_error(tmp_path):
    from safetensors.torch import load_file, save_file

    create_model("lifter-spine15", hidden=16).save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["std_3d"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"standardisation statistics \['std_3d'\] are missing"):
        AutoModel.from_pretrained(tmp_path)
