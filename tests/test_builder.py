import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import simspine_hub
from simspine_hub import skeleton
from simspine_hub.dataset.builder import SimspineBuilder, SimspineDataError, load_dataset
from simspine_hub.geometry import project
from simspine_hub.io import h36m


def _kw(root, cache):
    return {"h36m_root": root / "h36m", "annotations": root / "simspine", "cache_dir": cache}


def _gt_rows(gt, d, n_kp=37):
    return np.stack([gt[f"{s}/{q}"]["keypoints37"][f] for s, q, f in zip(d["subject"], d["sequence"], d["frame"])])


@pytest.mark.parametrize("form", ["raw", "h5"])
def test_spine15_matches_ground_truth(twin_root, ground_truth, tmp_path, form):
    ann = twin_root / ("simspine" if form == "raw" else "simspine.h5")
    ds = load_dataset("simspine", "spine15", annotations=ann, cache_dir=tmp_path)
    assert set(ds) == {"train", "test"}
    tr = ds["train"].with_format("numpy")[:]
    assert set(tr["subject"]) == {"S1"} and set(ds["test"]["subject"]) == {"S9"}
    ref = _gt_rows(ground_truth, tr)[:, list(skeleton.SPINE15)]
    assert tr["keypoints_3d"].shape == (len(tr["frame"]), 15, 3)
    assert np.abs(tr["keypoints_3d"] - ref).max() < 1e-3  # mm (float32 storage)
    q = np.stack([ground_truth[f"{s}/{x}"]["coordinates"][f] for s, x, f in zip(tr["subject"], tr["sequence"], tr["frame"])])
    rot = [a not in skeleton.TRANSLATION_AXES for a in skeleton.KINEMATIC_AXES]
    assert np.abs(tr["kinematics"][:, rot] - np.rad2deg(q[:, rot])).max() < 1e-3
    row = ds["train"][0]
    assert row["action"] in h36m.ACTIONS and row["timestamp"] == pytest.approx(row["frame"] / 50.0)


def test_full37_joins_release_human36m_and_fk(twin_root, ground_truth, tmp_path):
    ds = simspine_hub.load_dataset("simspine", "full37", split="test", **_kw(twin_root, tmp_path)).with_format("numpy")[:]
    kp = ds["keypoints_3d"]
    assert not np.isnan(kp).any()
    assert np.abs(kp - _gt_rows(ground_truth, ds)).max() < 1e-3
    src = ds["keypoints_source"][0]
    names = ["missing", "simspine", "human36m", "h3wb", "fk"]
    assert all(names[src[i]] == "simspine" for i in skeleton.SPINE15)
    assert all(names[src[i]] == "human36m" for i in skeleton.LIMB_KEYPOINTS)
    assert all(names[src[i]] == "fk" for i in skeleton.FACE_FEET)


def test_views2d_projection_box_and_names(twin_root, ground_truth, tmp_path):
    ds = load_dataset("simspine", "views2d", split="train", cameras=("54138969", "60457274"),
                      **_kw(twin_root, tmp_path)).with_format("numpy")
    assert set(ds[:]["camera"]) == {"54138969", "60457274"}
    cams = h36m.builtin_cameras("S1")
    for i in range(0, len(ds), 17):
        row = ds[i]
        ref = project(ground_truth[f"S1/{row['sequence']}"]["keypoints37"][row["frame"]], cams[row["camera"]])
        assert np.abs(row["keypoints_2d"] - ref).max() < 0.01
        x, y, w, h = row["bbox"]
        vis = row["visibility"].astype(bool)
        pts = row["keypoints_2d"][vis]
        assert (pts[:, 0] > x).all() and (pts[:, 0] < x + w).all() and (pts[:, 1] > y).all() and (pts[:, 1] < y + h).all()
        tight = pts.max(0) - pts.min(0)
        assert np.allclose([w, h], 1.25 * tight, rtol=1e-4)
        prefix = f"S1_{row['sequence'].replace(' ', '_')}.{row['camera']}"      # the SIMSPINE authors' converter
        assert row["image_path"] == f"S1/{prefix}/{prefix}_{row['frame']:06d}.jpg"


def test_views2d_decoded_frames_are_the_video_frames(twin_root, tmp_path):
    ds = load_dataset("simspine", "views2d", split="test", cameras=("55011271",), decode_frames=True,
                      frame_stride=10, **_kw(twin_root, tmp_path))
    assert list(ds[:3]["frame"]) == [0, 10, 20]
    row = ds[1]
    img = np.asarray(row["image"]).astype(float)
    assert img.shape == (1000, 1000, 3)
    video = dict(h36m.Human36M(twin_root / "h36m").iter_frames("S9", row["sequence"], "55011271", limit=21))
    moving = np.abs(video[10].astype(float) - video[20]).mean(-1) > 10     # pixels where the person moved
    same, other = np.abs(img - video[10]).mean(-1), np.abs(img - video[20]).mean(-1)
    assert moving.sum() > 100 and same.mean() < 1.5                         # frame 10 itself (JPEG q95) ...
    assert same[moving].mean() < 0.3 * other[moving].mean()                 # ... not a neighbour


def test_streaming_matches_prepared(twin_root, tmp_path):
    kw = _kw(twin_root, tmp_path)
    it = load_dataset("simspine", "full37", split="train", streaming=True, **kw)
    first = next(iter(it))
    ds = load_dataset("simspine", "full37", split="train", **kw)
    assert type(it).__name__ == "IterableDataset"
    assert first["sequence"] == ds[0]["sequence"] and np.allclose(first["keypoints_3d"], ds[0]["keypoints_3d"])


def test_building_twice_is_identical(twin_root, tmp_path):
    a = load_dataset("simspine", "full37", split="train", **_kw(twin_root, tmp_path / "a"))
    b = load_dataset("simspine", "full37", split="train", **_kw(twin_root, tmp_path / "b"))
    assert a._fingerprint == b._fingerprint
    fa, fb = ([open(f["filename"], "rb").read() for f in d.cache_files] for d in (a, b))
    assert fa == fb and len(fa) >= 1


def test_custom_subject_lists(twin_root, tmp_path):
    ds = load_dataset("simspine", "spine15", annotations=twin_root / "simspine", cache_dir=tmp_path,
                      train_subjects=("S9",), test_subjects=("S1",))
    assert set(ds["train"]["subject"]) == {"S9"} and set(ds["test"]["subject"]) == {"S1"}


def _copy_twin(twin_root, tmp_path):
    dst = tmp_path / "twin"
    shutil.copytree(twin_root / "h36m", dst / "h36m")
    shutil.copytree(twin_root / "simspine", dst / "simspine")
    return dst


def _no_dataset_in(cache):
    return not [p for p in cache.rglob("*.arrow")] if cache.exists() else True


def test_bad_roots(twin_root, tmp_path):
    with pytest.raises(Exception, match="h36m_root"):
        load_dataset("simspine", "full37", h36m_root=tmp_path / "nope", annotations=twin_root / "simspine",
                     cache_dir=tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="not a SIMSPINE release"):
        load_dataset("simspine", "spine15", annotations=tmp_path / "empty", cache_dir=tmp_path / "c")
    with pytest.raises(SimspineDataError, match="annotations"):
        load_dataset("simspine", "spine15", annotations=tmp_path / "missing-dir", cache_dir=tmp_path / "c")
    with pytest.raises(SimspineDataError, match="h36m_root"):
        load_dataset("simspine", "full37", annotations=twin_root / "simspine", cache_dir=tmp_path / "c")
    assert _no_dataset_in(tmp_path / "c")


def test_sequence_missing_on_either_side(twin_root, tmp_path):
    root = _copy_twin(twin_root, tmp_path)
    (root / "h36m/S9/MyPoseFeatures/D3_Positions/Purchases 1.cdf").unlink()
    with pytest.raises(SimspineDataError, match=r"S9/Purchases 1 is missing in Human3.6M.*D3_Positions/Purchases 1.cdf"):
        load_dataset("simspine", "full37", **_kw(root, tmp_path / "c"))
    assert _no_dataset_in(tmp_path / "c")
    ds = load_dataset("simspine", "full37", split="test", on_missing="skip", **_kw(root, tmp_path / "c"))
    assert "Purchases 1" not in set(ds["sequence"])

    root2 = _copy_twin(twin_root, tmp_path / "second")
    (root2 / "simspine/positions/S1/S1_Walking_1.trc").unlink()
    with pytest.raises(SimspineDataError, match=r"Walking 1.cdf: Human3.6M sequence has no SIMSPINE annotation"):
        load_dataset("simspine", "full37", **_kw(root2, tmp_path / "c2"))
    assert _no_dataset_in(tmp_path / "c2")


def test_frame_count_mismatch_trims_with_warning(twin_root, ground_truth, tmp_path, caplog):
    root = _copy_twin(twin_root, tmp_path)
    path = root / "h36m/S9/MyPoseFeatures/D3_Positions/Walking 1.cdf"
    short = h36m.read_pose_cdf(path, dims=3)[:-5]
    h36m.write_pose_cdf(path, short)
    with caplog.at_level(logging.WARNING, logger="simspine_hub.dataset.joins"):
        ds = load_dataset("simspine", "full37", split="test", **_kw(root, tmp_path / "c"))
    assert "trimmed to" in caplog.text
    n = len(ground_truth["S9/Walking 1"]["keypoints37"])
    assert (np.array(ds["sequence"]) == "Walking 1").sum() == n - 5


def test_truncated_file_fails_cleanly(twin_root, tmp_path):
    root = _copy_twin(twin_root, tmp_path)
    trc = root / "simspine/positions/S9/S9_Walking_1.trc"
    text = trc.read_text()
    trc.write_text(text[: len(text) // 2])
    with pytest.raises(Exception) as e:
        load_dataset("simspine", "spine15", annotations=root / "simspine", cache_dir=tmp_path / "c")
    chain = f"{e.value} {e.value.__cause__}"
    assert "S9_Walking_1.trc" in chain and "truncated" in chain
    assert _no_dataset_in(tmp_path / "c")


def test_parquet_export_round_trip(twin_root, tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent.parent / "tools"))
    from export_parquet import export

    files = export("spine15", tmp_path / "pq", annotations=str(twin_root / "simspine"), cache_dir=tmp_path / "c")
    assert {f.name.split("-")[0] for f in files} == {"train", "test"}
    a = load_dataset("simspine", "spine15", split="test", annotations=tmp_path / "pq", cache_dir=tmp_path / "c2")
    b = load_dataset("simspine", "spine15", split="test", annotations=twin_root / "simspine", cache_dir=tmp_path / "c")
    assert np.array_equal(np.array(a["keypoints_3d"]), np.array(b["keypoints_3d"]))


def test_hub_id_through_huggingface_hub_offline(twin_root, tmp_path):
    """A hub dataset id goes through huggingface_hub.snapshot_download (offline, from a local cache)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "datasets--dfki-av--simspine"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    shutil.copy(twin_root / "simspine.h5", snap / "simspine.h5")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = textwrap.dedent("""
        import sys
        from simspine_hub import load_dataset
        ds = load_dataset("simspine", "spine15", split="test", annotations="dfki-av/simspine",
                          cache_dir=sys.argv[1])
        print(ds.num_rows, sorted(set(ds["subject"])))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-1] == "['S9']"
    env["HF_HUB_CACHE"] = str(tmp_path / "empty-hub")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c2")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode != 0 and "dfki-av/simspine" in res.stderr and "local folder" in res.stderr


def test_builder_class_directly(twin_root, tmp_path):
    b = SimspineBuilder(config_name="spine15", annotations=str(twin_root / "simspine"), cache_dir=str(tmp_path))
    b.download_and_prepare()
    assert b.as_dataset(split="test").num_rows > 0
    assert b.info.features["keypoints_3d"].length == 15


def test_full37_face_and_feet_from_h3wb(twin_root, ground_truth, tmp_path):
    h3wb = twin_root / "h3wb" / "h3wb_train.npz"
    with pytest.raises(Exception, match="allow_pickle"):
        load_dataset("simspine", "full37", split="train", h3wb_root=h3wb, **_kw(twin_root, tmp_path / "a"))
    ds = load_dataset("simspine", "full37", split="train", h3wb_root=h3wb.parent, h3wb_allow_pickle=True,
                      face_feet="mask", **_kw(twin_root, tmp_path / "b")).with_format("numpy")[:]
    names = ["missing", "simspine", "human36m", "h3wb", "fk"]
    src = ds["keypoints_source"]
    on = ds["frame"] % 4 == 0                                           # the twin's H3WB annotates every 4th frame
    face_feet = list(skeleton.FACE_FEET)
    assert (src[on][:, face_feet] == names.index("h3wb")).all()
    assert (src[~on][:, face_feet] == names.index("missing")).all() and np.isnan(ds["keypoints_3d"][~on][:, face_feet]).all()
    ref = _gt_rows(ground_truth, {k: ds[k][on] for k in ("subject", "sequence", "frame")})
    assert np.abs(ds["keypoints_3d"][on] - ref).max() < 1e-3
