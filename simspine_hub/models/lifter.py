"""SimpleBaseline3D (Martinez et al. 2017): 2D keypoints -> root-relative 3D, as in the paper's Tables 5-6.

Linear(in, 1024) BN ReLU Dropout, two residual blocks of two such layers, Linear(1024, out). Inputs and
targets are standardised per coordinate with statistics stored as buffers (saved with the weights), so a
loaded model is self-contained: ``forward`` takes (B, K, 2) camera-normalised 2D and returns (B, K, 3)
root-relative 3D in **millimetres** with the root (Hip) at the origin.

Camera-normalised 2D: pixels mapped to [-1, 1] across the image width, ``uv / w * 2 - [1, h / w]``
(VideoPose3D's ``normalize_screen_coordinates``), see :func:`normalize_screen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.utils import ModelOutput

# relative imports within models/ only: transformers copies this file and those it imports relatively into a
# saved folder, which then loads with trust_remote_code=True where simspine_hub is not installed
from ._base import SimspinePreTrainedModel
from ._registry import register_auto_classes, register_model

# the package's skeleton; absent when this file runs as hub remote code, where config.json names the keypoints
# and the root (the defaults below only serve create_model)
try:
    from simspine_hub import skeleton
except ImportError:
    from types import SimpleNamespace

    skeleton = SimpleNamespace(SPINE15=(), NUM_KEYPOINTS=0, ROOT=-1)

__all__ = ["LifterConfig", "SimpleBaseline3D", "LifterOutput", "LIFTER_VARIANTS", "normalize_screen"]

#: Variants as data: which keypoints go in (SpineTrack ids; the root is dropped from the output).
LIFTER_VARIANTS = {
    "lifter-spine15": {"keypoints": list(skeleton.SPINE15)},
    "lifter-full37": {"keypoints": list(range(skeleton.NUM_KEYPOINTS))},
}


def normalize_screen(uv: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """(..., 2) pixels -> [-1, 1] along x, aspect-preserving along y."""
    return uv / width * 2 - torch.tensor([1.0, height / width], dtype=uv.dtype, device=uv.device)


class LifterConfig(PretrainedConfig):
    model_type = "simspine-lifter"

    def __init__(self, keypoints: list[int] | None = None, root: int = skeleton.ROOT, hidden: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.5, **kwargs):
        self.keypoints = list(keypoints if keypoints is not None else skeleton.SPINE15)
        self.root = root
        self.hidden = hidden
        self.num_blocks = num_blocks
        self.dropout = dropout
        super().__init__(**kwargs)

    @property
    def num_inputs(self) -> int:
        return len(self.keypoints)


def _layer(i: int, o: int, p: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(p))


class _Block(nn.Module):
    def __init__(self, d: int, p: float):
        super().__init__()
        self.net = nn.Sequential(_layer(d, d, p), _layer(d, d, p))

    def forward(self, x):
        return x + self.net(x)


@dataclass
class LifterOutput(ModelOutput):
    """keypoints_3d (B, K, 3) root-relative mm (root row zero)."""

    keypoints_3d: torch.Tensor | None = None


class SimpleBaseline3D(SimspinePreTrainedModel):
    config_class = LifterConfig
    base_model_prefix = "lifter"
    main_input_name = "keypoints_2d"

    def __init__(self, config: LifterConfig):
        super().__init__(config)
        k = config.num_inputs
        self.root_index = config.keypoints.index(config.root)
        self.inp = _layer(2 * k, config.hidden, config.dropout)
        self.blocks = nn.Sequential(*[_Block(config.hidden, config.dropout) for _ in range(config.num_blocks)])
        self.out = nn.Linear(config.hidden, 3 * (k - 1))
        self.register_buffer("mean_2d", torch.zeros(k, 2))
        self.register_buffer("std_2d", torch.ones(k, 2))
        self.register_buffer("mean_3d", torch.zeros(k - 1, 3))
        self.register_buffer("std_3d", torch.ones(k - 1, 3))
        self.post_init()

    def set_statistics(self, kp2d: torch.Tensor, kp3d_rel: torch.Tensor) -> None:
        """Store standardisation statistics from training data: (N, K, 2) normalised 2D, (N, K, 3) mm."""
        keep = [i for i in range(self.config.num_inputs) if i != self.root_index]
        self.mean_2d.copy_(kp2d.mean(0))
        self.std_2d.copy_(kp2d.std(0).clamp(min=1e-6))
        self.mean_3d.copy_(kp3d_rel[:, keep].mean(0))
        self.std_3d.copy_(kp3d_rel[:, keep].std(0).clamp(min=1e-6))

    def forward(self, keypoints_2d: torch.Tensor, **kwargs) -> LifterOutput:
        """keypoints_2d: (B, K, 2) camera-normalised 2D -> (B, K, 3) root-relative mm."""
        x = ((keypoints_2d - self.mean_2d) / self.std_2d).flatten(1)
        y = self.out(self.blocks(self.inp(x))).reshape(x.shape[0], -1, 3) * self.std_3d + self.mean_3d
        root = torch.zeros_like(y[:, :1])
        return LifterOutput(keypoints_3d=torch.cat([y[:, :self.root_index], root, y[:, self.root_index:]], dim=1))


def _create(variant: dict, **overrides) -> SimpleBaseline3D:
    return SimpleBaseline3D(LifterConfig(**{**variant, **overrides}))


register_auto_classes(LifterConfig, SimpleBaseline3D)
for _name, _variant in LIFTER_VARIANTS.items():
    register_model(_name, partial(_create, _variant))
