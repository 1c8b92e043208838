"""ONNX files (as ``torch.onnx.export`` and spinepose write them) -> our state dict, for every family.

Parameters are found by name: an initializer named like one of our keys is copied; other nodes
(BatchNormalization, Conv, then anything else, e.g. a MatMul holding a transposed Linear weight) are matched
by the module scope in their node name (``/stem/stem.0/bn/...``) against our module names. A Conv whose
BatchNormalization was folded into it by the exporter is loaded with an identity BatchNorm (gamma =
sqrt(1 + eps), beta = folded bias, mean 0, var 1). Parameters of modules absent from the graph (branches the
exporter pruned as dead) keep the model's values.
"""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["onnx_to_ours"]


class _Graph:
    """An ONNX graph's initializers, resolved through Identity nodes, and node -> module matching."""

    def __init__(self, path: str | os.PathLike, model: torch.nn.Module):
        import onnx
        from onnx import numpy_helper

        self.graph = onnx.load(str(path)).graph
        self.tensors = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.alias = {n.output[0]: n.input[0] for n in self.graph.node if n.op_type == "Identity" and n.input}
        self.modules = dict(model.named_modules())

    def resolve(self, name: str) -> np.ndarray | None:
        """The constant behind ``name`` (following up to 100 Identity nodes), or None."""
        seen = 0
        while name not in self.tensors and name in self.alias and seen < 100:
            name, seen = self.alias[name], seen + 1
        return self.tensors.get(name)

    def module_for(self, node) -> str | None:
        """Our module whose name ends with the node's scope, when exactly one does."""
        scope = _scope(node.name)
        hits = [m for m in self.modules if m == scope or m.endswith("." + scope)]
        return hits[0] if len(hits) == 1 else None


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


def _tensor(arr) -> torch.Tensor:
    return torch.from_numpy(np.array(arr))


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


def _batchnorms(g: _Graph, out: dict) -> set[str]:
    """BatchNormalization nodes -> weight, bias, running statistics; returns the modules found."""
    seen = set()
    for node in g.graph.node:
        mod = g.module_for(node) if node.op_type == "BatchNormalization" else None
        if mod is None:
            continue
        for key, inp in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5]):
            arr = g.resolve(inp)
            if arr is not None:
                out[f"{mod}.{key}"] = _tensor(arr)
        seen.add(mod)
    return seen


def _convs(g: _Graph, ours: dict, bn_seen: set[str], out: dict) -> None:
    """Conv nodes -> weight and bias; a bias on a bias-free conv is a folded BatchNorm (identity BN + bias)."""
    for node in g.graph.node:
        if node.op_type != "Conv":
            continue
        w = g.resolve(node.input[1])
        named = node.input[1].rsplit(".", 1)[0] if node.input[1] in ours else None  # a named weight
        mod = named or g.module_for(node)
        if mod is None or w is None:
            continue
        out[f"{mod}.weight"] = _tensor(w)
        b = g.resolve(node.input[2]) if len(node.input) > 2 else None
        if f"{mod}.bias" in ours and b is not None:
            out[f"{mod}.bias"] = _tensor(b)
        bn = _following_bn(mod, g.modules)
        if b is not None and f"{mod}.bias" not in ours and bn is not None and bn not in bn_seen:
            eps = g.modules[bn].eps
            out[f"{bn}.weight"] = torch.full_like(ours[f"{bn}.weight"], float(np.sqrt(1 + eps)))
            out[f"{bn}.bias"] = _tensor(b)
            out[f"{bn}.running_mean"] = torch.zeros_like(ours[f"{bn}.running_mean"])
            out[f"{bn}.running_var"] = torch.ones_like(ours[f"{bn}.running_var"])


def _fit(arr: np.ndarray, want: torch.Tensor, transposed: bool, key: str) -> torch.Tensor | None:
    """``arr`` as a tensor of ``want``'s shape (as is, transposed, or reshaped), or None if it cannot be."""
    shape = tuple(want.shape)
    if arr.ndim == 2 and transposed and key.endswith("weight") and arr.shape[::-1] == shape:
        return _tensor(arr.T)                                   # MatMul / Gemm(transB=0) hold W^T
    if arr.shape == shape:
        return _tensor(arr)
    if arr.ndim == 2 and arr.shape[::-1] == shape:
        return _tensor(arr.T)
    if arr.size == want.numel():
        return _tensor(np.array(arr).reshape(shape))
    return None


def _by_shape(g: _Graph, ours: dict, out: dict) -> None:
    """Any other node (MatMul with a transposed weight, a folded scale): its constants fill the still-missing
    parameters of its module by shape, in input order."""
    for node in g.graph.node:
        mod = g.module_for(node)
        if mod is None:
            continue
        todo = [k for k in ours if k.rsplit(".", 1)[0] == mod and k not in out and not k.endswith("num_batches_tracked")]
        transposed = node.op_type == "MatMul" or (node.op_type == "Gemm" and not _attr(node, "transB", 0))
        for inp in node.input:
            arr = g.resolve(inp)
            if arr is None or not todo:
                continue
            for k in list(todo):
                t = _fit(arr, ours[k], transposed, k)
                if t is not None:
                    out[k] = t
                    todo.remove(k)
                    break


def _attr(node, name: str, default):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _position_embeddings(g: _Graph, key: str, like: torch.Tensor, out: dict) -> None:
    """(1, 1 + P, C) table of a model that adds ``pos[:, 1:] + pos[:, :1]`` (ViTPose): the constants added in
    its module ((1, P, C) patch rows, (1, 1, C) class row, or their folded sum) are summed into rows 1:,
    class row 0."""
    mod = key.rsplit(".", 1)[0]
    _, n, c = like.shape
    parts = [g.resolve(i) for node in g.graph.node if node.op_type == "Add" and g.module_for(node) == mod
             for i in node.input]
    parts = [a for a in parts if a is not None and a.shape in ((1, n - 1, c), (1, 1, c), (n - 1, c), (1, c))]
    if parts:
        full = np.zeros(like.shape, dtype=np.float32)
        full[:, 1:] = sum(np.asarray(a, dtype=np.float32).reshape(1, -1, c) for a in parts)
        out[key] = torch.from_numpy(full)


def onnx_to_ours(path: str | os.PathLike, model: torch.nn.Module) -> dict:
    """Map an ONNX file's parameters onto ``model``'s state dict (see module docstring)."""
    g = _Graph(path, model)
    ours = model.state_dict()
    out = {k: _tensor(g.tensors[k]) for k in ours if k in g.tensors}
    _convs(g, ours, _batchnorms(g, out), out)
    for k in ours:  # ViTPose adds pos[:, 1:] + pos[:, :1]; the exporter leaves one or two constants for it
        if k.endswith("position_embeddings") and k not in out:
            _position_embeddings(g, k, ours[k], out)
    _by_shape(g, ours, out)
    # Parameters of modules that never appear in the graph (dead branches the exporter pruned) cannot affect
    # the outputs; they keep the model's own values.
    used = {g.module_for(n) for n in g.graph.node} | {k.rsplit(".", 1)[0] for k in out}
    for k, v in ours.items():
        if k not in out and k.rsplit(".", 1)[0] not in used and not k.endswith("num_batches_tracked"):
            out[k] = v.clone()
    return out
