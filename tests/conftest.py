"""Session fixtures: one small synthetic twin (real OpenSim, real files) shared by the tests."""

from __future__ import annotations

import pytest

from simspine_hub.twin.generator import TwinConfig, generate_twin, load_ground_truth

SMALL = TwinConfig(subjects=("S1", "S9"), motions=("walking", "forward_bending", "arm_raising"),
                   seconds=0.5, videos=True, seed=3)


@pytest.fixture(scope="session")
def twin_root(tmp_path_factory):
    return generate_twin(tmp_path_factory.mktemp("twin") / "twin", SMALL, progress=False)


@pytest.fixture(scope="session")
def ground_truth(twin_root):
    return load_ground_truth(twin_root)
