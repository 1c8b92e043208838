"""Shared base class: strict, safetensors-only loading with one clear error per problem."""

from __future__ import annotations

from safetensors import SafetensorError
from transformers import PreTrainedModel

__all__ = ["SimspinePreTrainedModel", "StrictLoadingMixin"]


class StrictLoadingMixin:
    """For a ``PreTrainedModel`` subclass (listed before it): ``from_pretrained`` reads ``model.safetensors``
    only (never a pickle such as ``pytorch_model.bin``) and refuses weights that do not fit ``config.json``
    (missing, unexpected or differently shaped tensors) instead of re-initialising them; every error names
    the folder."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        want_info = kwargs.pop("output_loading_info", False)
        kwargs.setdefault("use_safetensors", True)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True,
                                                  **kwargs)
        except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
            if "ignore_mismatched_sizes" in str(exc) or "size mismatch" in str(exc):
                raise ValueError(f"{pretrained_model_name_or_path}: model.safetensors does not fit config.json "
                                 "(tensor shapes differ, see the report above); the two files come from different "
                                 "models: re-save them together") from exc
            raise ValueError(f"{pretrained_model_name_or_path}: cannot load the model ({type(exc).__name__}: {exc}); "
                             "is model.safetensors complete? re-download or re-save it") from exc
        bad = {k: list(v)[:5] for k, v in info.items()
               if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
        if bad and not kwargs.get("ignore_mismatched_sizes"):
            raise ValueError(f"{pretrained_model_name_or_path}: model.safetensors does not fit config.json "
                             f"({bad}); the two files come from different models: re-save them together, or "
                             "convert the checkpoint with tools/convert_checkpoint.py")
        return (model, info) if want_info else model


class SimspinePreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    """Base of our families: strict, safetensors-only loading (:class:`StrictLoadingMixin`)."""

    def _init_weights(self, module) -> None:  # keep timm's / torch's own initialisation
        return
