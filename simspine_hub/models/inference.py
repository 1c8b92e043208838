"""Fast inference for the 2D models and the lifter: torch (compiled) or ONNX Runtime, one calling convention.

``InferenceModel(model)`` is called like the model (``pixel_values=`` (B, 3, H, W) float32 crops, or
``keypoints_2d=`` (B, K, 2) for the lifter) and returns the model's own ``ModelOutput`` class with float32
tensors, so :class:`~simspine_hub.models.processing.PoseImageProcessor` takes it in place of the model.

Backends:

- ``"torch"``: BatchNorm folded into the convs, channels-last, ``torch.compile`` with inductor freezing
  (weights constant-folded; on the CPU pre-packed for oneDNN and called from a C++ wrapper), optional bf16
  autocast. Runs on the model's device (CPU or CUDA).
- ``"onnxruntime"``: the model exported once through ``torch.onnx`` (batch axis dynamic), the export checked
  against torch on an example batch, and cached next to the checkpoint (``<folder>/onnx/``; for a model
  that was not loaded from a writable folder, ``cache_dir`` or ``~/.cache/simspine_hub/onnx``) under a key
  hashed from the config, the weights, torch's version and the export settings, written atomically. The
  session uses ONNX Runtime's graph optimisations (``optimization``), ``threads`` intra-op threads and
  the CPU or CUDA execution provider (CUDA needs the ``onnxruntime-gpu`` wheel). ``quantize="int8"``
  quantises the backbone statically (QDQ: convolutions, activations, additions, concatenations; per-channel
  int8 weights, uint8 activations calibrated on ``calibration``, real inputs of your own); the SimCC /
  heatmap head stays float32.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from simspine_hub.io.files import atomic_path

__all__ = ["InferenceModel", "OnnxExportError", "fuse_conv_bn", "export_onnx", "onnx_cache_path", "weights_hash"]

#: ONNX opset of the exports (ONNX Runtime >= 1.14 runs it on every provider)
OPSET = 17
#: largest |onnx - torch| relative to the output range accepted when an export is checked
EXPORT_TOLERANCE = 1e-4
_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}
_PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


class OnnxExportError(ValueError):
    """The model could not be exported to ONNX, or ONNX Runtime could not run the export faithfully."""


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


def example_input(model, batch: int = 2) -> dict:
    """A random input batch for ``model`` -> {main input name: tensor}: (B, 3, H, W) crops for the 2D models,
    (B, K, 2) normalised 2D for the lifter."""
    import torch

    name, cfg = model.main_input_name, model.config
    if name == "pixel_values":
        h, w = getattr(cfg, "input_size", None) or cfg.backbone_config.image_size
        shape = (batch, 3, int(h), int(w))
    elif name == "keypoints_2d":
        shape = (batch, len(cfg.keypoints), 2)
    else:
        raise ValueError(f"{type(model).__name__}: no example input known for {name!r}; pass example=")
    return {name: torch.randn(*shape, generator=torch.Generator().manual_seed(0))}


def weights_hash(model, extra: str = "") -> str:
    """16 hex digits of sha256 over the config, every parameter and buffer (name, dtype, shape, bytes) and
    ``extra`` (export settings): the key of a cached export."""
    import torch

    h = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(f"{torch.__version__}|opset{OPSET}|{extra}".encode())
    return h.hexdigest()[:16]


def onnx_cache_path(model, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the export of ``model`` is cached: ``<checkpoint folder>/onnx/<model type>-<hash>.onnx`` when the
    model came from a writable local folder (``from_pretrained``), else under ``cache_dir`` (default
    ``$SIMSPINE_CACHE`` or ``~/.cache/simspine_hub``, subfolder ``onnx``)."""
    folder = Path(str(getattr(model, "name_or_path", "") or "")).expanduser()
    if cache_dir is not None:
        base = Path(cache_dir)
    elif str(folder) not in ("", ".") and folder.is_dir() and os.access(folder, os.W_OK):
        base = folder / "onnx"
    else:
        base = Path(os.environ.get("SIMSPINE_CACHE", Path.home() / ".cache" / "simspine_hub")) / "onnx"
    return base / f"{model.config.model_type}-{weights_hash(model)}.onnx"


def export_onnx(model, path: str | os.PathLike, example: dict | None = None) -> list[str]:
    """Export ``model`` (eval mode, on the CPU) to ``path`` with a dynamic batch axis, check ONNX Runtime's
    outputs against torch's (<= :data:`EXPORT_TOLERANCE` of each output's range) on a batch of another size
    than ``example``'s (a batch size baked into the graph fails there) and write the file atomically. Returns
    the output names (the tensor fields of the model's output, in order).

    Raises :class:`OnnxExportError` naming the model and the cause when either step fails."""
    import torch

    model = model.eval()
    example = example or example_input(model)
    (name, x), = example.items()
    check = torch.cat([x, 0.5 * x[:1]])                      # one more item than the traced batch
    with torch.inference_mode():
        ref = model(**{name: check})
    keys = [k for k, v in ref.items() if isinstance(v, torch.Tensor)]

    class _Tuple(torch.nn.Module):            # ONNX wants positional tensors in and a tuple out
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inp):
            out = self.inner(**{name: inp})
            return tuple(out[k] for k in keys)

    axes = {k: {0: "batch"} for k in [name, *keys]}
    path = Path(path)
    try:
        with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
            # the TorchScript exporter (the one that needs no onnxscript) warns that it is deprecated, and traces
            # with warnings the batch check below makes moot
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(_Tuple(model), (x,), str(tmp), input_names=[name], output_names=keys,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            _check_export(tmp, name, check, [ref[k] for k in keys], keys)
    except OnnxExportError:
        raise
    except Exception as exc:  # the exporter raises many types (RuntimeError, torch.onnx errors, ...)
        raise OnnxExportError(f"{type(model).__name__}: cannot export to ONNX ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}); "
                              "use backend='torch'") from exc
    return keys


def _check_export(path: Path, name: str, x, refs: list, keys: list[str]) -> None:
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs = sess.run(keys, {name: x.numpy()})
    except Exception as exc:
        raise OnnxExportError(f"{path.name}: ONNX Runtime cannot run the export ({exc}); use backend='torch'") from exc
    for k, ref, out in zip(keys, refs, outs):
        ref = ref.float().numpy()
        span = max(float(ref.max() - ref.min()), 1e-12)
        dev = float(np.abs(out.astype(np.float32) - ref).max()) / span
        if not dev <= EXPORT_TOLERANCE:
            raise OnnxExportError(f"ONNX export of output {k!r} differs from torch by {dev:.1e} of its range "
                                  f"(limit {EXPORT_TOLERANCE:.0e}); use backend='torch'")


def quantize_int8(src: Path, dst: Path, name: str, calibration: np.ndarray) -> None:
    """Static int8 quantisation of ``src`` (QDQ: every operator ONNX Runtime quantises, per-channel int8
    weights, uint8 activations calibrated on ``calibration`` (N, ...) inputs), except the nodes of the model's
    ``head`` (SimCC / heatmap head: little compute, kept float32); written atomically to ``dst``."""
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(np.asarray(calibration, np.float32)[i:i + 1] for i in range(len(calibration)))

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {name: item}

    with tempfile.TemporaryDirectory(prefix="simspine_q_") as tmpdir, atomic_path(dst) as tmp:
        pre = Path(tmpdir) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        head = [n.name for n in onnx.load(str(pre)).graph.node if "/head/" in n.name]   # torch.onnx names by module
        quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, nodes_to_exclude=head)


def _session(path: Path, providers: list[str], threads: int | None, optimization: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[optimization])
    so.intra_op_num_threads = int(threads or 0)       # 0: ONNX Runtime's choice (one per physical core)
    so.inter_op_num_threads = 1                        # a pose model is one sequential chain
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=providers)


class InferenceModel:
    """A 2D model or lifter prepared for fast inference (see the module docstring for the two backends).

    Args:
        model: a loaded model (taken over: modified in place; for ``"torch"`` move it to its device first).
        backend: ``"torch"`` or ``"onnxruntime"``.
        compile, bf16: torch backend: ``torch.compile`` (first call per input shape compiles, ~15-25 s on 2
            CPU cores) and bfloat16 autocast (~1e-2 relative change of the outputs).
        device: onnxruntime backend: ``"cpu"`` or ``"cuda"`` (execution provider); inputs and outputs are
            CPU tensors either way.
        threads: onnxruntime intra-op threads (default: one per physical core).
        optimization: onnxruntime graph optimisation level: disable, basic, extended or all (default).
        quantize: ``None`` or ``"int8"`` (needs ``calibration``: (N, ...) float32 model inputs, e.g. crops
            from :meth:`PoseImageProcessor.crop` on frames like yours; 16-64 are enough).
        cache_dir: where exports are cached when the model has no writable checkpoint folder.
    """

    def __init__(self, model, backend: str = "torch", compile: bool = True, bf16: bool = False, *,
                 device: str = "cpu", threads: int | None = None, optimization: str = "all",
                 quantize: str | None = None, calibration=None, cache_dir: str | os.PathLike | None = None):
        if backend not in ("torch", "onnxruntime"):
            raise ValueError(f"backend {backend!r}: choose 'torch' or 'onnxruntime'")
        self.config, self.backend, self.bf16 = model.config, backend, bf16
        self.main_input_name = model.main_input_name
        if backend == "torch":
            if quantize is not None:
                raise ValueError("quantize= needs backend='onnxruntime'")
            self._init_torch(model, compile)
        else:
            self._init_onnxruntime(model, device, threads, optimization, quantize, calibration, cache_dir)

    def _init_torch(self, model, compile: bool) -> None:
        import torch

        self.model = fuse_conv_bn(model.eval()).to(memory_format=torch.channels_last)
        # one specialised graph per input shape (batch sizes vary little in top-down inference)
        self._run = torch.compile(self.model, dynamic=False) if compile else self.model

    def _init_onnxruntime(self, model, device, threads, optimization, quantize, calibration, cache_dir) -> None:
        import onnxruntime as ort

        if optimization not in _LEVELS:
            raise ValueError(f"optimization {optimization!r}: choose one of {sorted(_LEVELS)}")
        if device not in _PROVIDERS:
            raise ValueError(f"device {device!r} for backend='onnxruntime': choose 'cpu' or 'cuda'")
        missing = [p for p in _PROVIDERS[device] if p not in ort.get_available_providers()]
        if missing:
            raise ValueError(f"ONNX Runtime here has no {missing[0]} (available: {ort.get_available_providers()});"
                             " for CUDA install onnxruntime-gpu in place of onnxruntime, or use device='cpu'")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize {quantize!r}: choose None or 'int8'")
        model = model.eval().cpu()
        example = example_input(model)
        (self._name, x), = example.items()
        path = onnx_cache_path(model, cache_dir)
        if not path.is_file():
            export_onnx(model, path, example)
        if quantize == "int8":
            if calibration is None or len(calibration) == 0:
                raise ValueError("quantize='int8' needs calibration= (N, ...) float32 inputs like yours, e.g. crops "
                                 "from PoseImageProcessor.crop on a few of your frames")
            calibration = np.asarray(calibration, np.float32)
            digest = hashlib.sha256(calibration.tobytes()).hexdigest()[:8]
            qpath = path.with_name(f"{path.stem}.int8-{digest}.onnx")
            if not qpath.is_file():
                quantize_int8(path, qpath, self._name, calibration)
            path = qpath
        self.onnx_path = path
        with __import__("torch").inference_mode():
            ref = model(**example)
        self._output_cls = type(ref)
        self._keys = [k for k, v in ref.items() if hasattr(v, "numpy")]
        self.session = _session(path, _PROVIDERS[device], threads, optimization)
        self.model = None

    @property
    def device(self):
        import torch

        return self.model.device if self.model is not None else torch.device("cpu")

    def __call__(self, *args, **kwargs):
        if self.backend == "onnxruntime":
            return self._call_onnxruntime(*args, **kwargs)
        return self._call_torch(*args, **kwargs)

    def _call_onnxruntime(self, *args, **kwargs):
        import torch

        x = kwargs.pop(self._name) if self._name in kwargs else args[0]
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
        outs = self.session.run(self._keys, {self._name: np.ascontiguousarray(x, np.float32)})
        return self._output_cls(**{k: torch.from_numpy(v).float() for k, v in zip(self._keys, outs)})

    def _call_torch(self, *args, **kwargs):
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
