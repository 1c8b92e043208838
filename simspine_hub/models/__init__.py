"""Model families (one file each, like timm), a small registry, and transformers Auto-class registration.

Variants are data (``*_VARIANTS`` dicts in each family file); :func:`create_model` builds one by name and
:func:`list_models` lists them. After :func:`register_auto` (run automatically when transformers is
imported after ``import simspine_hub``, see :mod:`simspine_hub._autoreg`), ``transformers.AutoConfig`` and
``AutoModel`` load our folders (``config.json`` + ``model.safetensors``) without ``trust_remote_code``.
"""

from __future__ import annotations

__all__ = ["create_model", "list_models", "register_auto", "MODEL_FAMILIES", "InferenceModel"]


def __getattr__(name: str):
    if name == "InferenceModel":          # lazily: keeps ``import simspine_hub.models`` free of torch
        from ._base import InferenceModel

        return InferenceModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: name -> (module, config class, model class, variants dict name)
MODEL_FAMILIES = {
    "spinepose": ("rtmpose", "SpinePoseConfig", "SpinePoseForPoseEstimation", "SPINEPOSE_VARIANTS"),
    "hrnet": ("hrnet", "HRNetPoseConfig", "HRNetForPoseEstimation", "HRNET_VARIANTS"),
    "lifter": ("lifter", "LifterConfig", "SimpleBaseline3D", "LIFTER_VARIANTS"),
    "vitpose": ("vitpose", None, None, "VITPOSE_VARIANTS"),
}


def _family(name: str):
    import importlib

    for fam, (mod, cfg, model, variants) in MODEL_FAMILIES.items():
        m = importlib.import_module(f"{__name__}.{mod}")
        if name in getattr(m, variants):
            return fam, m, cfg, model, getattr(m, variants)[name]
    raise KeyError(f"unknown model {name!r}; available: {list_models()}")


def list_models() -> list[str]:
    """Names of every registered variant."""
    import importlib

    out = []
    for mod, _, _, variants in MODEL_FAMILIES.values():
        out += list(getattr(importlib.import_module(f"{__name__}.{mod}"), variants))
    return out


def create_model(name: str, **overrides):
    """Build a randomly initialised model by variant name (``spinepose-m``, ``lifter-full37``, ...)."""
    fam, module, cfg_name, model_name, variant = _family(name)
    if fam == "vitpose":
        from transformers import VitPoseForPoseEstimation

        return VitPoseForPoseEstimation(module.vitpose_config(**{**variant, **overrides}))
    config = getattr(module, cfg_name)(**{**variant, **overrides})
    return getattr(module, model_name)(config)


def register_pair(config_class, model_class) -> None:
    """Register one config/model pair with ``AutoConfig`` / ``AutoModel`` (idempotent)."""
    from transformers import AutoConfig, AutoModel

    try:
        AutoConfig.register(config_class.model_type, config_class)
    except ValueError:  # already registered
        pass
    try:
        AutoModel.register(config_class, model_class)
    except ValueError:
        pass


def register_auto() -> None:
    """Register every family (each family module also registers itself when it is imported)."""
    import importlib

    for mod, _, _, _ in MODEL_FAMILIES.values():
        importlib.import_module(f"{__name__}.{mod}")
