import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from simspine_hub.apps.infer import OneEuroFilter, run_inference
from simspine_hub.models import create_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("spinepose")
    create_model("spinepose-s").save_pretrained(d)
    return d


def test_one_euro_filter_reduces_jitter_and_keeps_constants():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(fps=50.0, min_cutoff=1.0, beta=0.0)
    const = [f(np.full((37, 2), 5.0)) for _ in range(10)]
    assert np.allclose(const[-1], 5.0)
    f = OneEuroFilter(fps=50.0, min_cutoff=1.0, beta=0.0)
    noisy = 100 + rng.normal(scale=2.0, size=(200, 37, 2))
    smooth = np.stack([f(x) for x in noisy])
    assert np.std(smooth[50:] - 100) < 0.5 * np.std(noisy[50:] - 100)


@pytest.fixture
def frame_png(twin_root, tmp_path):
    """The first frame of a twin video as ``tmp_path/frame.png``; returns (path, BGR image)."""
    ok, bgr = cv2.VideoCapture(str(twin_root / "h36m/S9/Videos/Walking 1.58860488.mp4")).read()
    assert ok
    cv2.imwrite(str(tmp_path / "frame.png"), bgr)
    return tmp_path / "frame.png", bgr


def test_image_with_boxes_gives_openpose_json_and_overlay(model_dir, frame_png, tmp_path):
    _, bgr = frame_png
    box = [400.0, 250.0, 200.0, 450.0]
    (tmp_path / "boxes.json").write_text(json.dumps({"frame.png": [box]}))
    res = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "infer", str(tmp_path / "frame.png"),
                          "--model", str(model_dir), "--boxes", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "out"),
                          "--flip-test", "--compile"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "out/json/frame.json").read_text())
    kp = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(37, 3)
    assert len(doc["people"]) == 1 and kp.shape == (37, 3)
    # every decoded keypoint lies inside the padded, aspect-fixed crop of the box (x 1.25 about the centre)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    half_h = 1.25 * box[3] / 2
    half_w = max(1.25 * box[2], half_h * 2 * 192 / 256) / 2
    assert (np.abs(kp[:, 0] - cx) <= half_w + 1).all() and (np.abs(kp[:, 1] - cy) <= half_h + 1).all()
    overlay = cv2.imread(str(tmp_path / "out/frame_overlay.png"))
    assert overlay.shape == bgr.shape and not np.array_equal(overlay, bgr)


def test_video_writes_one_json_per_frame_and_an_mp4(model_dir, twin_root, tmp_path):
    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)

    video = twin_root / "h36m/S1/Videos/Walking 1.55011271.mp4"
    model = AutoModel.from_pretrained(model_dir).eval()
    res = run_inference(model, video, tmp_path, progress=False)
    n = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert res["frames"] == n == len(list((tmp_path / video.stem).glob("*.json")))
    assert int(cv2.VideoCapture(res["overlay"]).get(cv2.CAP_PROP_FRAME_COUNT)) == n


def test_bad_input(model_dir, tmp_path):
    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)

    model = AutoModel.from_pretrained(model_dir).eval()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        run_inference(model, tmp_path / "empty", tmp_path / "o", progress=False)
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(FileNotFoundError, match="x.mp4"):
        run_inference(model, tmp_path / "x.mp4", tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="give one source of person boxes"):
        run_inference(model, tmp_path / "x.mp4", tmp_path / "o", boxes={}, detector=lambda image: [], progress=False)


def test_person_detector_plugs_in_from_the_command_line(model_dir, frame_png, tmp_path):
    (tmp_path / "plugdet.py").write_text(
        "import numpy as np\n"
        "class TwoPeople:\n"
        "    def __call__(self, image):\n"
        "        assert image.ndim == 3 and image.shape[2] == 3\n"
        "        return np.array([[100.0, 100.0, 200.0, 400.0], [500.0, 150.0, 180.0, 420.0]])\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "infer", str(tmp_path / "frame.png"),
                          "--model", str(model_dir), "--person-detector", "plugdet:TwoPeople", "--device", "cpu",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "out/json/frame.json").read_text())
    assert len(doc["people"]) == 2
    xs = [np.array(p["pose_keypoints_2d"]).reshape(37, 3)[:, 0].mean() for p in doc["people"]]
    # each person's keypoints lie inside its own padded crop: x in [12.5, 387.5] and [393, 787] px
    assert xs[0] < 390 < xs[1]
    bad = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "infer", str(tmp_path / "frame.png"),
                          "--model", str(model_dir), "--person-detector", "plugdet", "--out", str(tmp_path / "o2")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "--person-detector 'plugdet'" in bad.stderr and "module:callable" in bad.stderr


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
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"
