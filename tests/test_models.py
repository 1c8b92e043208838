import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import simspine_hub.models  # noqa: F401  (registers the Auto classes)
from simspine_hub.models import create_model, list_models
from simspine_hub.models.codecs import decode_simcc, warp_matrix
from simspine_hub.models.processing import PoseImageProcessor

torch.manual_seed(0)


def _input(name):
    return {"keypoints_2d": torch.randn(3, 15 if name.endswith("spine15") else 37, 2)} if name.startswith("lifter") \
        else {"pixel_values": torch.randn(2, 3, 256, 192)}


def _first_output(out):
    for key in ("simcc_x", "heatmaps", "keypoints_3d"):
        if getattr(out, key, None) is not None:
            return getattr(out, key)
    raise AssertionError(out)


@pytest.mark.parametrize("name", [n for n in list_models() if n not in ("spinepose-l", "vitpose-b")])
def test_save_and_reload_through_auto_classes(name, tmp_path):
    from transformers import AutoConfig, AutoModel

    model = create_model(name).eval()
    model.save_pretrained(tmp_path)
    # plus the modelling code (.py) for hub remote code: tests/test_remote_code.py
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".py") == ["config.json", "model.safetensors"]
    cfg = AutoConfig.from_pretrained(tmp_path)
    assert type(cfg) is type(model.config)
    again = AutoModel.from_pretrained(tmp_path).eval()
    assert type(again) is type(model)
    x = _input(name)
    with torch.no_grad():
        assert torch.equal(_first_output(model(**x)), _first_output(again(**x)))


def test_vitpose_is_transformers_own_class(tmp_path):
    from transformers import AutoModel, VitPoseForPoseEstimation

    model = create_model("vitpose-b").eval()
    # transformers' class, with our safetensors-only loading (test_convert.py) and its name
    assert isinstance(model, VitPoseForPoseEstimation) and type(model).__name__ == "VitPoseForPoseEstimation"
    assert model.config.num_labels == 37
    model.save_pretrained(tmp_path)
    again = AutoModel.from_pretrained(tmp_path).eval()          # registered for AutoModel by simspine_hub
    assert type(again) is type(model)
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        out = model(x).heatmaps
        assert out.shape == (1, 37, 64, 48) and torch.equal(out, again(x).heatmaps)


@pytest.mark.parametrize("name,published_m", [("spinepose-s", 5.47), ("spinepose-m", 13.59), ("spinepose-l", 27.66)])
def test_parameter_counts_match_published_rtmpose_sizes(name, published_m):
    """With COCO's 17 keypoints our configs have RTMPose-s/m/l's published sizes (mmpose model zoo, M params)."""
    model = create_model(name, num_keypoints=17)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(published_m, abs=0.006)


def test_auto_registration_happens_on_plain_import(tmp_path):
    create_model("lifter-spine15").save_pretrained(tmp_path)
    code = (f"import simspine_hub.models, transformers; m = transformers.AutoModel.from_pretrained({str(tmp_path)!r}); "
            "print(type(m).__name__)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "SimpleBaseline3D"


def test_truncated_safetensors_and_mismatched_config(tmp_path):
    from transformers import AutoModel

    create_model("lifter-spine15").save_pretrained(tmp_path)
    st = tmp_path / "model.safetensors"
    data = st.read_bytes()
    st.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors") as e:
        AutoModel.from_pretrained(tmp_path)
    assert str(tmp_path) in str(e.value)
    st.write_bytes(data)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["hidden"] = 512
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not fit config.json") as e:
        AutoModel.from_pretrained(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_simcc_round_trip_within_half_a_crop_pixel():
    proc = PoseImageProcessor()
    rng = np.random.default_rng(0)
    boxes = np.array([[300.0, 200.0, 250.0, 500.0], [100.0, 100.0, 150.0, 120.0]])
    _, info, _ = proc.crop([np.zeros((1000, 1000, 3), np.uint8)], [boxes])
    kp = boxes[:, None, :2] + rng.uniform(0, 1, size=(2, 37, 2)) * boxes[:, None, 2:]
    crop = np.stack([kp[i] @ warp_matrix(info.center[i], info.scale[i], (192, 256))[:, :2].T
                     + warp_matrix(info.center[i], info.scale[i], (192, 256))[:, 2] for i in range(2)])
    sx, sy = np.zeros((2, 37, 384)), np.zeros((2, 37, 512))
    np.put_along_axis(sx, np.round(crop[..., 0] * 2).astype(int)[..., None], 1.0, -1)
    np.put_along_axis(sy, np.round(crop[..., 1] * 2).astype(int)[..., None], 1.0, -1)
    dec, _ = decode_simcc(sx, sy, 2.0)
    assert np.abs(dec - crop).max() <= 0.25 + 1e-9                    # crop pixels
    px_per_crop = info.scale[:, 0] / 192
    err = np.abs(proc.to_image(dec, info) - kp)
    assert (err <= 0.25 * px_per_crop[:, None, None] + 1e-9).all()   # image pixels
    small = err[1]                                                    # a box of about crop size
    assert small.max() < 0.5


# heatmap decoding and the flip test, per family codec: tests/test_codecs.py


def test_inference_model_matches_eager(randomise_batchnorm):
    """InferenceModel (BN folded, channels-last, torch.compile with freezing) == eager to float32 rounding;
    bf16 autocast stays within a few percent of the output range and decodes to nearby keypoints."""
    import copy

    from simspine_hub.models import InferenceModel

    torch.manual_seed(0)
    model = create_model("spinepose-s").eval()
    randomise_batchnorm(model)
    x = torch.randn(2, 3, 256, 192)
    with torch.no_grad():
        ref = model(pixel_values=x)
    fast = InferenceModel(copy.deepcopy(model))
    out = fast(pixel_values=x)
    span = float(ref.simcc_x.max() - ref.simcc_x.min())
    assert out.simcc_x.dtype == torch.float32 and out.simcc_x.shape == ref.simcc_x.shape
    assert float((out.simcc_x - ref.simcc_x).abs().max()) < 1e-4 * span
    low = InferenceModel(copy.deepcopy(model), compile=False, bf16=True)(pixel_values=x)
    assert float((low.simcc_y - ref.simcc_y).abs().max()) < 5e-2 * span
    proc = PoseImageProcessor.from_config(model.config)
    img = np.random.default_rng(0).integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    boxes = [np.array([[100.0, 50.0, 200.0, 380.0]])]
    kp_ref, _, _ = proc.predict(model, [img], boxes)
    kp_fast, _, _ = proc.predict(fast, [img], boxes)
    assert np.abs(kp_fast - kp_ref).max() < 0.5      # px


def test_fuse_conv_bn_keeps_the_model_dtype_and_device(randomise_batchnorm):
    """Folded convs are created where the originals live (a GPU model stays on the GPU: the fused conv used to be
    made on the CPU in float32); in float64 the folded model equals the unfolded one to rounding."""
    import copy

    from simspine_hub.models.inference import fuse_conv_bn

    model = create_model("spinepose-s").eval().double()
    randomise_batchnorm(model)
    fused = fuse_conv_bn(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert {p.dtype for p in fused.parameters()} == {torch.float64}
    assert {p.device for p in fused.parameters()} == {p.device for p in model.parameters()}
    x = torch.randn(1, 3, 256, 192, dtype=torch.float64)
    with torch.no_grad():
        a, b = model(pixel_values=x).simcc_x, fused(pixel_values=x).simcc_x
    assert float((a - b).abs().max()) < 1e-9 * float(a.abs().max())
