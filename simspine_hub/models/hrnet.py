"""HRNet-w32 top-down heatmap model: timm ``hrnet_w32`` (highest-resolution branch, stride 4) + 1x1 conv.

Input (B, 3, 256, 192) normalised crops; output heatmaps (B, K, 64, 48), decoded with mmpose's
``MSRAHeatmap`` rules (:mod:`simspine_hub.models.codecs`). Parameter names: ``backbone.*`` (timm's HRNet, which
keeps the original HRNet layout mmpose also uses) and ``head.final_layer``. As in mmpose, the last module
fuses into the highest-resolution branch only, so the parameters are mmpose's exactly (28,536,773 with 37
keypoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.utils import ModelOutput

# relative imports within models/ only: transformers copies this file and those it imports relatively
# into a saved folder, which then loads with trust_remote_code=True where simspine_hub is not installed
from ._base import SimspinePreTrainedModel
from ._constants import IMAGE_MEAN, IMAGE_STD, INPUT_SIZE
from ._registry import register_auto_classes, register_model
from .targets import heatmap_loss

__all__ = ["HRNetPoseConfig", "HRNetForPoseEstimation", "HeatmapOutput", "HRNET_VARIANTS"]

HRNET_VARIANTS = {"hrnet-w32": {"backbone": "hrnet_w32", "in_channels": 32, "num_keypoints": 37}}


class HRNetPoseConfig(PretrainedConfig):
    model_type = "simspine-hrnet"

    def __init__(self, backbone: str = "hrnet_w32", in_channels: int = 32, num_keypoints: int = 37,
                 input_size: tuple[int, int] = INPUT_SIZE, image_mean: tuple[float, ...] = IMAGE_MEAN,
                 image_std: tuple[float, ...] = IMAGE_STD, box_padding: float = 1.25, **kwargs):
        self.backbone = backbone
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.input_size = list(input_size)
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.box_padding = box_padding
        super().__init__(**kwargs)


@dataclass
class HeatmapOutput(ModelOutput):
    """loss (with ``labels``: mmpose's KeypointMSELoss on MSRA targets, :mod:`~simspine_hub.models.targets`);
    heatmaps (B, K, H/4, W/4)."""

    loss: torch.Tensor | None = None
    heatmaps: torch.Tensor | None = None


class _Head(nn.Module):
    def __init__(self, cin: int, k: int):
        super().__init__()
        self.final_layer = nn.Conv2d(cin, k, 1)

    def forward(self, x):
        return self.final_layer(x)


class HRNetForPoseEstimation(SimspinePreTrainedModel):
    config_class = HRNetPoseConfig
    base_model_prefix = "hrnet"
    main_input_name = "pixel_values"

    def __init__(self, config: HRNetPoseConfig):
        super().__init__(config)
        import timm

        self.backbone = timm.create_model(config.backbone, pretrained=False, features_only=True,
                                          feature_location="", out_indices=(1,))
        # Only the highest-resolution branch is used. mmpose builds the last HRNet module with
        # multiscale_output=False (mmpose/models/backbones/hrnet.py), i.e. only its fuse_layers[0]; timm keeps
        # the fuse layers into the three lower branches (65 tensors, 769,984 parameters) that feed nothing here.
        last = self.backbone.stage4[-1]
        last.fuse_layers = last.fuse_layers[:1]
        last.multi_scale_output = False
        self.head = _Head(config.in_channels, config.num_keypoints)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> HeatmapOutput:
        """pixel_values: (B, 3, H, W) normalised crops; labels: optional (B, K, 3) ``[x, y, weight]`` in crop
        pixels -> ``loss`` (heatmap MSE with target weights)."""
        heatmaps = self.head(self.backbone(pixel_values)[0])
        loss = None
        if labels is not None:
            loss = heatmap_loss(heatmaps, labels, tuple(self.config.input_size), udp=False,
                                sigma=float(getattr(self.config, "heatmap_sigma", 2.0)))
        return HeatmapOutput(loss=loss, heatmaps=heatmaps)


def _create(variant: dict, **overrides) -> HRNetForPoseEstimation:
    return HRNetForPoseEstimation(HRNetPoseConfig(**{**variant, **overrides}))


register_auto_classes(HRNetPoseConfig, HRNetForPoseEstimation)
for _name, _variant in HRNET_VARIANTS.items():
    register_model(_name, partial(_create, _variant))
