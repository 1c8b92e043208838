"""Input conventions of the released top-down models, shared by the family files and the processor.

Kept in a module of its own, with no imports, so that the family files stay loadable as hub remote code
(transformers copies a family file and the files it imports relatively; see ``_registry.py``).
"""

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "INPUT_SIZE"]

#: ImageNet mean / std on 0-255 RGB, and the (H, W) input of the released top-down models.
IMAGE_MEAN = (123.675, 116.28, 103.53)
IMAGE_STD = (58.395, 57.12, 57.375)
INPUT_SIZE = (256, 192)
