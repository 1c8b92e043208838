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
