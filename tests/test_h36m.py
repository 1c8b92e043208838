import numpy as np
import pytest

from simspine_hub.geometry import project
from simspine_hub.io import h36m
from simspine_hub.twin.generator import VIDEO_EXTRA_FRAMES

# karfly/human36m-camera-parameters camera-parameters.json, S1 camera 54138969 (derived from
# metadata.xml independently of VideoPose3D's quaternions, which our built-in extrinsics use).
KARFLY_S1_54138969_R = [[-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
                        [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
                        [-0.399319034032262, -0.8977836111057917, -0.185819527201491]]
KARFLY_S1_54138969_T = [-346.05078140028075, 546.9807793144001, 5474.481087434061]


def test_builtin_extrinsics_agree_with_karfly_json():
    cam = h36m.builtin_cameras("S1")["54138969"]
    assert np.abs(cam.R - KARFLY_S1_54138969_R).max() < 1e-6
    assert np.abs(cam.t - KARFLY_S1_54138969_T).max() < 1e-3  # mm (VideoPose3D stores float32)
    assert cam.size == (1000, 1002)


@pytest.mark.parametrize("raw,expected", [("TakingPhoto 1", ("Photo", "1")), ("WalkingDog", ("WalkDog", "")),
                                          ("Directions 1", ("Directions", "1")), ("Eating 2", ("Eating", "2"))])
def test_action_names(raw, expected):
    assert h36m.parse_sequence_name(raw) == expected


def test_unknown_action_is_rejected():
    with pytest.raises(ValueError, match="Dancing"):
        h36m.parse_sequence_name("Dancing 1")


def test_reader_lists_twin_with_normalised_names(twin_root):
    data = h36m.Human36M(twin_root / "h36m")
    assert data.subjects() == ["S1", "S9"]
    s1 = {s.stem: s for s in data.sequences("S1")}
    assert s1["TakingPhoto 1"].action == "Photo" and s1["TakingPhoto 1"].subaction == "1"
    assert {s.action for s in data.sequences("S9")} == {"Walking", "Purchases", "Photo"}


def test_3d_bit_exact_and_2d_within_001px(twin_root, ground_truth):
    data = h36m.Human36M(twin_root / "h36m")
    for subject in data.subjects():
        cams = data.cameras(subject)
        for seq in data.sequences(subject):
            j3 = data.read_3d(subject, seq.stem)
            assert j3.dtype == np.float32 and j3.shape[1:] == (32, 3)
            assert np.array_equal(j3, ground_truth[f"{subject}/{seq.stem}"]["h36m32"])
            for cam in h36m.CAMERA_IDS:
                j2 = data.read_2d(subject, seq.stem, cam)
                assert np.linalg.norm(project(j3.astype(np.float64), cams[cam]) - j2, axis=-1).max() < 0.01


def test_camera_json_matches_builtin(twin_root):
    data = h36m.Human36M(twin_root / "h36m")
    assert data._camera_json is not None
    for subject in ("S1", "S9"):
        for cam_id, ref in h36m.builtin_cameras(subject).items():
            cam = data.cameras(subject)[cam_id]
            assert np.allclose(cam.R, ref.R, atol=1e-12) and np.allclose(cam.t, ref.t, atol=1e-9)
            assert np.array_equal(cam.dist, ref.dist) and cam.distortion_model == "h36m"


def test_video_frames_decode_and_show_the_body(twin_root, ground_truth):
    data = h36m.Human36M(twin_root / "h36m")
    stem, cam = "Walking 1", "55011271"
    frames = list(data.iter_frames("S9", stem, cam))
    n = len(ground_truth[f"S9/{stem}"]["h36m32"])
    assert len(frames) == n + VIDEO_EXTRA_FRAMES
    _, img = frames[n // 2]
    assert img.shape == (1000, 1000, 3) and img.dtype == np.uint8
    # the picture changes where the person moves and nowhere else: frames 0 and n-1 differ inside the box
    # around the projected body of both frames, not outside it (static background)
    diff = np.abs(frames[0][1].astype(float) - frames[n - 1][1].astype(float)).mean(-1)
    uv = project(ground_truth[f"S9/{stem}"]["keypoints37"][[0, n - 1]], data.cameras("S9")[cam]).reshape(-1, 2)
    lo, hi = np.floor(uv.min(0) - 60).astype(int).clip(0), np.ceil(uv.max(0) + 60).astype(int)
    inside = np.zeros(diff.shape, bool)
    inside[lo[1]:hi[1], lo[0]:hi[0]] = True
    assert diff[inside].mean() > 20 * diff[~inside].mean()
    assert [i for i, _ in data.iter_frames("S9", stem, cam, stride=10)] == list(range(0, n + 2, 10))


def test_missing_root_and_subject(tmp_path, twin_root):
    with pytest.raises(h36m.H36MFormatError, match="h36m_root"):
        h36m.Human36M(tmp_path / "nope")
    with pytest.raises(h36m.H36MFormatError, match=r"S5/MyPoseFeatures/D3_Positions"):
        h36m.Human36M(twin_root / "h36m").sequences("S5")


def test_truncated_cdf(tmp_path, twin_root):
    src = twin_root / "h36m/S1/MyPoseFeatures/D3_Positions/Walking 1.cdf"
    bad = tmp_path / "Walking 1.cdf"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(h36m.H36MFormatError, match="truncated") as e:
        h36m.read_pose_cdf(bad, dims=3)
    assert str(bad) in str(e.value)


def test_wrong_joint_count(tmp_path):
    path = tmp_path / "Walking 1.cdf"
    h36m.write_pose_cdf(path, np.zeros((4, 17, 3)))
    with pytest.raises(h36m.H36MFormatError, match=r"32 joints x 3") as e:
        h36m.read_pose_cdf(path, dims=3)
    assert str(path) in str(e.value)


def test_videopose3d_npz(tmp_path):
    pos = np.random.default_rng(0).normal(size=(5, 32, 3)).astype(np.float32)
    path = tmp_path / "data_3d_h36m.npz"
    np.savez(path, positions_3d={"S1": {"Walking 1": pos}})
    with pytest.raises(h36m.H36MFormatError, match="allow_pickle"):
        h36m.read_videopose3d_npz(path)
    out = h36m.read_videopose3d_npz(path, allow_pickle=True)
    assert np.allclose(out["S1"]["Walking 1"], pos * 1000.0)


def test_s11_broken_view_is_only_the_stem_directions(tmp_path):
    # VideoPose3D's prepare_data_h36m.py drops S11's file stem "Directions" only
    data = h36m.Human36M(tmp_path)
    for stem, sub, n in (("Directions 1", "1", 4), ("Directions", "", 3)):
        views = data.views(h36m.Sequence("S11", stem, "Directions", sub))
        assert len(views) == n and ("54138969" in views) == (n == 4)
        assert views == h36m.usable_cameras("S11", stem)          # the rule, exposed for the simulation
    assert h36m.usable_cameras("S9", "Directions") == list(h36m.CAMERA_IDS)


def test_image_naming_conventions():
    frames = np.array([0, 1, 5, 2060])
    # mmpose's extraction (preprocess_h36m.py): frame i -> i + 1, every 5th frame; these are two of the four
    # image names in mmpose's tests/data/h36m
    mm = h36m.image_names("S1", "Directions 1", "54138969", frames, naming="mmpose")
    assert mm[0] == "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg" and mm[1] is None
    assert h36m.image_names("S5", "SittingDown", "54138969", np.array([2060]), naming="mmpose") == [
        "S5/S5_SittingDown.54138969/S5_SittingDown.54138969_002061.jpg"]
    # the SIMSPINE authors' converter (tools/preprocess_simspine.py): frame i -> i, every frame
    ss = h36m.image_names("S1", "Directions 1", "54138969", frames)
    assert ss == [f"S1/S1_Directions_1.54138969/S1_Directions_1.54138969_{i:06d}.jpg" for i in (0, 1, 5, 2060)]
    with pytest.raises(ValueError, match="openpose"):
        h36m.image_names("S1", "Walking 1", "54138969", frames, naming="openpose")
