import pytest
import torch

from simspine_hub.models import create_model
from simspine_hub.models.convert import load_converted, load_mmpose_checkpoint, onnx_to_ours, ours_to_mmpose

CASES = [("spinepose-s", "spinepose", "simcc_x"), ("hrnet-w32", "hrnet", "heatmaps")]


def _trained_like(name):
    """A model with non-trivial BatchNorm statistics (an identity BN would not hide a wrong mapping)."""
    torch.manual_seed(0)
    m = create_model(name).eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
    return m


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name,family,out", CASES)
def test_mmpose_pth_round_trip(name, family, out, tmp_path):
    model = _trained_like(name)
    sd = ours_to_mmpose(model.state_dict(), family)
    assert any(k.startswith("backbone.stage1.") for k in sd) if family == "spinepose" else any(k.startswith("keypoint_head.") for k in sd)
    torch.save(sd, tmp_path / "ckpt.pth")
    fresh = load_converted(create_model(name).eval(), load_mmpose_checkpoint(tmp_path / "ckpt.pth", family), "pth")
    x = torch.randn(2, 3, 256, 192)
    with torch.no_grad():
        assert torch.equal(getattr(fresh(x), out), getattr(model(x), out))


def test_pickled_objects_are_refused(tmp_path):
    import pickle

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"backbone.x": object()}))
    with pytest.raises(ValueError, match="weights-only"):
        load_mmpose_checkpoint(tmp_path / "evil.pth", "spinepose")


@pytest.mark.parametrize("name,family,out", CASES + [("lifter-full37", "lifter", "keypoints_3d")])
def test_onnx_round_trip_matches_onnxruntime(name, family, out, tmp_path):
    import onnxruntime as ort

    model = _trained_like(name)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    arg, x = ("keypoints_2d", torch.randn(4, 37, 2)) if family == "lifter" else ("pixel_values", torch.randn(2, 3, 256, 192))
    torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), input_names=[arg], dynamo=False)
    fresh = create_model(name).eval()
    load_converted(fresh, onnx_to_ours(tmp_path / "m.onnx", fresh), "onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    ref = torch.from_numpy(sess.run(None, {arg: x.numpy()})[0])
    with torch.no_grad():
        ours = getattr(fresh(**{arg: x}), out)
    if family in ("spinepose", "lifter"):
        assert (ours - ref).abs().max() < 1e-4
    else:  # untrained HRNet outputs are huge (~1e9): compare relative to their scale
        assert _rel(ours, ref) < 1e-5


def test_convert_tool_writes_a_loadable_folder(tmp_path):
    import subprocess
    import sys

    model = _trained_like("spinepose-s")
    torch.save(ours_to_mmpose(model.state_dict(), "spinepose"), tmp_path / "spinepose-s.pth")
    res = subprocess.run([sys.executable, "tools/convert_checkpoint.py", "--model", "spinepose-s", "--checkpoint",
                          str(tmp_path / "spinepose-s.pth"), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    from transformers import AutoModel

    again = AutoModel.from_pretrained(tmp_path / "out").eval()
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        diff = (again(x).simcc_x - model(x).simcc_x).abs().max()
    assert diff < 1e-4, diff


def _vitpose_small():
    """ViTPose with 2 layers of width 64 (the key layout of ViTPose-b, fast to run)."""
    torch.manual_seed(0)
    m = create_model("vitpose-b", num_hidden_layers=2, hidden_size=64, num_attention_heads=4).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.1)          # non-zero position embeddings, biases, LayerNorm affine
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m


@pytest.mark.parametrize("style", ["mmpose", "original"])
def test_vitpose_pth_round_trip(style, tmp_path):
    """mmpose 1.x (fused qkv, ffn.layers, (1, P, C) pos_embed) and original-ViTPose names convert back exactly."""
    model = _vitpose_small()
    sd = ours_to_mmpose(model.state_dict(), "vitpose", style=style)
    block = "backbone.blocks.0" if style == "original" else "backbone.layers.0"
    assert sd[f"{block}.attn.qkv.weight"].shape == (192, 64)
    assert sd["backbone.pos_embed"].shape[1] == (193 if style == "original" else 192)
    torch.save({"state_dict": sd, "meta": {"epoch": 210}}, tmp_path / "vitpose.pth")
    fresh = create_model("vitpose-b", num_hidden_layers=2, hidden_size=64, num_attention_heads=4).eval()
    load_converted(fresh, load_mmpose_checkpoint(tmp_path / "vitpose.pth", "vitpose"), "pth")
    x = torch.randn(2, 3, 256, 192)
    with torch.no_grad():
        assert (fresh(pixel_values=x).heatmaps - model(pixel_values=x).heatmaps).abs().max() < 1e-5


def test_vitpose_onnx_matches_onnxruntime(tmp_path):
    import onnxruntime as ort

    model = _vitpose_small()
    x = torch.randn(2, 3, 256, 192)
    torch.onnx.export(model, (x,), str(tmp_path / "v.onnx"), input_names=["pixel_values"], dynamo=False)
    fresh = create_model("vitpose-b", num_hidden_layers=2, hidden_size=64, num_attention_heads=4).eval()
    load_converted(fresh, onnx_to_ours(tmp_path / "v.onnx", fresh), "onnx")
    ref = ort.InferenceSession(str(tmp_path / "v.onnx"), providers=["CPUExecutionProvider"]).run(None, {"pixel_values": x.numpy()})[0]
    with torch.no_grad():
        assert (fresh(pixel_values=x).heatmaps - torch.from_numpy(ref)).abs().max() < 1e-4


def test_lifter_pth_with_stats_round_trip(tmp_path):
    """The Martinez PyTorch-port layout (w1, linear_stages.N, w2) + an .npz of statistics -> a self-contained
    model; a checkpoint for another keypoint set fails with the variant named."""
    import subprocess
    import sys

    import numpy as np

    torch.manual_seed(0)
    model = create_model("lifter-spine15").eval()
    k = model.config.num_inputs
    stats = {"mean_2d": torch.randn(k, 2) * 0.1, "std_2d": torch.rand(k, 2) + 0.5,
             "mean_3d": torch.randn(k - 1, 3) * 100, "std_3d": torch.rand(k - 1, 3) * 100 + 50}
    for name, v in stats.items():
        getattr(model, name).copy_(v)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    sd = ours_to_mmpose(model.state_dict(), "lifter")
    assert "linear_stages.1.batch_norm2.running_var" in sd and "mean_2d" not in sd
    torch.save({"epoch": 200, "err": 45.5, "state_dict": sd}, tmp_path / "ckpt_best.pth.tar")
    np.savez(tmp_path / "stats.npz", **{n: v.numpy() for n, v in stats.items()})
    res = subprocess.run([sys.executable, "tools/convert_checkpoint.py", "--model", "lifter-spine15", "--checkpoint",
                          str(tmp_path / "ckpt_best.pth.tar"), "--stats", str(tmp_path / "stats.npz"),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    from transformers import AutoModel

    again = AutoModel.from_pretrained(tmp_path / "out").eval()
    x = torch.randn(8, k, 2) * 0.3
    with torch.no_grad():
        assert torch.allclose(again(x).keypoints_3d, model(x).keypoints_3d, atol=1e-4)
    res = subprocess.run([sys.executable, "tools/convert_checkpoint.py", "--model", "lifter-full37", "--checkpoint",
                          str(tmp_path / "ckpt_best.pth.tar"), "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "do not fit the model's config" in res.stderr and not (tmp_path / "bad").exists()


def test_hrnet_has_mmpose_parameters_and_converts_checkpoints_with_unused_fuse_layers(tmp_path):
    """mmpose builds HRNet's last module with multiscale_output=False: 28,536,773 parameters with 37 keypoints
    (mmpose 1.3.2's count, issue 17). A checkpoint that still holds the fuse layers into the lower branches
    (timm's classification layout) converts too: they are dropped."""
    model = _trained_like("hrnet-w32")
    assert sum(p.numel() for p in model.parameters()) == 28_536_773
    sd = ours_to_mmpose(model.state_dict(), "hrnet")
    assert not any(k.startswith("backbone.stage4.2.fuse_layers.1") for k in sd)
    sd["backbone.stage4.2.fuse_layers.1.0.0.weight"] = torch.zeros(64, 32, 3, 3)   # timm keeps these
    torch.save({"state_dict": sd}, tmp_path / "hrnet.pth")
    fresh = load_converted(create_model("hrnet-w32").eval(), load_mmpose_checkpoint(tmp_path / "hrnet.pth", "hrnet"), "pth")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in fresh.state_dict().items())


@pytest.mark.parametrize("auto", ["AutoModel", "AutoModelForPoseEstimation"])
def test_vitpose_refuses_pickles_and_names_the_folder(auto, tmp_path):
    """Like every family, a ViTPose folder loads from model.safetensors only; a pickled pytorch_model.bin is
    refused (not unpickled), and the error names the folder."""
    import transformers

    model = _vitpose_small()
    model.save_pretrained(tmp_path)
    again = getattr(transformers, auto).from_pretrained(tmp_path)
    assert isinstance(again, transformers.VitPoseForPoseEstimation)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="model.safetensors") as e:
        getattr(transformers, auto).from_pretrained(tmp_path)
    assert str(tmp_path) in str(e.value)
