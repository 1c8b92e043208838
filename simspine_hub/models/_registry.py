"""The model registry (timm-style): each family file registers its variants and its transformers Auto
classes where they are defined; :func:`create_model` builds a variant by name."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register_model", "register_auto_classes", "create_model", "list_models"]

_BUILDERS: dict[str, Callable] = {}


def register_model(name: str, builder: Callable) -> None:
    """Register ``builder(**overrides) -> model`` under a variant ``name`` (e.g. ``spinepose-m``)."""
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is registered twice")
    _BUILDERS[name] = builder


def register_auto_classes(config_class, model_class) -> None:
    """Let ``transformers.AutoConfig`` / ``AutoModel`` resolve ``config_class.model_type`` folders."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)


def list_models() -> list[str]:
    """Names of every registered variant."""
    return sorted(_BUILDERS)


def create_model(name: str, **overrides):
    """Build a randomly initialised model by variant name (``spinepose-m``, ``lifter-full37``, ...)."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown model {name!r}; available: {list_models()}")
    return _BUILDERS[name](**overrides)
