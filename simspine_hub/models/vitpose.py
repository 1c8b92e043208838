"""ViTPose-b for 37 keypoints: transformers' own ``VitPoseForPoseEstimation`` (reused, not reimplemented).

Configured as mmpose's ``td-hm_ViTPose-base_8xb64-210e_coco-256x192`` (the "classic decoder" ViTPose-b):
ViT-B/16 on 256x192 with patch padding 2, LayerNorm eps 1e-6 (mmpretrain's ViT), two 4x4 deconvolutions
of 256 channels + BatchNorm + ReLU, then a 1x1 conv to 37 heatmaps at 64x48. Like that config, it crops with
the UDP affine and decodes with mmpose's ``UDPHeatmap`` (:mod:`simspine_hub.models.codecs`).

The class here is transformers' with our loading rules only (:class:`~simspine_hub.models._base.StrictLoadingMixin`:
``model.safetensors`` only, never ``pytorch_model.bin``; errors name the folder). It keeps transformers' class
name, so a saved folder also loads with transformers alone.
"""

from __future__ import annotations

import logging
from functools import partial

import transformers

from ._base import StrictLoadingMixin
from ._registry import register_model

log = logging.getLogger(__name__)

__all__ = ["VitPoseForPoseEstimation", "vitpose_config", "VITPOSE_VARIANTS"]

VITPOSE_VARIANTS = {"vitpose-b": {"num_labels": 37}}


class VitPoseForPoseEstimation(StrictLoadingMixin, transformers.VitPoseForPoseEstimation):
    """transformers' ``VitPoseForPoseEstimation``; ``from_pretrained`` reads ``model.safetensors`` only."""


def vitpose_config(num_labels: int = 37, num_hidden_layers: int = 12, hidden_size: int = 768,
                   num_attention_heads: int = 12, **kwargs):
    """A ``transformers.VitPoseConfig``: ViT-B backbone (256x192 input, 16x16 patches), classic decoder."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig

    backbone = VitPoseBackboneConfig(num_hidden_layers=num_hidden_layers, hidden_size=hidden_size,
                                     num_attention_heads=num_attention_heads, mlp_ratio=4,
                                     out_indices=[num_hidden_layers], layer_norm_eps=1e-6,
                                     image_size=[256, 192], patch_size=[16, 16])
    kwargs.setdefault("use_simple_decoder", False)
    return VitPoseConfig(num_labels=num_labels, backbone_config=backbone, **kwargs)


def _create(variant: dict, **overrides) -> VitPoseForPoseEstimation:
    return VitPoseForPoseEstimation(vitpose_config(**{**variant, **overrides}))


def _register_auto() -> None:
    """Let ``AutoModel`` and ``AutoModelForPoseEstimation`` resolve a ViTPose folder to our strictly loading
    ``VitPoseForPoseEstimation`` (transformers maps none for ``AutoModel``, its own class for the other)."""
    from transformers import AutoModel, AutoModelForPoseEstimation, VitPoseConfig

    for auto in (AutoModel, AutoModelForPoseEstimation):
        try:
            auto.register(VitPoseConfig, VitPoseForPoseEstimation, exist_ok=True)
        except ValueError as exc:  # a transformers version that refuses to re-map vitpose
            log.debug("ViTPose not registered with %s: %s", auto.__name__, exc)


_register_auto()
for _name, _variant in VITPOSE_VARIANTS.items():
    register_model(_name, partial(_create, _variant))
