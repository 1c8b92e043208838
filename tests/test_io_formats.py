"""Real-file conventions and bad input for the readers (issue 11): small synthetic files in real layouts."""

import json

import h5py
import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.geometry import Camera, project
from simspine_hub.io import calibration, release, tables
from simspine_hub.io.detections import read_openpose_json
from simspine_hub.io.h36m import builtin_cameras


# --- OpenPose-style JSON ----------------------------------------------------------------------------------
def test_openpose_json_empty_person_is_a_missing_detection(tmp_path):
    person = {"person_id": [-1], "pose_keypoints_2d": [10.0, 20.0, 0.9, 30.0, 40.0, 0.8]}
    frames = [{"people": [person]}, {"people": [{}]}, {"people": []}, {"people": [{"pose_keypoints_2d": []}]}]
    for i, content in enumerate(frames):
        (tmp_path / f"cam01.{i:04d}.json").write_text(json.dumps(content))
    kp, sc = read_openpose_json(tmp_path, num_keypoints=2)
    assert kp.shape == (4, 2, 2) and np.array_equal(kp[0], [[10, 20], [30, 40]]) and np.allclose(sc[0], [0.9, 0.8])
    assert np.isnan(kp[1:]).all() and (sc[1:] == 0).all()


def test_openpose_json_bad_content_names_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0]}]}))
    with pytest.raises(ValueError, match=r"a\.json.*2 values"):
        read_openpose_json(tmp_path, num_keypoints=1)


# --- TRC / MOT tables -------------------------------------------------------------------------------------
def test_nan_columns_round_trip_through_trc_mot_sto(tmp_path):
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(6, 3, 3))
    pos[:, 1] = np.nan                                   # one marker never seen
    tables.write_trc(tmp_path / "a.trc", ["Hip", "Spine_01", "Nose"], pos, rate=50.0)
    names, _, back, _ = tables.read_trc(tmp_path / "a.trc")
    assert names == ["Hip", "Spine_01", "Nose"] and back.shape == pos.shape
    assert np.isnan(back[:, 1]).all() and np.abs(back[:, [0, 2]] - pos[:, [0, 2]]).max() < 1e-8
    tables.write_trc(tmp_path / "all.trc", ["Hip"], np.full((4, 1, 3), np.nan), rate=50.0)   # a fully rejected sequence
    assert np.isnan(tables.read_trc(tmp_path / "all.trc")[2]).all()

    q = rng.normal(size=(5, skeleton.NUM_AXES))
    q[:, 7] = np.nan
    tables.write_mot(tmp_path / "a.mot", np.arange(5) / 50.0, q)
    cols, _, v = tables.read_mot(tmp_path / "a.mot")
    assert len(cols) == skeleton.NUM_AXES and np.isnan(v[:, 7]).all()
    assert np.abs(np.delete(v, 7, axis=1) - np.delete(q, 7, axis=1)).max() < 1e-7
    tables.write_sto(tmp_path / "e.sto", "errors", ["rms", "max"], np.arange(3.0), np.full((3, 2), np.nan))
    cols, t, v = tables.read_mot(tmp_path / "e.sto")
    assert cols == ["rms", "max"] and v.shape == (3, 2) and np.isnan(v).all()


def _mot_lines(tmp_path):
    q = np.arange(3 * skeleton.NUM_AXES, dtype=float).reshape(3, -1)
    tables.write_mot(tmp_path / "ok.mot", np.arange(3) / 50.0, q)
    return (tmp_path / "ok.mot").read_text().splitlines(), q


def test_mot_row_missing_a_column_is_an_error_not_a_shift(tmp_path):
    lines, _ = _mot_lines(tmp_path)
    head = lines.index("endheader") + 2
    col = skeleton.KINEMATIC_AXES.index("subtalar_angle_l")
    cut = [ln if i < head else "\t".join(v for j, v in enumerate(ln.split("\t")) if j != col + 1)
           for i, ln in enumerate(lines)]                                  # the value is gone from every row
    (tmp_path / "cut.mot").write_text("\n".join(cut) + "\n")
    with pytest.raises(release.ReleaseFormatError, match=r"cut\.mot.*'wrist_dev_l'") as e:
        tables.read_mot(tmp_path / "cut.mot")
    assert "62 values" in str(e.value) and "63 columns" in str(e.value)
    one = lines[:head + 1] + ["\t".join(lines[head + 1].split("\t")[:-1])] + lines[head + 2:]   # one short row
    (tmp_path / "one.mot").write_text("\n".join(one) + "\n")
    with pytest.raises(release.ReleaseFormatError, match=r"one\.mot: line \d+ has 62 values.*'wrist_dev_l'"):
        tables.read_mot(tmp_path / "one.mot")


def test_blank_column_reads_as_nan_in_its_place(tmp_path):
    lines, q = _mot_lines(tmp_path)
    head = lines.index("endheader") + 2
    col = skeleton.KINEMATIC_AXES.index("subtalar_angle_l")
    blank = [ln if i < head else "\t".join("" if j == col + 1 else v for j, v in enumerate(ln.split("\t")))
             for i, ln in enumerate(lines)]
    (tmp_path / "blank.mot").write_text("\n".join(blank) + "\n")
    _, _, v = tables.read_mot(tmp_path / "blank.mot")
    assert np.isnan(v[:, col]).all()
    ankle = skeleton.KINEMATIC_AXES.index("ankle_angle_l")
    assert np.allclose(v[:, ankle], q[:, ankle]) and np.allclose(v[:, col + 1:], q[:, col + 1:])


def test_trc_row_missing_a_column_is_an_error(tmp_path):
    tables.write_trc(tmp_path / "a.trc", ["Hip", "Nose"], np.ones((4, 2, 3)), rate=50.0)
    lines = (tmp_path / "a.trc").read_text().splitlines()
    lines[5:] = ["\t".join(ln.split("\t")[:-1]) for ln in lines[5:]]
    (tmp_path / "a.trc").write_text("\n".join(lines) + "\n")
    with pytest.raises(release.ReleaseFormatError, match=r"a\.trc.*7 values.*8 columns.*'Nose Z'"):
        tables.read_trc(tmp_path / "a.trc")


# --- calibration ------------------------------------------------------------------------------------------
def test_one_camera_calibration_round_trips(tmp_path):
    cam = builtin_cameras("S9")["54138969"]
    calibration.write_calibration_toml(tmp_path / "one.toml", {"cam": cam})
    back = calibration.read_calibration_toml(tmp_path / "one.toml")
    pts = np.random.default_rng(1).normal(scale=300, size=(20, 3)) + [0, 0, 900]
    assert list(back) == ["cam"] and np.abs(project(pts, back["cam"]) - project(pts, cam)).max() < 1e-6


# --- the authors' HDF5 layout -----------------------------------------------------------------------------
T = 5
SPINE_NAMES = [skeleton.KEYPOINT_NAMES[i] for i in skeleton.SPINE15]


def _authors_h5(path, cams, *, drop=None, markers_shape=None, names=None, kin_rows=T):
    """A file as dfki-av/simspine serialize_dataset.py writes it: R 3x3, no rvec, model_file as serialised from."""
    rng = np.random.default_rng(4)
    names = SPINE_NAMES[::-1] if names is None else names                # any order: the reader sorts
    with h5py.File(path, "w") as f:
        meta = f.create_group("metadata")
        meta.create_dataset("markers_names", data=np.array(names, dtype="S"))
        meta.create_dataset("kinematic_axes", data=np.array(skeleton.KINEMATIC_AXES, dtype="S"))
        s = f.create_group("S1")
        c = s.create_group("calibration")
        values = {"names": np.array(list(cams), dtype="S"),
                  "K": np.stack([x.K for x in cams.values()]).astype(np.float32),
                  "dist": np.stack([x.dist[:4] for x in cams.values()]).astype(np.float32),
                  "R": np.stack([x.R for x in cams.values()]).astype(np.float32),
                  "t": np.stack([x.t / 1000 for x in cams.values()]).astype(np.float32),
                  "size": np.array([x.size for x in cams.values()], dtype=np.int32)}
        for key, val in values.items():
            if key != drop:
                c.create_dataset(key, data=val, compression="gzip")
        s.attrs["model_file"] = "data/simspine/original/models/S1.osim"
        a = s.create_group("Walking_1")
        a.create_dataset("markers", data=rng.normal(size=markers_shape or (T, len(names), 3)))
        a.create_dataset("kinematics", data=rng.normal(size=(kin_rows, skeleton.NUM_AXES)))
        a.create_dataset("timestamps", data=np.arange(T) / 50.0)
    return path


@pytest.fixture
def opencv_cams():
    return {k: Camera(k, c.K, c.dist[:4], c.R, c.t, c.size) for k, c in builtin_cameras("S1").items()}


def test_authors_hdf5_layout_is_read(tmp_path, opencv_cams):
    path = _authors_h5(tmp_path / "simspine.h5", opencv_cams)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "S1.osim").write_text("<OpenSimDocument/>")
    rel = release.Release(path)
    cams = rel.cameras("S1")
    pts = np.random.default_rng(2).normal(scale=400, size=(30, 3)) + [0, 0, 900]
    for name, ref in opencv_cams.items():
        assert np.abs(project(pts, cams[name]) - project(pts, ref)).max() < 0.05   # float32 on disk
    assert rel.model_path("S1") == (tmp_path / "models" / "S1.osim").resolve()   # against the release root
    seq = rel.read("S1", "Walking 1")
    assert seq.keypoints == skeleton.SPINE15 and seq.markers.shape == (T, 15, 3)


def test_authors_hdf5_missing_dataset_names_its_path(tmp_path, opencv_cams):
    path = _authors_h5(tmp_path / "s.h5", opencv_cams, drop="K")
    with pytest.raises(release.ReleaseFormatError, match=r"s\.h5:/S1/calibration/K: dataset missing"):
        release.Release(path).cameras("S1")
    path = _authors_h5(tmp_path / "r.h5", opencv_cams, drop="R")
    with pytest.raises(release.ReleaseFormatError, match=r"r\.h5:/S1/calibration.*R \(V, 3, 3\)"):
        release.Release(path).cameras("S1")
    with h5py.File(path, "a") as f:
        del f["S1"].attrs["model_file"]
    with pytest.raises(release.ReleaseFormatError, match=r"r\.h5:/S1.*model_file"):
        release.Release(path).model_path("S1")


@pytest.mark.parametrize("bad,where", [
    ({"markers_shape": (T, 14, 3)}, r"/S1/Walking_1/markers: shape \(5, 14, 3\); expected \(5, 15, 3\)"),
    ({"names": SPINE_NAMES[:14], "markers_shape": (T, 15, 3)}, r"/S1/Walking_1/markers: shape \(5, 15, 3\); expected \(5, 14, 3\)"),
    ({"kin_rows": T - 2}, r"/S1/Walking_1/kinematics: shape \(3, 62\); expected \(5, 62\)"),
    ({"markers_shape": (T, 15)}, r"/S1/Walking_1/markers: shape \(5, 15\)"),
])
def test_hdf5_shapes_are_validated(tmp_path, opencv_cams, bad, where):
    path = _authors_h5(tmp_path / "s.h5", opencv_cams, **bad)
    with pytest.raises(release.ReleaseFormatError, match=r"s\.h5:" + where):
        release.Release(path).read("S1", "Walking 1")
