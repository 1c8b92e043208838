import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.geometry import Camera, project
from simspine_hub.io import release
from simspine_hub.io.h36m import builtin_cameras


def test_trc_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    names = ["Hip", "Spine_01", "Nose"]
    pos = rng.normal(size=(30, 3, 3))
    release.write_trc(tmp_path / "a.trc", names, pos, rate=50.0)
    n, t, p, units = release.read_trc(tmp_path / "a.trc")
    assert n == names and units == "m"
    assert np.allclose(t, np.arange(30) / 50.0) and np.abs(p - pos).max() < 1e-8


def test_mot_round_trip_and_radians_header(tmp_path):
    rng = np.random.default_rng(1)
    vals = rng.normal(size=(20, 62))
    t = np.arange(20) / 50.0
    release.write_mot(tmp_path / "a.mot", t, vals)
    cols, t2, v2 = release.read_mot(tmp_path / "a.mot")
    assert tuple(cols) == skeleton.KINEMATIC_AXES and np.allclose(t2, t) and np.abs(v2 - vals).max() < 1e-7
    # a .mot in radians is converted to degrees for rotations only
    text = (tmp_path / "a.mot").read_text().replace("inDegrees=yes", "inDegrees=no")
    (tmp_path / "b.mot").write_text(text)
    _, _, v3 = release.read_mot(tmp_path / "b.mot")
    rot = [i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a not in skeleton.TRANSLATION_AXES]
    tr = [i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a in skeleton.TRANSLATION_AXES]
    assert np.allclose(v3[:, rot], np.rad2deg(vals[:, rot]), atol=1e-5)
    assert np.allclose(v3[:, tr], vals[:, tr], atol=1e-7)


def test_calibration_toml_round_trip(tmp_path):
    import tomllib
    cams = builtin_cameras("S9")
    cams["extra"] = Camera("extra", np.diag([900.0, 900, 1]) + [[0, 0, 320], [0, 0, 240], [0, 0, 0]],
                           [0.1, -0.01, 0.001, 0.002], np.eye(3), [100.0, 0, 3000], (640, 480))
    release.write_calibration_toml(tmp_path / "Calib_S9.toml", cams)
    raw = tomllib.loads((tmp_path / "Calib_S9.toml").read_text())
    assert raw["54138969"]["translation"][2] == pytest.approx(cams["54138969"].t[2] / 1000)  # metres on disk
    back = release.read_calibration_toml(tmp_path / "Calib_S9.toml")
    pts = np.random.default_rng(2).normal(scale=400, size=(50, 3)) + [0, 0, 900]
    for name, cam in cams.items():
        assert back[name].distortion_model == cam.distortion_model
        assert np.abs(project(pts, back[name]) - project(pts, cam)).max() < 1e-6


def test_twin_release_matches_ground_truth(twin_root, ground_truth):
    raw = release.Release(twin_root / "simspine")
    hdf = release.Release(twin_root / "simspine.h5")
    assert raw.subjects() == hdf.subjects() == ["S1", "S9"]
    assert raw.sequences("S1") == hdf.sequences("S1") == ["Purchases 1", "TakingPhoto 1", "Walking 1"]
    for subject in raw.subjects():
        assert raw.model_path(subject).is_file() and hdf.model_path(subject) == raw.model_path(subject).resolve()
        for stem in raw.sequences(subject):
            g = ground_truth[f"{subject}/{stem}"]
            a, b = raw.read(subject, stem), hdf.read(subject, stem)
            assert a.keypoints == b.keypoints == skeleton.SPINE15  # only what the real release holds
            spine = g["keypoints37"][:, list(skeleton.SPINE15)]
            assert np.abs(a.markers - spine).max() < 1e-3 and np.abs(b.markers - spine).max() < 1e-3  # mm
            assert np.allclose(a.timestamps, g["timestamps"])
            assert np.array_equal(a.kinematics, b.kinematics)


def test_bad_release_inputs(tmp_path, twin_root):
    with pytest.raises(release.ReleaseFormatError, match="positions/, kinematics/"):
        release.Release(tmp_path)
    trc = next((twin_root / "simspine/positions/S1").glob("*.trc"))
    cut = tmp_path / trc.name
    text = trc.read_text()
    cut.write_text(text[: len(text) - 40])
    with pytest.raises(release.ReleaseFormatError, match="truncated") as e:
        release.read_trc(cut)
    assert str(cut) in str(e.value)
    lines = trc.read_text().splitlines(keepends=True)
    cut.write_text("".join(lines[:-3]))  # whole rows missing: caught by the NumFrames header
    with pytest.raises(release.ReleaseFormatError, match="truncated"):
        release.read_trc(cut)
    mot = next((twin_root / "simspine/kinematics/S1").glob("*/*.mot"))
    (tmp_path / "cut.mot").write_text("".join(mot.read_text().splitlines(keepends=True)[:-2]))
    with pytest.raises(release.ReleaseFormatError, match="truncated"):
        release.read_mot(tmp_path / "cut.mot")
    (tmp_path / "x.mot").write_text("Coordinates\nversion=1\ntime\tq\n0\t1\n")
    with pytest.raises(release.ReleaseFormatError, match="endheader"):
        release.read_mot(tmp_path / "x.mot")
    (tmp_path / "c.toml").write_text("[cam]\nname='cam'\nsize=[1,1]\n")
    with pytest.raises(release.ReleaseFormatError, match="c.toml"):
        release.read_calibration_toml(tmp_path / "c.toml")
