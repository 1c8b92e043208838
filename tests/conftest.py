"""Shared fixtures: one small synthetic twin (real OpenSim, real files) for the session, and small helpers that
several test files use."""

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


@pytest.fixture(scope="module")
def kw(twin_root, tmp_path_factory):
    """The twin's two roots and a ``datasets`` cache of the test module's own, as keyword arguments of the loaders
    (``h36m_root``, ``annotations``, ``cache_dir``)."""
    return {"h36m_root": twin_root / "h36m", "annotations": twin_root / "simspine",
            "cache_dir": tmp_path_factory.mktemp("hf_cache")}


@pytest.fixture
def randomise_batchnorm():
    """``randomise_batchnorm(model)``: non-trivial running statistics in every BatchNorm2d (mean U(-0.1, 0.1), var
    U(0.5, 1.5), from torch's global generator), so that folding BatchNorm into the convs changes the weights."""
    import torch

    def apply(model) -> None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)

    return apply
