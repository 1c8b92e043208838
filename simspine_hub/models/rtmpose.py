"""SpinePose / RTMPose: CSPNeXt backbone (timm ``cspnext_*``) + RTMCC head (SimCC coordinate classification).

Head (RTMPose's RTMCCHead, as configured in the spinepose configs): a k x k conv from the last backbone
stage to K keypoint maps, flattened per keypoint, ScaleNorm + Linear to ``hidden_dims`` tokens, one gated
attention unit (GAU) over the K keypoint tokens, then two linear SimCC classifiers over
``W * split_ratio`` x-bins and ``H * split_ratio`` y-bins.

Parameter names follow mmpose's so that released ``.pth`` files convert by renaming the backbone only
(``tools/convert_checkpoint.py``): ``head.final_layer``, ``head.mlp.0.g``, ``head.mlp.1.weight``,
``head.gau.{uv,o}.weight``, ``head.gau.{gamma,beta}``, ``head.gau.ln.g``, ``head.gau.res_scale.scale``,
``head.cls_x.weight``, ``head.cls_y.weight``.

Input: (B, 3, 256, 192) normalised RGB crops. Output: SimCC logits x (B, K, 384) and y (B, K, 512).
"""

from __future__ import annotations

import math
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
from .targets import simcc_loss

__all__ = ["SpinePoseConfig", "SpinePoseForPoseEstimation", "SpinePoseOutput", "SPINEPOSE_VARIANTS"]

#: Variants as data: timm backbone, its last-stage channels. Sizes from the spinepose / RTMPose configs
#: (s: deepen 0.33 widen 0.5; m: 0.67 / 0.75; l: 1.0 / 1.0 -> 512 / 768 / 1024 channels).
SPINEPOSE_VARIANTS = {
    "spinepose-s": {"backbone": "cspnext_s", "in_channels": 512, "num_keypoints": 37},
    "spinepose-m": {"backbone": "cspnext_m", "in_channels": 768, "num_keypoints": 37},
    "spinepose-l": {"backbone": "cspnext_l", "in_channels": 1024, "num_keypoints": 37},
}
#: RTMPose-m (the paper's Table 2 row, COCO-pretrained) is the SpinePose-m architecture with other weights.
SPINEPOSE_VARIANTS["rtmpose-m"] = SPINEPOSE_VARIANTS["spinepose-m"]


class SpinePoseConfig(PretrainedConfig):
    """Configuration of a SpinePose / RTMPose model (input ``(height, width)`` pixels)."""

    model_type = "spinepose"

    def __init__(self, backbone: str = "cspnext_m", in_channels: int = 768, num_keypoints: int = 37,
                 input_size: tuple[int, int] = INPUT_SIZE, split_ratio: float = 2.0, final_kernel: int = 7,
                 hidden_dims: int = 256, s: int = 128, expansion_factor: int = 2,
                 image_mean: tuple[float, ...] = IMAGE_MEAN, image_std: tuple[float, ...] = IMAGE_STD,
                 box_padding: float = 1.25, **kwargs):
        self.backbone = backbone
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.input_size = list(input_size)
        self.split_ratio = split_ratio
        self.final_kernel = final_kernel
        self.hidden_dims = hidden_dims
        self.s = s
        self.expansion_factor = expansion_factor
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.box_padding = box_padding
        super().__init__(**kwargs)


class ScaleNorm(nn.Module):
    """x / (||x|| * dim^-1/2) * g, with a learnt scalar g (mmpose's ScaleNorm)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class GatedAttentionUnit(nn.Module):
    """Single-head gated attention over K tokens (squared-ReLU kernel), residual with a layer scale."""

    def __init__(self, dim: int, expansion_factor: int = 2, s: int = 128):
        super().__init__()
        self.e, self.s = int(dim * expansion_factor), s
        self.ln = ScaleNorm(dim)
        self.uv = nn.Linear(dim, 2 * self.e + s, bias=False)
        self.gamma = nn.Parameter(torch.rand(2, s))
        self.beta = nn.Parameter(torch.rand(2, s))
        self.o = nn.Linear(self.e, dim, bias=False)
        self.res_scale = LayerScale(dim)
        self.act = nn.SiLU()
        nn.init.xavier_uniform_(self.uv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v, base = torch.split(self.act(self.uv(self.ln(x))), [self.e, self.e, self.s], dim=-1)
        qk = base.unsqueeze(2) * self.gamma + self.beta                  # (B, K, 2, s)
        q, k = qk.unbind(dim=2)
        kernel = torch.relu(q @ k.transpose(1, 2) / math.sqrt(self.s)) ** 2
        return self.res_scale(x) + self.o(u * (kernel @ v))


class RTMCCHead(nn.Module):
    def __init__(self, cfg: SpinePoseConfig):
        super().__init__()
        h, w = cfg.input_size
        fh, fw = h // 32, w // 32
        k = cfg.final_kernel
        self.final_layer = nn.Conv2d(cfg.in_channels, cfg.num_keypoints, k, padding=k // 2)
        self.mlp = nn.Sequential(ScaleNorm(fh * fw), nn.Linear(fh * fw, cfg.hidden_dims, bias=False))
        self.gau = GatedAttentionUnit(cfg.hidden_dims, cfg.expansion_factor, cfg.s)
        self.cls_x = nn.Linear(cfg.hidden_dims, int(w * cfg.split_ratio), bias=False)
        self.cls_y = nn.Linear(cfg.hidden_dims, int(h * cfg.split_ratio), bias=False)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.final_layer(feats).flatten(2)                            # (B, K, fh*fw)
        x = self.gau(self.mlp(x))
        return self.cls_x(x), self.cls_y(x)


@dataclass
class SpinePoseOutput(ModelOutput):
    """loss (with ``labels``: mmpose's KLDiscretLoss, :mod:`~simspine_hub.models.targets`); simcc_x (B, K, W*r),
    simcc_y (B, K, H*r) logits; keypoints (B, K, 2) in crop pixels; scores (B, K)."""

    loss: torch.Tensor | None = None
    simcc_x: torch.Tensor | None = None
    simcc_y: torch.Tensor | None = None
    keypoints: torch.Tensor | None = None
    scores: torch.Tensor | None = None


class SpinePoseForPoseEstimation(SimspinePreTrainedModel):
    """SpinePose / RTMPose top-down pose model (``from_pretrained`` loads ``model.safetensors``)."""

    config_class = SpinePoseConfig
    base_model_prefix = "spinepose"
    main_input_name = "pixel_values"

    def __init__(self, config: SpinePoseConfig):
        super().__init__(config)
        import timm

        self.backbone = timm.create_model(config.backbone, pretrained=False, num_classes=0, global_pool="")
        self.head = RTMCCHead(config)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> SpinePoseOutput:
        """pixel_values: (B, 3, H, W) normalised crops (see :class:`~simspine_hub.models.processing.PoseImageProcessor`);
        labels: optional (B, K, 3) ``[x, y, weight]`` in crop pixels -> ``loss`` (SimCC KL divergence)."""
        feats = self.backbone.forward_features(pixel_values)
        sx, sy = self.head(feats)
        loss = simcc_loss(sx, sy, labels, self.config) if labels is not None else None
        r = self.config.split_ratio
        vx, ix = sx.max(dim=-1)
        vy, iy = sy.max(dim=-1)
        keypoints = torch.stack([ix, iy], dim=-1).to(sx.dtype) / r
        return SpinePoseOutput(loss=loss, simcc_x=sx, simcc_y=sy, keypoints=keypoints, scores=torch.minimum(vx, vy))


def _create(variant: dict, **overrides) -> SpinePoseForPoseEstimation:
    return SpinePoseForPoseEstimation(SpinePoseConfig(**{**variant, **overrides}))


register_auto_classes(SpinePoseConfig, SpinePoseForPoseEstimation)
for _name, _variant in SPINEPOSE_VARIANTS.items():
    register_model(_name, partial(_create, _variant))
