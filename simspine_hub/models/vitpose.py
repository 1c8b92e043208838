"""ViTPose-b for 37 keypoints: transformers' own ``VitPoseForPoseEstimation`` (reused, not reimplemented)."""

from __future__ import annotations

__all__ = ["vitpose_config", "VITPOSE_VARIANTS"]

VITPOSE_VARIANTS = {"vitpose-b": {"num_labels": 37}}


def vitpose_config(num_labels: int = 37, **kwargs):
    """A ``transformers.VitPoseConfig`` with the ViT-B backbone (256x192 input, 16x16 patches)."""
    from transformers import VitPoseConfig

    return VitPoseConfig(num_labels=num_labels, **kwargs)
