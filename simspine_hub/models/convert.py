"""Conversion of released checkpoints into our safetensors layout.

mmpose ``.pth`` state dicts (loaded with ``torch.load(weights_only=True)``, never unpickled otherwise)
    * SpinePose / RTMPose: ``backbone.stem.*`` and ``backbone.stageN.*`` (MMDetection CSPNeXt) become timm's
      ``backbone.stem.*`` / ``backbone.stages.(N-1).*`` (timm's own ``cspnext.checkpoint_filter_fn``); the
      RTMCC head keys (``head.final_layer``, ``head.mlp``, ``head.gau``, ``head.cls_x``, ``head.cls_y``) are
      already ours. ``data_preprocessor.*`` and loss buffers are dropped.
    * HRNet: ``backbone.*`` keeps the original HRNet names that timm uses; ``keypoint_head.final_layer`` or
      ``head.final_layer`` become ``head.final_layer``. A checkpoint that holds fuse layers into the lower
      branches of the last module (``backbone.stage4.2.fuse_layers.{1,2,3}``, e.g. timm's classification
      HRNet) has them dropped: like mmpose's, our pose model has none (they feed nothing).
    * ViTPose (transformers' ``VitPoseForPoseEstimation``), from mmpose 1.x (mmpretrain ``VisionTransformer`` +
      ``HeatmapHead``) or from the original ViTPose repository (mmpose 0.x ``ViT`` + ``TopdownHeatmapSimpleHead``):
      ``backbone.patch_embed.projection|proj`` -> ``backbone.embeddings.patch_embeddings.projection``;
      ``backbone.layers.N|blocks.N``: ``ln1|norm1`` -> ``layernorm_before``, ``ln2|norm2`` -> ``layernorm_after``,
      ``attn.qkv`` (3C x C, rows q, k, v) -> ``attention.attention.query/key/value``, ``attn.proj`` ->
      ``attention.output.dense``, ``ffn.layers.0.0|mlp.fc1`` -> ``mlp.fc1``, ``ffn.layers.1|mlp.fc2`` -> ``mlp.fc2``;
      ``backbone.ln1|last_norm`` -> ``backbone.layernorm``; ``(keypoint_)head.deconv_layers.0/1/3/4`` ->
      ``head.deconv1/batchnorm1/deconv2/batchnorm2``, ``final_layer`` -> ``head.conv``. Position embeddings:
      transformers adds ``pos[:, 1:] + pos[:, :1]`` as the original ViTPose does, so its (1, 1 + P, C) table is
      copied; mmpose 1.x (``with_cls_token=False``) saves (1, P, C) patch rows only, which become rows 1: under a
      zero class row.
    * SimpleBaseline3D lifter, from the PyTorch port of Martinez et al. (``LinearModel``: ``w1``, ``batch_norm1``,
      ``linear_stages.N.{w1,batch_norm1,w2,batch_norm2}``, ``w2``) -> ``inp.0/inp.1``,
      ``blocks.N.net.{0.0,0.1,1.0,1.1}``, ``out``. Its standardisation statistics live outside that state dict:
      pass them (``mean_2d``, ``std_2d``, ``mean_3d``, ``std_3d`` arrays) or the model keeps identity statistics.
ONNX files, for every family: :mod:`simspine_hub.models.convert_onnx` (``onnx_to_ours``, re-exported here).
"""

from __future__ import annotations

import os
import re

import torch

from simspine_hub.models.convert_onnx import onnx_to_ours

__all__ = ["mmpose_to_ours", "ours_to_mmpose", "load_mmpose_checkpoint", "onnx_to_ours", "load_converted"]

_DROP = re.compile(r"^(data_preprocessor\.|.*num_batches_tracked$|loss)")
_HRNET_UNUSED = re.compile(r"^backbone\.stage4\.2\.fuse_layers\.[1-9]")


def mmpose_to_ours(state: dict, family: str) -> dict:
    """mmpose-named tensors -> our names (see module docstring)."""
    state = state.get("state_dict", state)
    out = {}
    if family == "spinepose":
        from timm.models.cspnext import checkpoint_filter_fn

        backbone = {k: v for k, v in state.items() if k.startswith("backbone.")}
        for k, v in checkpoint_filter_fn(backbone).items():
            out[f"backbone.{k}"] = v
        out.update({k: v for k, v in state.items() if k.startswith("head.")})
    elif family == "hrnet":
        for k, v in state.items():
            if k.startswith("backbone.") and not _HRNET_UNUSED.match(k):
                out[k] = v
            elif k.startswith(("keypoint_head.final_layer", "head.final_layer")):
                out["head.final_layer" + k.split("final_layer", 1)[1]] = v
    elif family == "vitpose":
        out = _vitpose_to_ours(state)
    elif family == "lifter":
        out = {_rename(k, _LIFTER_RULES): v for k, v in state.items()}
    else:
        raise ValueError(f"no mmpose key mapping for family {family!r}; supported: {', '.join(FAMILIES)}")
    return {k: v for k, v in out.items() if not _DROP.match(k)}


FAMILIES = ("spinepose", "hrnet", "vitpose", "lifter")

# (pattern, replacement) applied in order, first match wins; names not matched are kept.
_VITPOSE_RULES = [
    (r"^backbone\.patch_embed\.(projection|proj)\.", "backbone.embeddings.patch_embeddings.projection."),
    (r"^backbone\.(?:layers|blocks)\.(\d+)\.(?:ln1|norm1)\.", r"backbone.encoder.layer.\1.layernorm_before."),
    (r"^backbone\.(?:layers|blocks)\.(\d+)\.(?:ln2|norm2)\.", r"backbone.encoder.layer.\1.layernorm_after."),
    (r"^backbone\.(?:layers|blocks)\.(\d+)\.attn\.proj\.", r"backbone.encoder.layer.\1.attention.output.dense."),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.0\.0\.", r"backbone.encoder.layer.\1.mlp.fc1."),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.1\.", r"backbone.encoder.layer.\1.mlp.fc2."),
    (r"^backbone\.blocks\.(\d+)\.mlp\.fc([12])\.", r"backbone.encoder.layer.\1.mlp.fc\2."),
    (r"^backbone\.(?:ln1|last_norm)\.", "backbone.layernorm."),
    (r"^(?:keypoint_)?head\.deconv_layers\.0\.", "head.deconv1."),
    (r"^(?:keypoint_)?head\.deconv_layers\.1\.", "head.batchnorm1."),
    (r"^(?:keypoint_)?head\.deconv_layers\.3\.", "head.deconv2."),
    (r"^(?:keypoint_)?head\.deconv_layers\.4\.", "head.batchnorm2."),
    (r"^(?:keypoint_)?head\.final_layer\.", "head.conv."),
]
_LIFTER_RULES = [
    (r"^w1\.", "inp.0."),
    (r"^batch_norm1\.", "inp.1."),
    (r"^linear_stages\.(\d+)\.w1\.", r"blocks.\1.net.0.0."),
    (r"^linear_stages\.(\d+)\.batch_norm1\.", r"blocks.\1.net.0.1."),
    (r"^linear_stages\.(\d+)\.w2\.", r"blocks.\1.net.1.0."),
    (r"^linear_stages\.(\d+)\.batch_norm2\.", r"blocks.\1.net.1.1."),
    (r"^w2\.", "out."),
]


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def _vitpose_to_ours(state: dict) -> dict:
    out = {}
    original = any(k.startswith("backbone.blocks.") for k in state)   # original ViTPose repo vs mmpose 1.x
    for k, v in state.items():
        m = re.match(r"^backbone\.(?:layers|blocks)\.(\d+)\.attn\.qkv\.(weight|bias)$", k)
        if m:
            for part, name in zip(v.chunk(3, dim=0), ("query", "key", "value")):
                out[f"backbone.encoder.layer.{m.group(1)}.attention.attention.{name}.{m.group(2)}"] = part.clone()
        elif k == "backbone.pos_embed":
            if original:
                out["backbone.embeddings.position_embeddings"] = v
            else:
                out["backbone.embeddings.position_embeddings"] = torch.cat([torch.zeros_like(v[:, :1]), v], 1)
        elif k != "backbone.cls_token":
            out[_rename(k, _VITPOSE_RULES)] = v
    return out


def ours_to_mmpose(state: dict, family: str, style: str = "mmpose") -> dict:
    """Inverse mapping (our names -> mmpose's), used to prove the conversion on checkpoints we make.

    ``style`` (ViTPose only): ``"mmpose"`` (mmpose 1.x / mmpretrain names) or ``"original"`` (ViTPose repo).
    """
    if family == "vitpose":
        return _vitpose_from_ours(state, style)
    if family == "lifter":
        inverse = [(r"^inp\.0\.", "w1."), (r"^inp\.1\.", "batch_norm1."),
                   (r"^blocks\.(\d+)\.net\.0\.0\.", r"linear_stages.\1.w1."),
                   (r"^blocks\.(\d+)\.net\.0\.1\.", r"linear_stages.\1.batch_norm1."),
                   (r"^blocks\.(\d+)\.net\.1\.0\.", r"linear_stages.\1.w2."),
                   (r"^blocks\.(\d+)\.net\.1\.1\.", r"linear_stages.\1.batch_norm2."), (r"^out\.", "w2.")]
        return {_rename(k, inverse): v for k, v in state.items() if not k.endswith(("_2d", "_3d"))}
    out = {}
    for k, v in state.items():
        if family == "spinepose" and k.startswith("backbone.stages."):
            k = re.sub(r"^backbone\.stages\.(\d+)\.", lambda m: f"backbone.stage{int(m.group(1)) + 1}.", k)
        if family == "hrnet" and k.startswith("head."):
            k = "keypoint_" + k
        out[k] = v
    return out


def _vitpose_from_ours(state: dict, style: str) -> dict:
    if style not in ("mmpose", "original"):
        raise ValueError(f"style must be 'mmpose' or 'original', got {style!r}")
    o = style == "original"
    layer = "backbone.blocks" if o else "backbone.layers"
    names = {"layernorm_before": "norm1" if o else "ln1", "layernorm_after": "norm2" if o else "ln2",
             "attention.output.dense": "attn.proj", "mlp.fc1": "mlp.fc1" if o else "ffn.layers.0.0",
             "mlp.fc2": "mlp.fc2" if o else "ffn.layers.1"}
    head = "keypoint_head" if o else "head"
    fixed = {"backbone.embeddings.patch_embeddings.projection": "backbone.patch_embed." + ("proj" if o else "projection"),
             "backbone.layernorm": "backbone." + ("last_norm" if o else "ln1"),
             "head.deconv1": f"{head}.deconv_layers.0", "head.batchnorm1": f"{head}.deconv_layers.1",
             "head.deconv2": f"{head}.deconv_layers.3", "head.batchnorm2": f"{head}.deconv_layers.4",
             "head.conv": f"{head}.final_layer"}
    out, qkv = {}, {}
    for k, v in state.items():
        mod, _, leaf = k.rpartition(".")
        m = re.match(r"^backbone\.encoder\.layer\.(\d+)\.(.+)$", mod)
        if k == "backbone.embeddings.position_embeddings":
            out["backbone.pos_embed"] = v.clone() if o else v[:, 1:] + v[:, :1]
        elif m and m.group(2).startswith("attention.attention."):
            qkv.setdefault((m.group(1), leaf), {})[m.group(2).rsplit(".", 1)[1]] = v
        elif m:
            out[f"{layer}.{m.group(1)}.{names[m.group(2)]}.{leaf}"] = v
        elif mod in fixed:
            out[f"{fixed[mod]}.{leaf}"] = v
        else:
            out[k] = v
    for (i, leaf), parts in qkv.items():
        out[f"{layer}.{i}.attn.qkv.{leaf}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def load_mmpose_checkpoint(path: str | os.PathLike, family: str) -> dict:
    """Read an mmpose ``.pth`` safely (``weights_only=True``) and map its keys to ours."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a weights-only PyTorch checkpoint ({exc}); only tensors are accepted, "
                         "arbitrary pickles are refused") from exc
    return mmpose_to_ours(state, family)


def load_converted(model: torch.nn.Module, state: dict, source: str) -> torch.nn.Module:
    """Load converted tensors into ``model`` strictly (num_batches_tracked may be absent)."""
    ours = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} (model {tuple(ours[k].shape)})" for k, v in state.items()
             if k in ours and tuple(v.shape) != tuple(ours[k].shape)]
    if wrong:
        raise ValueError(f"{source}: {len(wrong)} tensors do not fit the model's config, e.g. {wrong[:3]}; "
                         "pick the variant the checkpoint was trained as (--model) or adjust its config")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{source}: conversion left {len(missing)} missing ({missing[:5]}) and "
                         f"{len(unexpected)} unexpected ({unexpected[:5]}) tensors; is it the right family/config?")
    return model
