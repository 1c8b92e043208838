"""Model families (one file each, like timm), registered where they are defined.

``import simspine_hub.models`` imports every family, which registers its variants (:func:`create_model`,
:func:`list_models`) and its config/model classes with ``transformers.AutoConfig`` / ``AutoModel``; after it,
``AutoModel.from_pretrained(folder)`` loads our folders (``config.json`` + ``model.safetensors``).
Needs the ``models`` extra (torch, timm, transformers).
"""

from simspine_hub.models import hrnet, lifter, rtmpose, vitpose  # noqa: F401  (registration)
from simspine_hub.models._registry import create_model, list_models
from simspine_hub.models.inference import InferenceModel

__all__ = ["create_model", "list_models", "InferenceModel"]
