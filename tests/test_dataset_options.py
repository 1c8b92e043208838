"""load_dataset options, errors during generation, stale caches, image naming (issue 11, dataset items)."""

import shutil

import numpy as np
import pytest

from simspine_hub.apps import cli
from simspine_hub.dataset.builder import SimspineDataError, load_dataset
from simspine_hub.io import release

BAD_OPTIONS = [
    ("on_missing", "bogus"), ("face_feet", "bogus"), ("frame_stride", 0), ("frame_stride", 2.5),
    ("frame_stride", True), ("box_padding", 0.0), ("box_padding", float("nan")), ("cameras", ("123",)),
    ("cameras", "54138969"), ("cameras", ()), ("test_subjects", ("S1", "S9")), ("train_subjects", "S1"),
    ("image_naming", "openpose"), ("decode_frames", "yes"), ("h3wb_allow_pickle", 1), ("h36m_rot", "/data"),
]


@pytest.mark.parametrize("key,value", BAD_OPTIONS)
def test_every_option_is_validated(twin_root, tmp_path, key, value):
    with pytest.raises(SimspineDataError, match=key):
        load_dataset("simspine", "spine15", annotations=twin_root / "simspine", cache_dir=tmp_path, **{key: value})
    assert not list(tmp_path.rglob("*.arrow"))


def test_decode_frames_needs_views2d(twin_root, tmp_path):
    with pytest.raises(SimspineDataError, match="views2d"):
        load_dataset("simspine", "spine15", annotations=twin_root / "simspine", cache_dir=tmp_path, decode_frames=True)


def _truncated_copy(twin_root, tmp_path):
    root = tmp_path / "twin"
    shutil.copytree(twin_root / "simspine", root / "simspine")
    shutil.copytree(twin_root / "h36m", root / "h36m")
    trc = root / "simspine/positions/S9/S9_Walking_1.trc"
    text = trc.read_text()
    trc.write_text(text[: len(text) // 2])
    return root, trc


def test_bad_file_during_generation_raises_the_project_error(twin_root, tmp_path):
    root, trc = _truncated_copy(twin_root, tmp_path)
    with pytest.raises(release.ReleaseFormatError, match="truncated") as e:   # not datasets' DatasetGenerationError
        load_dataset("simspine", "spine15", annotations=root / "simspine", cache_dir=tmp_path / "c")
    assert str(trc) in str(e.value)


def test_cli_prints_one_line_and_exits_2(twin_root, tmp_path, capsys):
    root, trc = _truncated_copy(twin_root, tmp_path)
    preds = tmp_path / "preds.npz"
    np.savez(preds, keypoints=np.zeros((1, 37, 3)))
    rc = cli.main(["-q", "evaluate", "--task", "multiview", "--predictions", str(preds), "--annotations",
                   str(root / "simspine"), "--h36m-root", str(root / "h36m"), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(trc) in err and "truncated" in err


def test_cli_reports_every_project_error_class_not_other_bugs():
    from simspine_hub.osim.backend import OpenSimMissingError  # an ImportError the project defines

    assert cli._is_input_error(OpenSimMissingError("install simspine-hub[opensim]"))
    assert cli._is_input_error(release.ReleaseFormatError("x")) and cli._is_input_error(FileNotFoundError("x"))
    assert not cli._is_input_error(TypeError("a bug")) and not cli._is_input_error(ImportError("numpy"))


def test_cli_on_missing_skip(twin_root, tmp_path, capsys):
    root = tmp_path / "twin"
    shutil.copytree(twin_root / "simspine", root / "simspine")
    shutil.copytree(twin_root / "h36m", root / "h36m")
    (root / "h36m/S9/MyPoseFeatures/D3_Positions/Purchases 1.cdf").unlink()
    preds = tmp_path / "preds.npz"
    np.savez(preds, keypoints=np.zeros((1, 37, 3)))
    argv = ["-q", "evaluate", "--task", "multiview", "--predictions", str(preds), "--annotations", str(root / "simspine"),
            "--h36m-root", str(root / "h36m"), "--cache-dir", str(tmp_path / "c")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Purchases 1 is missing in Human3.6M" in err and "--on-missing skip" in err
    cli.main(argv + ["--on-missing", "skip"])                  # ground truth builds; these predictions are then refused
    assert "Purchases 1" not in capsys.readouterr().err


def test_changed_input_file_is_rebuilt_not_served_from_cache(twin_root, tmp_path):
    ann = tmp_path / "simspine"
    shutil.copytree(twin_root / "simspine", ann)
    kw = {"split": "test", "annotations": ann, "cache_dir": tmp_path / "c"}
    before = np.array(load_dataset("simspine", "spine15", **kw).with_format("numpy")[:]["keypoints_3d"])
    trc = ann / "positions/S9/S9_Walking_1.trc"
    names, _, pos, _ = release.read_trc(trc)
    release.write_trc(trc, names, pos + [0.0, 0.01, 0.0], rate=50.0)   # +10 mm up (OpenSim Y = world Z)
    after = load_dataset("simspine", "spine15", **kw).with_format("numpy")[:]
    walking = after["sequence"] == "Walking 1"
    shift = np.array(after["keypoints_3d"]) - before
    assert np.allclose(shift[walking][..., 2], 10.0, atol=1e-3) and np.allclose(shift[walking][..., :2], 0, atol=1e-3)
    assert np.abs(shift[~walking]).max() < 1e-6


def test_views2d_image_naming_and_frame_index(twin_root, tmp_path):
    kw = {"split": "test", "cameras": ("55011271",), "h36m_root": twin_root / "h36m",
          "annotations": twin_root / "simspine", "cache_dir": tmp_path}
    ds = load_dataset("simspine", "views2d", image_naming="mmpose", **kw)
    frames, names = np.array(ds["frame"]), ds["image_path"]
    prefix = f"S9_{ds[0]['sequence'].replace(' ', '_')}.55011271"
    assert names[0] == f"S9/{prefix}/{prefix}_000001.jpg" and frames[0] == 0         # 1-based names, 0-based frame
    assert all((n is None) == (f % 5 != 0) for f, n in zip(frames, names))            # mmpose keeps every 5th frame
    assert all(n.endswith(f"_{f + 1:06d}.jpg") for f, n in zip(frames, names) if n is not None)
    strided = load_dataset("simspine", "views2d", image_naming="mmpose", frame_stride=5, **kw)
    assert None not in strided["image_path"]
