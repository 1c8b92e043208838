import json
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from simspine_hub.apps.infer import infer, run_inference
from simspine_hub.models import create_model

TWIN_VIDEO = "h36m/S9/Videos/Walking 1.58860488.mp4"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("spinepose")
    create_model("spinepose-s").save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def model(model_dir):
    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)

    return AutoModel.from_pretrained(model_dir).eval()


@pytest.fixture
def frame_png(twin_root, tmp_path):
    """The first frame of a twin video as ``tmp_path/frame.png``; returns (path, BGR image)."""
    ok, bgr = cv2.VideoCapture(str(twin_root / TWIN_VIDEO)).read()
    assert ok
    cv2.imwrite(str(tmp_path / "frame.png"), bgr)
    return tmp_path / "frame.png", bgr


def _cli(capsys, *args):
    """``simspine -q infer ARGS`` in this process -> (exit code, stdout, stderr)."""
    from simspine_hub.apps.cli import main

    capsys.readouterr()
    rc = main(["-q", "infer", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _inside_padded_crop(kp, box):
    """Every keypoint lies inside the padded (x 1.25 about the centre), aspect-fixed (192:256) crop of the box."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    half_h = max(1.25 * box[3], 1.25 * box[2] * 256 / 192) / 2
    half_w = half_h * 192 / 256
    return (np.abs(kp[:, 0] - cx) <= half_w + 1).all() and (np.abs(kp[:, 1] - cy) <= half_h + 1).all()


def test_image_with_boxes_on_onnxruntime_gives_openpose_json_and_overlay(model_dir, frame_png, tmp_path, capsys):
    _, bgr = frame_png
    box = [400.0, 250.0, 200.0, 450.0]
    (tmp_path / "boxes.json").write_text(json.dumps({"frame.png": [box]}))
    rc, out, err = _cli(capsys, tmp_path / "frame.png", "--model", model_dir, "--boxes", tmp_path / "boxes.json",
                        "--out", tmp_path / "out", "--flip-test", "--backend", "onnxruntime")
    assert rc == 0, err
    assert json.loads(out)["device"] == "onnxruntime (cpu)"
    assert len(list((model_dir / "onnx").glob("spinepose-*.onnx"))) == 1      # cached next to the checkpoint
    doc = json.loads((tmp_path / "out/json/frame.json").read_text())
    kp = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(37, 3)
    assert len(doc["people"]) == 1 and kp.shape == (37, 3) and doc["people"][0]["person_id"] == [-1]
    assert _inside_padded_crop(kp, box)
    overlay = cv2.imread(str(tmp_path / "out/frame_overlay.png"))
    assert overlay.shape == bgr.shape and not np.array_equal(overlay, bgr)
    line = json.loads((tmp_path / "out/frame.jsonl").read_text().splitlines()[0])
    assert line["people"][0]["box"] == box and np.allclose(line["people"][0]["keypoints"], kp, atol=1e-3)


def test_video_is_tracked_with_one_json_per_frame_and_an_mp4(model, twin_root, tmp_path):
    video = twin_root / "h36m/S1/Videos/Walking 1.55011271.mp4"
    res = run_inference(model, video, tmp_path, progress=False, max_frames=10)
    n = 10
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) > n
    assert res["frames"] == n == len(list((tmp_path / video.stem).glob("*.json")))
    assert int(cv2.VideoCapture(res["overlay"]).get(cv2.CAP_PROP_FRAME_COUNT)) == n
    lines = [json.loads(s) for s in (tmp_path / f"{video.stem}.jsonl").read_text().splitlines()]
    assert len(lines) == n and len(lines[0]["keypoint_names"]) == 37
    # the whole-frame box is one person throughout: one track
    assert {p["track_id"] for ln in lines for p in ln["people"]} == {0} and res["tracks"] == 1
    assert json.loads((tmp_path / video.stem / "000003.json").read_text())["people"][0]["person_id"] == [0]


def _planted_detr(path, box_cxcywh, labels=("person", "car", "dog"), winner=0):
    """A tiny randomly initialised DETR whose one query always predicts ``box_cxcywh`` (normalised) as class
    ``winner`` with probability e^5 / (e^5 + len(labels)): its last layers are zeroed and given biases."""
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor

    cfg = DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                     backbone_config={"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 8, 8, 8],
                                      "depths": [1, 1, 1, 1], "layer_type": "basic", "out_features": ["stage4"]},
                     d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=1,
                     num_labels=len(labels), id2label=dict(enumerate(labels)))
    det = DetrForObjectDetection(cfg).eval()
    with torch.no_grad():
        det.class_labels_classifier.weight.zero_()
        det.class_labels_classifier.bias.zero_()
        det.class_labels_classifier.bias[winner] = 5.0
        det.bbox_predictor.layers[-1].weight.zero_()
        det.bbox_predictor.layers[-1].bias.copy_(torch.logit(torch.tensor(box_cxcywh)))
    det.save_pretrained(path)
    DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(path)
    return path


def test_hf_person_detector_finds_the_planted_box_and_infer_uses_it(model_dir, frame_png, tmp_path):
    from simspine_hub.models.person_detector import HFPersonDetector, load_person_detector

    path, bgr = frame_png
    h, w = bgr.shape[:2]
    cxcywh = [0.5, 0.55, 0.2, 0.6]
    det_dir = _planted_detr(tmp_path / "detr", cxcywh)
    expected = np.array([(0.5 - 0.1) * w, (0.55 - 0.3) * h, 0.2 * w, 0.6 * h])
    det = load_person_detector(f"hf:{det_dir}")
    boxes, scores = det.detect([bgr[..., ::-1].copy()])[0]
    assert isinstance(det, HFPersonDetector) and boxes.shape == (1, 4)
    assert np.allclose(boxes[0], expected, atol=1e-2) and np.isclose(scores[0], np.exp(5) / (np.exp(5) + 3), atol=1e-4)
    assert len(HFPersonDetector(str(det_dir), threshold=0.99)(bgr)) == 0            # score 0.980 < 0.99
    car = _planted_detr(tmp_path / "car", cxcywh, winner=1)
    assert len(HFPersonDetector(str(car))(bgr)) == 0                                 # a car is no person
    res = infer(path, str(model_dir), tmp_path / "out", person_detector=f"hf:{det_dir}", device="cpu", progress=False)
    people = json.loads((tmp_path / "out/json/frame.json").read_text())["people"]
    assert res["people"] == 1 and _inside_padded_crop(np.array(people[0]["pose_keypoints_2d"]).reshape(37, 3), expected)


def test_hf_person_detector_errors(model_dir, tmp_path):
    from simspine_hub.models.person_detector import load_person_detector

    with pytest.raises(ValueError, match="is not an object detector"):
        load_person_detector(f"hf:{model_dir}")                  # a pose model folder
    with pytest.raises(ValueError, match="not a transformers model folder"):
        load_person_detector(f"hf:{tmp_path}")                   # an empty folder
    nolabel = _planted_detr(tmp_path / "animals", [0.5, 0.5, 0.2, 0.2], labels=("cat", "dog"))
    with pytest.raises(ValueError, match="no 'person' class"):
        load_person_detector(f"hf:{nolabel}")


def test_stream_input_max_frames_and_the_stop_key(model, twin_root, tmp_path, capsys, monkeypatch):
    video = tmp_path / "walk.mp4"                  # FFmpeg's file: protocol takes no %-escapes (the twin's name has a space)
    video.write_bytes((twin_root / TWIN_VIDEO).read_bytes())
    res = run_inference(model, video.as_uri(), tmp_path / "a", max_frames=5, progress=False)   # file:// stream
    assert res["frames"] == 5 and len(list((tmp_path / "a").glob("*/00000*.json"))) == 5
    from simspine_hub.apps.sources import open_source

    assert open_source(video.as_uri()).live and not open_source(video).live
    # a live source stops at "q" + Enter on standard input (here a pipe)
    read, write = os.pipe()
    os.write(write, b"q\n")
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read))
    rc, out, err = _cli(capsys, video.as_uri(), "--model", model.name_or_path, "--out", tmp_path / "b", "--device", "cpu")
    assert rc == 0, err
    summary = json.loads(out)
    n = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert summary["stopped"] == "q" and summary["frames"] < n


def test_bad_input(model, model_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        run_inference(model, tmp_path / "empty", tmp_path / "o", progress=False)
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(FileNotFoundError, match="x.mp4"):
        run_inference(model, tmp_path / "x.mp4", tmp_path / "o", progress=False)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        run_inference(model, tmp_path / "missing.mp4", tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="give one source of person boxes"):
        run_inference(model, tmp_path / "x.mp4", tmp_path / "o", boxes={}, detector=lambda image: [], progress=False)
    with pytest.raises(OSError, match="stream file:///no/such/video.mp4 will not open"):
        run_inference(model, "file:///no/such/video.mp4", tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="--max-frames 0"):
        run_inference(model, "file:///no/such/video.mp4", tmp_path / "o", max_frames=0, progress=False)
    rc, _, err = _cli(capsys, "file:///no/such/video.mp4", "--model", model_dir, "--out", tmp_path / "o")
    assert rc == 2 and "will not open" in err and "Traceback" not in err


def test_lifter_must_be_a_3d_keypoint_lifter(model, model_dir, frame_png, tmp_path, capsys):
    from simspine_hub.models.lifter import AngleLifterConfig, SimpleBaselineAngles

    angles = tmp_path / "angles"
    SimpleBaselineAngles(AngleLifterConfig(hidden=16)).save_pretrained(angles)
    path, _ = frame_png
    rc, _, err = _cli(capsys, path, "--model", model_dir, "--lifter", angles, "--out", tmp_path / "o", "--device", "cpu")
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"--lifter {angles}: an angle lifter" in err and "--config full37" in err
    assert not (tmp_path / "o").exists()                        # refused before any frame was processed
    rc, _, err = _cli(capsys, path, "--model", model_dir, "--lifter", model_dir, "--out", tmp_path / "o")
    assert rc == 2 and "is not a 3D keypoint lifter" in err and str(model_dir) in err
    with pytest.raises(ValueError, match="lifter: an angle lifter"):
        run_inference(model, path, tmp_path / "o", lifter=SimpleBaselineAngles(AngleLifterConfig(hidden=16)),
                      progress=False)
    assert not (tmp_path / "o").exists()


def test_folder_with_a_corrupt_image_skips_and_counts_it(model, frame_png, tmp_path):
    path, _ = frame_png
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_bytes(path.read_bytes())
    (folder / "b.png").write_bytes(path.read_bytes()[:200])         # truncated: unreadable
    res = run_inference(model, folder, tmp_path / "out", progress=False)
    assert res["frames"] == 1 and res["skipped"] == {"count": 1, "images": ["b.png"]}
    assert sorted(p.name for p in (tmp_path / "out/json").iterdir()) == ["a.json"]
    (folder / "a.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="none of its 2 images can be read"):
        run_inference(model, folder, tmp_path / "out2", progress=False)
    with pytest.raises(ValueError, match="b.png: cannot read this image"):
        run_inference(model, folder / "b.png", tmp_path / "out3", progress=False)


def test_person_detector_plugs_in_from_the_command_line(model_dir, frame_png, tmp_path, capsys, monkeypatch):
    (tmp_path / "plugdet.py").write_text(
        "import numpy as np\n"
        "class TwoPeople:\n"
        "    def __call__(self, image):\n"
        "        assert image.ndim == 3 and image.shape[2] == 3\n"
        "        return np.array([[100.0, 100.0, 200.0, 400.0], [500.0, 150.0, 180.0, 420.0]])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, _, err = _cli(capsys, tmp_path / "frame.png", "--model", model_dir, "--person-detector", "plugdet:TwoPeople",
                      "--device", "cpu", "--out", tmp_path / "out")
    assert rc == 0, err
    doc = json.loads((tmp_path / "out/json/frame.json").read_text())
    assert len(doc["people"]) == 2
    xs = [np.array(p["pose_keypoints_2d"]).reshape(37, 3)[:, 0].mean() for p in doc["people"]]
    # each person's keypoints lie inside its own padded crop: x in [12.5, 387.5] and [393, 787] px
    assert xs[0] < 390 < xs[1]
    rc, _, err = _cli(capsys, tmp_path / "frame.png", "--model", model_dir, "--person-detector", "plugdet", "--out",
                      tmp_path / "o2")
    assert rc == 2 and "--person-detector 'plugdet'" in err and "module:callable" in err


def test_person_detector_and_device_errors():
    from simspine_hub.apps.infer import load_person_detector, resolve_device

    with pytest.raises(ValueError, match="cannot import"):
        load_person_detector("no_such_module_xyz:detect")
    with pytest.raises(ValueError, match="not callable"):
        load_person_detector("math:pi")
    assert load_person_detector("json:dumps") is json.dumps
    with pytest.raises(ValueError, match="--device 'gpu7'"):
        resolve_device("gpu7")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


def test_onnxruntime_backend_matches_torch_and_caches_next_to_the_checkpoint(tmp_path, randomise_batchnorm):
    from transformers import AutoModel

    from simspine_hub.models import InferenceModel
    from simspine_hub.models.processing import PoseImageProcessor

    torch.manual_seed(0)
    net = create_model("spinepose-s").eval()
    randomise_batchnorm(net)
    net.save_pretrained(tmp_path / "m")
    model = AutoModel.from_pretrained(tmp_path / "m").eval()
    x = torch.randn(3, 3, 256, 192)
    with torch.no_grad():
        ref = model(pixel_values=x)
    fast = InferenceModel(model, backend="onnxruntime")
    out = fast(pixel_values=x)
    assert type(out) is type(ref) and fast.device.type == "cpu"
    for key in ("simcc_x", "simcc_y"):
        assert out[key].dtype == torch.float32 and out[key].shape == ref[key].shape
        assert float((out[key] - ref[key]).abs().max()) < 1e-4          # fp32 logits spanning ~+-25
    cached = list((tmp_path / "m/onnx").iterdir())
    assert [p.name for p in cached] == [fast.onnx_path.name] and fast.onnx_path.name.startswith("spinepose-")
    stamp = fast.onnx_path.stat().st_mtime_ns
    again = InferenceModel(AutoModel.from_pretrained(tmp_path / "m").eval(), backend="onnxruntime")
    assert again.onnx_path == fast.onnx_path and fast.onnx_path.stat().st_mtime_ns == stamp     # no re-export
    img = np.random.default_rng(0).integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    proc, boxes = PoseImageProcessor.from_config(model.config), [np.array([[100.0, 50.0, 200.0, 380.0]])]
    assert np.abs(proc.predict(again, [img], boxes)[0] - proc.predict(net, [img], boxes)[0]).max() < 0.5   # px
    # int8: calibrated on inputs like the real ones; the change is bounded, the file cached apart
    with pytest.raises(ValueError, match="needs calibration"):
        InferenceModel(net, backend="onnxruntime", quantize="int8", cache_dir=tmp_path / "c")
    crops = proc.crop([img] * 8, [np.array([[100.0 + 20 * i, 50.0, 200.0, 380.0]]) for i in range(8)])[0]
    q = InferenceModel(net, backend="onnxruntime", quantize="int8", calibration=crops, cache_dir=tmp_path / "c")
    low, span = q(pixel_values=x).simcc_x, float(ref.simcc_x.max() - ref.simcc_x.min())
    assert ".int8-" in q.onnx_path.name and float((low - ref.simcc_x).abs().max()) < 0.1 * span


def test_onnxruntime_backend_on_the_lifter_and_its_errors(tmp_path):
    from simspine_hub.models import InferenceModel
    from simspine_hub.models.inference import OnnxExportError, export_onnx
    from simspine_hub.models.lifter import SimpleBaseline3D

    lifter = create_model("lifter-spine15").eval()
    x = torch.randn(5, 15, 2)
    with torch.no_grad():
        ref = lifter(keypoints_2d=x).keypoints_3d
    out = InferenceModel(lifter, backend="onnxruntime", cache_dir=tmp_path)(keypoints_2d=x).keypoints_3d
    assert float((out - ref).abs().max()) < 1e-4 * float(ref.max() - ref.min())

    class NoOnnx(SimpleBaseline3D):            # an operator the ONNX exporter has no mapping for
        def forward(self, keypoints_2d, **kwargs):
            out = super().forward(keypoints_2d)
            out["keypoints_3d"] = torch.special.zeta(out.keypoints_3d, torch.tensor(2.0))
            return out

    with pytest.raises(OnnxExportError, match="NoOnnx: cannot export to ONNX.*zeta.*backend='torch'"):
        export_onnx(NoOnnx(lifter.config).eval(), tmp_path / "bad.onnx")
    assert not list(tmp_path.glob("*bad*"))                                      # nothing half-written
    with pytest.raises(ValueError, match="backend 'tensorrt'"):
        InferenceModel(lifter, backend="tensorrt")
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            InferenceModel(lifter, backend="onnxruntime", device="cuda", cache_dir=tmp_path)
