import hashlib
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from simspine_hub import skeleton
from simspine_hub.io import release
from simspine_hub.osim.model import model_file
from simspine_hub.twin.generator import TwinConfig, generate_twin
from tests.conftest import SMALL

IDX = {n: i for i, n in enumerate(skeleton.KINEMATIC_AXES)}


def _hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path, twin_root):
    again = generate_twin(tmp_path / "again", SMALL, progress=False)
    a, b = _hashes(twin_root), _hashes(again)
    assert len(a) > 50 and a == b


def test_other_seed_differs_and_nothing_half_written(tmp_path):
    cfg = TwinConfig(subjects=("S1",), motions=("walking",), seconds=0.2, videos=False, seed=9)
    out = generate_twin(tmp_path / "t", cfg, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder renamed away
    assert not list(out.rglob("*.part*"))


def test_coupler_constraints_hold(ground_truth):
    """Dependent lumbar coordinates equal the linear coupler functions read straight from the .osim XML."""
    root = ET.parse(model_file()).getroot()
    checked = 0
    for con in root.iter("CoordinateCouplerConstraint"):
        dep = con.findtext("dependent_coordinate_name").strip()
        ind = con.findtext("independent_coordinate_names").strip()
        coeffs = [float(x) for x in re.split(r"\s+", con.find(".//LinearFunction/coefficients").text.strip())]
        for seq in ground_truth.values():
            q = seq["coordinates"]
            assert np.allclose(q[:, IDX[dep]], coeffs[0] * q[:, IDX[ind]] + coeffs[1], atol=1e-12)
        checked += 1
    assert checked == 20
    lumbar = np.concatenate([s["coordinates"][:, IDX["L5_S1_Flex_Ext"]] for s in ground_truth.values()])
    assert np.ptp(lumbar) > 0.05  # the spine actually moves


def test_rigid_bodies_keep_their_shape(ground_truth):
    """Markers on one body keep their distances over time (an independent check of forward kinematics)."""
    pairs = [("Spine_04", "Spine_05"), ("LClavicle", "RLatissimus"), ("Head", "Nose"), ("Hip", "LHip")]
    for seq in ground_truth.values():
        p = seq["keypoints37"]
        for a, b in pairs:
            d = np.linalg.norm(p[:, skeleton.index_of(a)] - p[:, skeleton.index_of(b)], axis=-1)
            assert np.ptp(d) < 1e-6, (a, b)
        spine = np.linalg.norm(p[:, skeleton.index_of("Spine_01")] - p[:, skeleton.index_of("Spine_05")], axis=-1)
        assert spine.min() > 150  # mm: a real torso


def test_subjects_have_their_scale_and_stand_on_the_floor(ground_truth):
    def torso(subject):  # two markers on the torso body
        p = ground_truth[f"{subject}/Walking 1"]["keypoints37"]
        return np.linalg.norm(p[:, skeleton.index_of("Spine_04")] - p[:, skeleton.index_of("Neck")], axis=-1)

    assert torso("S9").mean() / torso("S1").mean() == pytest.approx(1.05 / 0.96, rel=1e-6)
    for key, seq in ground_truth.items():
        feet = seq["keypoints37"][:, list(skeleton.REGIONS["feet"]), 2]
        assert np.allclose(feet.min(axis=1), 20 * (1.05 if key.startswith("S9") else 0.96), atol=1e-6)
        head_height = seq["keypoints37"][:, 17, 2].max()
        assert 1500 < head_height < 1950  # mm, standing adults


def test_released_model_and_kinematics_reproduce_the_markers(twin_root, ground_truth):
    """Load the released scaled .osim with plain OpenSim, play the .mot, compare with the ground truth."""
    import opensim as osim

    rel = release.Release(twin_root / "simspine")
    model = osim.Model(str(rel.model_path("S9")))
    state = model.initSystem()
    seq = rel.read("S9", "Purchases 1")
    coords = model.getCoordinateSet()
    markers = model.getMarkerSet()
    gt = ground_truth["S9/Purchases 1"]["keypoints37"]
    for t in (0, len(gt) // 2, len(gt) - 1):
        for i, axis in enumerate(skeleton.KINEMATIC_AXES):
            v = seq.kinematics[t, i]
            coords.get(axis).setValue(state, v if axis in skeleton.TRANSLATION_AXES else np.deg2rad(v), False)
        model.realizePosition(state)
        for name in ("Spine_01", "Spine_03", "Neck_02", "Nose", "LWrist", "RHeel"):
            p = markers.get(name).getLocationInGround(state).to_numpy()      # metres, Y-up
            world = np.array([p[2], p[0], p[1]]) * 1000.0                    # mm, Z-up
            assert np.abs(world - gt[t, skeleton.index_of(name)]).max() < 0.05  # mm (.mot has 1e-8 deg)
