"""The model registry (timm-style): each family file registers its variants and its transformers Auto
classes where they are defined; :func:`create_model` builds a variant by name.

Registering a class also marks it for transformers' ``register_for_auto_class``: ``save_pretrained`` then
writes ``auto_map`` into ``config.json`` and copies the family file with the files it imports relatively
(this one, ``_base.py``, ``_constants.py``), so that ``AutoModel.from_pretrained(folder,
trust_remote_code=True)`` works where simspine_hub is not installed. There, transformers imports this file as
``transformers_modules.<folder>._registry``; the global registrations are then skipped (they would replace
the installed package's classes in a process that has both).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register_model", "register_auto_classes", "create_model", "list_models"]

_BUILDERS: dict[str, Callable] = {}
#: True when transformers runs this file as hub remote code (a copy outside the installed package)
_REMOTE = not __name__.startswith("simspine_hub.")


def register_model(name: str, builder: Callable) -> None:
    """Register ``builder(**overrides) -> model`` under a variant ``name`` (e.g. ``spinepose-m``)."""
    if _REMOTE:
        return
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is registered twice")
    _BUILDERS[name] = builder


def register_auto_classes(config_class, model_class) -> None:
    """Let ``transformers.AutoConfig`` / ``AutoModel`` resolve ``config_class.model_type`` folders, and make
    ``save_pretrained`` write the modelling code with ``auto_map`` (hub remote code)."""
    from transformers import AutoConfig, AutoModel

    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")
    if _REMOTE:
        return
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
