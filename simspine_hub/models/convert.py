"""Conversion of released checkpoints into our safetensors layout.

mmpose ``.pth`` state dicts (loaded with ``torch.load(weights_only=True)``, never unpickled otherwise)
    * SpinePose / RTMPose: ``backbone.stem.*`` and ``backbone.stageN.*`` (MMDetection CSPNeXt) become timm's
      ``backbone.stem.*`` / ``backbone.stages.(N-1).*`` (timm's own ``cspnext.checkpoint_filter_fn``); the
      RTMCC head keys (``head.final_layer``, ``head.mlp``, ``head.gau``, ``head.cls_x``, ``head.cls_y``) are
      already ours. ``data_preprocessor.*`` and loss buffers are dropped.
    * HRNet: ``backbone.*`` keeps the original HRNet names that timm uses; ``keypoint_head.final_layer`` or
      ``head.final_layer`` become ``head.final_layer``.
ONNX files (as ``torch.onnx.export`` and spinepose write them) for SpinePose/RTMPose, HRNet and the lifter
(ViTPose is not covered: transformers ships its own conversion for the original ViTPose checkpoints)
    Parameters are found by name: an initializer named like one of our keys is copied; other nodes
    (BatchNormalization, Conv, then anything else, e.g. a MatMul holding a transposed Linear weight) are
    matched by the module scope in their node name (``/stem/stem.0/bn/...``) against our module names. A Conv whose BatchNormalization was folded into it by the exporter is loaded
    with an identity BatchNorm (gamma = sqrt(1 + eps), beta = folded bias, mean 0, var 1). Parameters of
    modules absent from the graph (branches the exporter pruned as dead) keep the model's values.
"""

from __future__ import annotations

import os
import re

import numpy as np
import torch

__all__ = ["mmpose_to_ours", "ours_to_mmpose", "load_mmpose_checkpoint", "onnx_to_ours", "load_converted"]

_DROP = re.compile(r"^(data_preprocessor\.|.*num_batches_tracked$|loss)")


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
            if k.startswith("backbone."):
                out[k] = v
            elif k.startswith(("keypoint_head.final_layer", "head.final_layer")):
                out["head.final_layer" + k.split("final_layer", 1)[1]] = v
    else:
        raise ValueError(f"no mmpose key mapping for family {family!r}; supported: spinepose, hrnet")
    return {k: v for k, v in out.items() if not _DROP.match(k)}


def ours_to_mmpose(state: dict, family: str) -> dict:
    """Inverse mapping (our names -> mmpose's), used to prove the conversion on checkpoints we make."""
    out = {}
    for k, v in state.items():
        if family == "spinepose" and k.startswith("backbone.stages."):
            k = re.sub(r"^backbone\.stages\.(\d+)\.", lambda m: f"backbone.stage{int(m.group(1)) + 1}.", k)
        if family == "hrnet" and k.startswith("head."):
            k = "keypoint_" + k
        out[k] = v
    return out


def load_mmpose_checkpoint(path: str | os.PathLike, family: str) -> dict:
    """Read an mmpose ``.pth`` safely (``weights_only=True``) and map its keys to ours."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a weights-only PyTorch checkpoint ({exc}); only tensors are accepted, "
                         "arbitrary pickles are refused") from exc
    return mmpose_to_ours(state, family)


def _scope(node_name: str) -> str:
    """'/stem/stem.0/bn/BatchNormalization' -> 'stem.0.bn' (module path from an exporter node name)."""
    parts = [p for p in node_name.strip("/").split("/")[:-1] if p]
    path: list[str] = []
    for p in parts:
        if path and p.startswith(".".join(path[-1:]) + "."):
            path[-1] = p
        else:
            path.append(p)
    return ".".join(path)


def _following_bn(conv: str, modules: dict) -> str | None:
    """Name of the BatchNorm that follows ``conv``: ``x.conv -> x.bn``, ``conv1 -> bn1``, ``seq.0 -> seq.1``."""
    parent, _, last = conv.rpartition(".")
    prefix = f"{parent}." if parent else ""
    candidates = [f"{prefix}bn", prefix + last.replace("conv", "bn")]
    if last.isdigit():
        candidates.append(f"{prefix}{int(last) + 1}")
    for c in candidates:
        if isinstance(modules.get(c), torch.nn.modules.batchnorm._BatchNorm):
            return c
    return None


def onnx_to_ours(path: str | os.PathLike, model: torch.nn.Module) -> dict:
    """Map an ONNX file's parameters onto ``model``'s state dict (see module docstring)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity" and n.input}

    def resolve(name: str):
        seen = 0
        while name not in tensors and name in alias and seen < 100:
            name, seen = alias[name], seen + 1
        return tensors.get(name)

    ours = model.state_dict()
    modules = dict(model.named_modules())
    out = {k: torch.from_numpy(np.array(tensors[k])) for k in ours if k in tensors}

    def module_for(node) -> str | None:
        scope = _scope(node.name)
        hits = [m for m in modules if m == scope or m.endswith("." + scope)]
        return hits[0] if len(hits) == 1 else None

    bn_seen = set()
    for node in graph.node:
        if node.op_type == "BatchNormalization":
            mod = module_for(node)
            if mod is None:
                continue
            for key, inp in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5]):
                arr = resolve(inp)
                if arr is not None:
                    out[f"{mod}.{key}"] = torch.from_numpy(np.array(arr))
            bn_seen.add(mod)
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        w = resolve(node.input[1])
        mod = None
        for k in ours:  # a named weight tells us the module directly
            if k == node.input[1]:
                mod = k.rsplit(".", 1)[0]
        mod = mod or module_for(node)
        if mod is None or w is None:
            continue
        out[f"{mod}.weight"] = torch.from_numpy(np.array(w))
        b = resolve(node.input[2]) if len(node.input) > 2 else None
        if f"{mod}.bias" in ours and b is not None:
            out[f"{mod}.bias"] = torch.from_numpy(np.array(b))
        bn = _following_bn(mod, modules)
        if b is not None and f"{mod}.bias" not in ours and bn is not None and bn not in bn_seen:
            eps = modules[bn].eps                                   # folded BN: identity BN carrying the bias
            out[f"{bn}.weight"] = torch.full_like(ours[f"{bn}.weight"], float(np.sqrt(1 + eps)))
            out[f"{bn}.bias"] = torch.from_numpy(np.array(b))
            out[f"{bn}.running_mean"] = torch.zeros_like(ours[f"{bn}.running_mean"])
            out[f"{bn}.running_var"] = torch.ones_like(ours[f"{bn}.running_var"])
    for node in graph.node:  # anything else (MatMul with a transposed weight, a folded scale): match by shape
        mod = module_for(node)
        if mod is None:
            continue
        todo = [k for k in ours if k.rsplit(".", 1)[0] == mod and k not in out and not k.endswith("num_batches_tracked")]
        for inp in node.input:
            arr = resolve(inp)
            if arr is None or not todo:
                continue
            for k in list(todo):
                want = tuple(ours[k].shape)
                if arr.shape == want:
                    out[k] = torch.from_numpy(np.array(arr))
                elif arr.ndim == 2 and arr.shape[::-1] == want:
                    out[k] = torch.from_numpy(np.array(arr.T))
                elif arr.size == ours[k].numel():
                    out[k] = torch.from_numpy(np.array(arr).reshape(want))
                elif arr.ndim == len(want) == 3 and arr.shape[0] == want[0] and arr.shape[2] == want[2] \
                        and arr.shape[1] == want[1] - 1:
                    # position embeddings with a class-token row folded into the patch rows (ViTPose adds
                    # pos[:, :1] to every patch): the folded sum goes to the patch rows, the class row to zero
                    full = np.zeros(want, dtype=arr.dtype)
                    full[:, 1:] = arr
                    out[k] = torch.from_numpy(full)
                else:
                    continue
                todo.remove(k)
                break
    # Parameters of modules that never appear in the graph (dead branches the exporter pruned) cannot affect
    # the outputs; they keep the model's own values.
    used = {module_for(n) for n in graph.node} | {k.rsplit(".", 1)[0] for k in out}
    for k, v in ours.items():
        if k not in out and k.rsplit(".", 1)[0] not in used and not k.endswith("num_batches_tracked"):
            out[k] = v.clone()
    return out


def load_converted(model: torch.nn.Module, state: dict, source: str) -> torch.nn.Module:
    """Load converted tensors into ``model`` strictly (num_batches_tracked may be absent)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{source}: conversion left {len(missing)} missing ({missing[:5]}) and "
                         f"{len(unexpected)} unexpected ({unexpected[:5]}) tensors; is it the right family/config?")
    return model
