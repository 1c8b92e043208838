"""Shared base class: strict, safetensors-only loading with one clear error per problem."""

from __future__ import annotations

from safetensors import SafetensorError
from transformers import PreTrainedModel

__all__ = ["SimspinePreTrainedModel"]


class SimspinePreTrainedModel(PreTrainedModel):
    """``from_pretrained`` reads ``model.safetensors`` only (never a pickle) and refuses weights that do not
    fit ``config.json`` (missing, unexpected or differently shaped tensors) instead of re-initialising them."""

    def _init_weights(self, module) -> None:  # keep timm's / torch's own initialisation
        return

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


def fuse_conv_bn(model):
    """Fold every eval-mode BatchNorm that directly follows a conv (timm's ConvNormAct: ``conv`` + ``bn``)
    into the conv's weight and bias, keeping the activation; returns the model (modified in place).

    For inference only (the fused model cannot be trained or saved back into our layout)."""
    import torch
    from torch import nn

    for mod in list(model.modules()):
        conv, bn = getattr(mod, "conv", None), getattr(mod, "bn", None)
        if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d) or bn.training:
            continue
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                              conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
            fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
            base = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.copy_((base - bn.running_mean) * scale + bn.bias)
        mod.conv = fused
        mod.bn = nn.Sequential(getattr(bn, "drop", nn.Identity()), getattr(bn, "act", nn.Identity()))
    return model
