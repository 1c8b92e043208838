"""2D training (issue 13): targets and losses against mmpose's numbers and hand computations, mixup batch composition,
the curriculum's stage switch in a real run, the loss falling on a fixed batch for each family, a CLI run that
writes a folder AutoModel loads and `simspine infer` runs, and resume from a checkpoint. Tiny models, the tiny twin."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModel, TrainerCallback

import simspine_hub.models  # noqa: F401  (registers the Auto classes)
from simspine_hub.models import codecs, create_model
from simspine_hub.models.targets import heatmap_targets, keypoint_mse_loss, kl_discret_loss, simcc_targets
from simspine_hub.training.augment2d import stage_for_epoch
from simspine_hub.training.callbacks2d import EmaCallback
from simspine_hub.training.data2d import Data2DError, SampleKey, TopdownDataset, simspine_rows
from simspine_hub.training.mixup import MixedBatchSampler, split_batch
from simspine_hub.training.recipe import RecipeError, load_recipe
from simspine_hub.training.trainer import warmup_cosine_factor
from simspine_hub.training.trainer2d import decay_parameter_names, family_loss, train_2d

#: crop keypoints (x, y) px of a 192x256 input: inside, at the edges, far left (SimCC drops it), right edge
KP = np.array([[[37.3, 101.7], [0.2, 255.6], [-20.0, 50.0], [191.4, 3.5]]], np.float32)
SMALL = {"input_size": (96, 64), "hidden_dims": 32, "s": 16}          # a SpinePose-s config small enough for tests
FAST = {"per_device_train_batch_size": 2, "dataloader_num_workers": 0, "report_to": [], "logging_steps": 1,
        "save_strategy": "no"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on shared cores OpenMP's spin-waiting makes two threads many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def coco(twin_root, tmp_path_factory):
    """A SpineTrack-format file of two twin persons (S9 frames) and its image folder."""
    from simspine_hub.twin.coco import write_twin_coco

    path = write_twin_coco(twin_root, tmp_path_factory.mktemp("coco"), ("S9",), stride=24)
    doc = json.loads(path.read_text())
    doc["annotations"] = doc["annotations"][:2]
    path.write_text(json.dumps(doc))
    return path


def test_every_2d_recipe_trains_its_family_with_sources():
    from simspine_hub.training.trainer2d import FAMILIES, resolve_recipe_2d

    for family, name in FAMILIES.items():
        recipe = resolve_recipe_2d(family)
        assert recipe.name == name and recipe.task == "2d" and recipe.get("model", "variant") == family
        assert all(src.strip() for _, _, src in recipe.rows())
        assert recipe.get("data", "simspine_fraction") == 0.02 and recipe.get("training", "num_train_epochs") == 10


def test_simcc_targets_match_mmpose():
    tx, ty, w = simcc_targets(torch.from_numpy(KP), torch.ones(1, 4), (256, 192), 2.0, (4.9, 5.66))
    tx, ty = tx[0].numpy(), ty[0].numpy()
    # mmpose 1.3.2 SimCCLabel(input_size=(192, 256), sigma=(4.9, 5.66), simcc_split_ratio=2.0, normalize=False)
    assert w.tolist() == [[1.0, 1.0, 0.0, 1.0]]
    assert [(int(a.argmax()), int(b.argmax())) for a, b in zip(tx[[0, 1, 3]], ty[[0, 1, 3]])] == [(75, 203), (0, 511),
                                                                                                   (383, 7)]
    np.testing.assert_allclose(tx[0, [0, 10, 75, 100]], [0.0, 6.151188784446468e-39, 1.0, 2.225764092145255e-06],
                               rtol=1e-5, atol=1e-45)
    np.testing.assert_allclose(ty[0, [0, 200, 203, 511]], [0.0, 0.8689508438110352, 1.0, 0.0], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(tx[1, [0, 10]], [1.0, 0.12462256103754044], rtol=1e-6)
    assert ty[3, 0] == pytest.approx(0.4654390215873718, rel=1e-6) and not tx[2].any()
    # the written-out formula: exp(-(bin - round(2 x))^2 / (2 sigma^2))
    bins = np.arange(384)
    np.testing.assert_allclose(tx[0], np.exp(-(bins - 75) ** 2 / (2 * 4.9 ** 2)), rtol=1e-5, atol=1e-30)
    kp, _ = codecs.decode_simcc(tx[None, [0, 1, 3]], ty[None, [0, 1, 3]], 2.0)        # decodes to the 0.5 px grid
    np.testing.assert_allclose(kp[0], np.round(KP[0, [0, 1, 3]] * 2) / 2)


@pytest.mark.parametrize("udp", [False, True])
def test_heatmap_targets_match_mmpose(udp):
    hm, w = heatmap_targets(torch.from_numpy(KP), torch.ones(1, 4), (64, 48), (256, 192), 2.0, udp)
    hm = hm[0].numpy()
    assert w.tolist() == [[1.0, 1.0, 1.0, 1.0]] and hm.shape == (4, 64, 48)
    # mmpose 1.3.2 MSRAHeatmap / UDPHeatmap(input_size=(192, 256), heatmap_size=(48, 64), sigma=2).encode
    sums = [25.07946, 8.723119, 0.31759182, 10.996115] if udp else [25.081287, 6.0203223, 0.9534524, 7.7889004]
    np.testing.assert_allclose(hm.sum((1, 2)), sums, rtol=1e-5)
    peak = [0.99405265, 0.8353864] if udp else [1.0, 0.7788007]
    np.testing.assert_allclose(hm[0, [25, 26], [9, 10]], peak, rtol=1e-6)
    assert divmod(int(hm[2].argmax()), 48) == ((12, 0) if udp else (13, 0))
    decode = codecs.decode_udp if udp else codecs.decode_msra
    kp, score = decode(hm[None, :1].astype(np.float64), (256, 192))
    if udp:   # DARK-UDP recovers the sub-cell centre; mmpose encodes with (W-1)/(w-1) px per cell, decodes with W/(w-1)
        np.testing.assert_allclose(kp[0, 0], KP[0, 0] * [192 / 191, 256 / 255], atol=0.02)
    else:     # MSRA: the integer cell trunc(p / 4 + 0.5), 4 px per cell: within half a cell
        assert np.abs(kp[0, 0] - KP[0, 0]).max() <= 2.0
    assert score[0, 0] > 0.99


def _kl_by_hand(px, py, tx, ty, w, beta=10.0, label_beta=10.0):
    """KLDiscretLoss written out: per axis, per (n, k): mean over bins of q (log q - log p), q = softmax(10 t),
    p = softmax(10 z); times w[n, k]; summed; over both axes; / K."""
    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    n, k = w.shape
    total = 0.0
    for pred, target in ((px, tx), (py, ty)):
        for i in range(n):
            for j in range(k):
                p, q = softmax(beta * pred[i, j]), softmax(label_beta * target[i, j])
                total += w[i, j] * np.mean(q * (np.log(q) - np.log(p)))
    return total / k


def test_losses_by_hand_and_against_mmpose():
    n, k, wx, hy = 2, 3, 12, 16
    px = (torch.sin(torch.arange(n * k * wx, dtype=torch.float32)) * 0.3).reshape(n, k, wx)
    py = (torch.cos(torch.arange(n * k * hy, dtype=torch.float32) * 0.7) * 0.3).reshape(n, k, hy)
    tx = torch.exp(-((torch.arange(wx, dtype=torch.float32) - 4.0) ** 2) / 8.0).expand(n, k, wx).contiguous()
    ty = torch.exp(-((torch.arange(hy, dtype=torch.float32) - 9.0) ** 2) / 12.0).expand(n, k, hy).contiguous()
    w = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.5]])
    loss = float(kl_discret_loss(px, py, tx, ty, w))
    assert loss == pytest.approx(_kl_by_hand(*(t.double().numpy() for t in (px, py, tx, ty, w))), rel=1e-5)
    assert loss == pytest.approx(0.524875283241272, rel=1e-6)       # mmpose 1.3.2 KLDiscretLoss on these tensors
    hm = torch.sin(torch.arange(n * k * 12, dtype=torch.float32)).reshape(n, k, 4, 3)
    th = torch.cos(torch.arange(n * k * 12, dtype=torch.float32) * 0.3).reshape(n, k, 4, 3)
    by_hand = float(((hm - th) ** 2 * w[..., None, None]).sum() / hm.numel())
    assert float(keypoint_mse_loss(hm, th, w)) == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx(0.7107250094413757, rel=1e-6)     # mmpose 1.3.2 KeypointMSELoss


def test_mixup_batches_hold_exact_shares_and_are_reproducible():
    assert split_batch(8, [1, 1]) == [4, 4] and split_batch(7, [1, 1]) == [4, 3] and split_batch(8, [3, 1]) == [6, 2]
    with pytest.raises(Data2DError, match="larger batch"):
        split_batch(2, [10, 1])
    sampler = MixedBatchSampler([10, 37], batch_size=8, ratio=[3, 1], seed=5)
    assert len(sampler) == 47 // 8
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = [[key.index for key in b] for b in sampler]
        assert all(sum(i < 10 for i in b) == 6 and sum(10 <= i < 47 for i in b) == 2 for b in batches)
    # each source reads shuffled passes: the first 10 draws of the 10-row source are a permutation of it
    first = [i for b in sampler.batches(0) for i in b if i < 10][:10]
    assert sorted(first) == list(range(10))
    again = MixedBatchSampler([10, 37], batch_size=8, ratio=[3, 1], seed=5)
    assert again.batches(3) == sampler.batches(3) and sampler.batches(3) != sampler.batches(2)
    pe = MixedBatchSampler([10, 37], batch_size=8, mode="epoch", seed=5)      # per-epoch alternation
    assert all(i < 10 for b in pe.batches(0) for i in b) and all(i >= 10 for b in pe.batches(1) for i in b)
    alone = MixedBatchSampler([5], batch_size=4)
    alone.set_stage(2)
    keys = next(iter(alone))
    assert len(keys) == 4 and {k.stage for k in keys} == {2} and len({k.draw for k in keys}) == 4


def test_warmup_cosine_schedule_and_weight_decay_groups():
    # mmengine LinearLR (start 1e-5 over 10 steps), flat, CosineAnnealingLR to 0.05 over the second half of 100
    assert warmup_cosine_factor(0, 100, 10) == pytest.approx(1e-5)
    assert warmup_cosine_factor(5, 100, 10) == pytest.approx(1e-5 + (1 - 1e-5) * 0.5)
    assert warmup_cosine_factor(30, 100, 10) == 1.0
    assert warmup_cosine_factor(75, 100, 10) == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert warmup_cosine_factor(100, 100, 10) == pytest.approx(0.05)
    model = create_model("spinepose-s", **SMALL)
    decay = set(decay_parameter_names(model))
    names = dict(model.named_parameters())
    assert "head.final_layer.weight" in decay and "head.final_layer.bias" not in decay
    assert "head.gau.gamma" in decay and "head.mlp.0.g" in decay      # mmengine: ScaleNorm is no norm layer
    bn = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert f"{bn}.weight" in names and f"{bn}.weight" not in decay


def test_ema_follows_mmpose_exp_momentum():
    lin = torch.nn.Linear(2, 1, bias=False)
    ema = EmaCallback(lin, momentum=0.1, gamma=4.0)
    ema.on_train_begin(None, None, None)
    values = [1.0, 2.0, 4.0]
    want = None
    for t, v in enumerate(values):
        lin.weight.data.fill_(v)
        ema.on_step_end(None, None, None)
        m = (1 - 0.1) * math.exp(-(1 + t) / 4.0) + 0.1                 # ExpMomentumEMA, steps t = 1, 2, ...
        want = v if want is None else (1 - m) * want + m * v
    assert float(ema.shadow["weight"][0, 0]) == pytest.approx(want, rel=1e-6)
    ema.on_train_end(None, None, None)
    assert float(lin.weight.detach()[0, 0]) == pytest.approx(want, rel=1e-6)


def test_simspine_fraction_is_picked_once_with_a_seed_and_frames_match_the_video(kw, tmp_path):
    from simspine_hub.io import h36m

    rows = simspine_rows("train", fraction=0.05, seed=3, frames_dir=tmp_path / "f", progress=False, **kw)
    again = simspine_rows("train", fraction=0.05, seed=3, frames_dir=tmp_path / "f", progress=False, **kw)
    other = simspine_rows("train", fraction=0.05, seed=4, frames_dir=tmp_path / "f", progress=False, **kw)
    assert len(rows) == round(0.05 * rows.info["usable rows"]) and rows.image_files == again.image_files
    assert rows.image_files != other.image_files
    i = 0
    subject, seq, cam, frame = (rows.keys[k][i] for k in ("subject", "sequence", "camera", "frame"))
    video = next(img for j, img in h36m.Human36M(kw["h36m_root"]).iter_frames(subject, seq, cam) if j == frame)
    from simspine_hub.training.data2d import read_image

    assert np.abs(read_image(rows.image_files[i]).astype(int) - video).mean() < 3.0     # JPEG q95
    # pre-extracted frames under mmpose's naming (1-based, every 5th frame): only those frames are used
    mm, jpeg = tmp_path / "mmpose", open(rows.image_files[i], "rb").read()
    for stem in [s.stem for s in h36m.Human36M(kw["h36m_root"]).sequences(subject)]:
        for name in h36m.image_names(subject, stem, cam, np.arange(0, 100, 5), "mmpose"):
            (mm / name).parent.mkdir(parents=True, exist_ok=True)
            (mm / name).write_bytes(jpeg)
    sub = {**kw, "cameras": (cam,), "train_subjects": (subject,)}
    extracted = simspine_rows("train", images_root=mm, image_naming="mmpose", progress=False, **sub)
    assert len(extracted) == 3 * 5 and (extracted.keys["frame"] % 5 == 0).all()      # 3 sequences x frames 0..20
    first = extracted.image_files[int(np.argmin(extracted.keys["frame"]))]
    assert first.endswith("_000001.jpg") and first.startswith(str(mm))
    (mm / h36m.image_names(subject, seq, cam, [5], "mmpose")[0]).unlink()
    with pytest.raises(Data2DError, match="not found"):
        simspine_rows("train", images_root=mm, image_naming="mmpose", progress=False, **sub)


@pytest.mark.parametrize("family", ["spinepose-s", "hrnet-w32", "vitpose-b"])
def test_loss_falls_on_a_fixed_batch(family, kw, coco):
    from simspine_hub.training.data2d import coco_rows

    torch.manual_seed(0)
    tiny = {"spinepose-s": SMALL,
            "hrnet-w32": {"backbone": "hrnet_w18_small", "in_channels": 16, "input_size": (96, 64)},
            "vitpose-b": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                          "use_simple_decoder": True}}[family]
    model = create_model(family, **tiny).train()
    size = tuple(getattr(model.config, "input_size", (256, 192)))
    data = TopdownDataset([coco_rows(coco, coco.parent / "images")], size, udp=family == "vitpose-b")
    batch = [data[SampleKey(i, 0, 2, i)] for i in range(2)]
    x, y = torch.stack([b["pixel_values"] for b in batch]), torch.stack([b["labels"] for b in batch])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        loss, _ = family_loss(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def _tiny_recipe(tmp_path, **data):
    recipe = load_recipe("spinepose-s-2d").override("model", "test", architecture=dict(SMALL))
    recipe = recipe.override("data", "test", **{"simspine_fraction": 0.01, "eval_frame_stride": 25, **data})
    path = tmp_path / "tiny-2d.yaml"
    path.write_text(recipe.to_yaml())
    return path


def test_stages_switch_at_the_right_epochs_in_a_real_run(kw, coco, tmp_path):
    recipe = _tiny_recipe(tmp_path)
    run = train_2d(recipe, out=tmp_path / "run", spinetrack=[coco], spinetrack_images=[coco.parent / "images"],
                   overrides={"training": {**FAST, "num_train_epochs": 6}}, evaluate_at_end=False, progress=False, **{
                       k: kw[k] for k in ("h36m_root", "annotations", "cache_dir")})
    sizes = [s["rows"] for s in run.sources]
    per_epoch = max(1, sum(sizes) // 2)
    assert len(run.batch_log) == 6 * per_epoch
    for entry in run.batch_log:
        epoch = (entry["step"] - 1) // per_epoch
        assert entry["stage"] == stage_for_epoch(epoch, 6), entry            # E = 6: stages 0 | 1 1 1 | 2 2
        assert entry["per_source"] == [1, 1]                                  # one SIMSPINE + one SpineTrack crop
    assert [r["curriculum_stage"] for r in run.log_history if "loss" in r][::per_epoch] == [1, 2, 2, 2, 3, 3]


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def test_resumed_run_continues_from_its_checkpoint(kw, coco, tmp_path):
    recipe = _tiny_recipe(tmp_path)
    common = {"spinetrack": [coco], "spinetrack_images": [coco.parent / "images"], "max_steps": 4,
              "evaluate_at_end": False, "progress": False,
              **{k: kw[k] for k in ("h36m_root", "annotations", "cache_dir")}}
    training = {**FAST, "save_strategy": "steps", "save_steps": 2}
    whole = train_2d(recipe, out=tmp_path / "a", overrides={"training": FAST}, **common)
    train_2d(recipe, out=tmp_path / "b", overrides={"training": training}, callbacks=[_StopAt(2)], **common)
    assert (tmp_path / "b" / "checkpoints" / "checkpoint-2" / "ema.safetensors").is_file()
    resumed = train_2d(recipe, out=tmp_path / "b", overrides={"training": training}, resume=True, **common)
    losses = [r["loss"] for r in whole.log_history if "loss" in r]
    np.testing.assert_allclose([r["loss"] for r in resumed.log_history if "loss" in r], losses, rtol=1e-5)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)      # the EMA weights included


def test_two_step_cli_run_writes_a_folder_that_loads_and_infers(kw, coco, twin_root, tmp_path, capsys):
    import cv2

    from simspine_hub.apps.cli import main

    out = tmp_path / "model"
    images = str(coco.parent / "images")
    args = ["-q", "train", "2d", "--model", str(_tiny_recipe(tmp_path)), "--twin", str(twin_root),
            "--spinetrack", str(coco), "--spinetrack-images", images, "--spinetrack-val", str(coco),
            "--spinetrack-val-images", images, "--max-steps", "2", "--batch-size", "2", "--workers", "0",
            "--no-tensorboard", "--preview", "--cache-dir", str(kw["cache_dir"]), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "AP^B" in printed and "twin test views" in printed and "crops/s" in printed
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "results.json", "spinetrack_val.json", "recipe.yaml",
            "training_log.csv", "loss_curve.png", "preview.png"} <= names
    meta = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    entries = {r["dataset"]["type"]: {m["name"]: m["value"] for m in r["metrics"]}
               for r in meta["model-index"][0]["results"]}
    result, val = json.loads((out / "results.json").read_text()), json.loads((out / "spinetrack_val.json").read_text())
    assert entries["simspine"]["AUC"] == pytest.approx(result["AUC"], abs=1e-4) and result["data"] == "twin"
    assert entries["spinetrack"]["AP^S"] == pytest.approx(val["AP_S"], abs=1e-4)
    assert "twin results" in (out / "README.md").read_text()
    model = AutoModel.from_pretrained(out)
    assert tuple(model.config.input_size) == SMALL["input_size"] and model.config.simcc_sigma == [4.9, 5.66]
    cv2.imwrite(str(tmp_path / "frame.png"), np.full((200, 160, 3), 60, np.uint8))
    assert main(["-q", "infer", str(tmp_path / "frame.png"), "--model", str(out), "--out", str(tmp_path / "inf")]) == 0
    assert any((tmp_path / "inf").iterdir())


def test_bad_input_gets_one_clear_error(kw, coco, tmp_path):
    with pytest.raises(Data2DError, match="no training data"):
        train_2d("spinepose-s", out=tmp_path / "x", progress=False)
    with pytest.raises(Data2DError, match="one folder per file"):
        train_2d("spinepose-s", out=tmp_path / "x", spinetrack=[coco, coco], spinetrack_images=[tmp_path, tmp_path,
                                                                                                   tmp_path])
    with pytest.raises(Data2DError, match="one ratio per source"):
        train_2d("spinepose-s", out=tmp_path / "x", spinetrack=[coco, coco], spinetrack_images=[coco.parent / "images"],
                 overrides={"data": {"source_ratio": [1]}}, progress=False)
    with pytest.raises(Data2DError, match="fraction"):
        simspine_rows("train", fraction=1.5, frames_dir=tmp_path, **kw)
    create_model("hrnet-w32", backbone="hrnet_w18_small", in_channels=18).save_pretrained(tmp_path / "hrnet")
    with pytest.raises(RecipeError, match="pick the matching --model"):
        train_2d("spinepose-s", out=tmp_path / "x", init=tmp_path / "hrnet", spinetrack=[coco],
                 spinetrack_images=[coco.parent / "images"], progress=False)
    with pytest.raises(RecipeError, match="task 'lifting'"):
        train_2d("lifter-full37", out=tmp_path / "x")
