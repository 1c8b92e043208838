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
                              conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode,
                              device=conv.weight.device, dtype=conv.weight.dtype)
            fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
            base = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.copy_((base - bn.running_mean) * scale + bn.bias)
        mod.conv = fused
        mod.bn = nn.Sequential(getattr(bn, "drop", nn.Identity()), getattr(bn, "act", nn.Identity()))
    return model


class InferenceModel:
    """A model prepared for fast inference on its device (CPU or CUDA): BatchNorm folded into convs,
    channels-last, ``torch.compile`` with inductor freezing (weights constant-folded; on CPU pre-packed for
    oneDNN and called from a C++ wrapper), optionally bfloat16 autocast.

    Takes ownership of ``model`` (modified in place; move it to its device first). Call it like the model
    (e.g. ``pixel_values=`` (B, 3, H, W) float32 on the model's device); outputs come back as float32 in the
    same ModelOutput; ``config`` and ``device`` are the model's. The first call per input shape compiles
    (~15-25 s on 2 CPU cores). ``bf16`` uses the CPU's bf16 instructions where present (AVX512-BF16 / AMX;
    emulated and slow otherwise) or the GPU's tensor cores, and changes outputs at the ~1e-2 relative level.
    """

    def __init__(self, model, compile: bool = True, bf16: bool = False):
        import torch

        self.model = fuse_conv_bn(model.eval()).to(memory_format=torch.channels_last)
        self.config = model.config
        self.bf16 = bf16
        # one specialised graph per input shape (batch sizes vary little in top-down inference)
        self._run = torch.compile(self.model, dynamic=False) if compile else self.model

    @property
    def device(self):
        return self.model.device

    def __call__(self, *args, **kwargs):
        import torch

        def prep(v):
            return v.contiguous(memory_format=torch.channels_last) if isinstance(v, torch.Tensor) and v.ndim == 4 else v

        args, kwargs = [prep(a) for a in args], {k: prep(v) for k, v in kwargs.items()}
        # inductor reads ``freezing`` when a graph compiles (first call per shape); passing it through
        # torch.compile(options=...) leaves the conv weights un-packed (re-ordered on every call). On the CPU
        # the C++ wrapper calls the kernels without Python in between (~10 % at batch 1).
        from torch._inductor import config as inductor_config

        kind = self.device.type
        with torch.inference_mode(), torch.autocast(kind, dtype=torch.bfloat16, enabled=self.bf16), \
                inductor_config.patch(freezing=True, cpp_wrapper=kind == "cpu"):
            out = self._run(*args, **kwargs)
        for k, v in out.items():
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                out[k] = v.float()
        return out
