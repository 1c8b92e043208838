"""ViTPose-b for 37 keypoints: transformers' own ``VitPoseForPoseEstimation`` (reused, not reimplemented)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

__all__ = ["vitpose_config", "VITPOSE_VARIANTS"]

VITPOSE_VARIANTS = {"vitpose-b": {"num_labels": 37}}


def vitpose_config(num_labels: int = 37, **kwargs):
    """A ``transformers.VitPoseConfig`` with the ViT-B backbone (256x192 input, 16x16 patches)."""
    from transformers import VitPoseConfig

    return VitPoseConfig(num_labels=num_labels, **kwargs)


def _register() -> None:
    """Let ``AutoModel`` resolve a ViTPose folder to ``VitPoseForPoseEstimation`` (transformers maps none)."""
    from transformers import AutoModel, VitPoseConfig, VitPoseForPoseEstimation

    try:
        AutoModel.register(VitPoseConfig, VitPoseForPoseEstimation, exist_ok=True)
    except ValueError as exc:  # a transformers version that maps vitpose itself
        log.debug("ViTPose not registered with AutoModel: %s", exc)


_register()
