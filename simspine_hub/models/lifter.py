"""SimpleBaseline3D (Martinez et al. 2017): 2D keypoints -> root-relative 3D, as in the paper's Tables 5-6.

Linear(in, 1024) BN ReLU Dropout, two residual blocks of two such layers, Linear(1024, out). Inputs and
targets are standardised per coordinate with statistics stored as buffers (saved with the weights), so a
loaded model is self-contained: ``forward`` takes (B, K, 2) camera-normalised 2D and returns (B, K, 3)
root-relative 3D in **millimetres** with the root (Hip) at the origin.

Camera-normalised 2D: pixels mapped to [-1, 1] across the image width, ``uv / w * 2 - [1, h / w]``
(VideoPose3D's ``normalize_screen_coordinates``), see :func:`normalize_screen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.utils import ModelOutput

# relative imports within models/ only: transformers copies this file and those it imports relatively into a
# saved folder, which then loads with trust_remote_code=True where simspine_hub is not installed
from ._base import SimspinePreTrainedModel
from ._registry import register_auto_classes, register_model

# the package's skeleton; absent when this file runs as hub remote code, where config.json names the keypoints
# and the root (the defaults below only serve create_model)
try:
    from simspine_hub import skeleton
except ImportError:
    from types import SimpleNamespace

    skeleton = SimpleNamespace(SPINE15=(), NUM_KEYPOINTS=0, ROOT=-1)

__all__ = ["LifterConfig", "SimpleBaseline3D", "LifterOutput", "LIFTER_VARIANTS", "normalize_screen",
           "AngleLifterConfig", "SimpleBaselineAngles", "AngleLifterOutput"]

#: Variants as data: which keypoints go in (SpineTrack ids; the root is dropped from the output).
LIFTER_VARIANTS = {
    "lifter-spine15": {"keypoints": list(skeleton.SPINE15)},
    "lifter-full37": {"keypoints": list(range(skeleton.NUM_KEYPOINTS))},
}


def normalize_screen(uv: torch.Tensor, width, height) -> torch.Tensor:
    """(..., 2) pixels -> [-1, 1] along x, aspect-preserving along y.

    ``width`` / ``height``: image size in pixels, numbers or tensors shaped like ``uv[..., 0]`` up to
    broadcasting (e.g. (N, 1) per row of (N, K, 2) keypoints)."""
    w = torch.as_tensor(width, dtype=uv.dtype, device=uv.device)[..., None]
    h = torch.as_tensor(height, dtype=uv.dtype, device=uv.device)[..., None]
    return uv / w * 2 - torch.cat([torch.ones_like(w), h / w], -1)


class LifterConfig(PretrainedConfig):
    model_type = "simspine-lifter"

    def __init__(self, keypoints: list[int] | None = None, root: int = skeleton.ROOT, hidden: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.5, **kwargs):
        self.keypoints = list(keypoints if keypoints is not None else skeleton.SPINE15)
        self.root = root
        self.hidden = hidden
        self.num_blocks = num_blocks
        self.dropout = dropout
        super().__init__(**kwargs)

    @property
    def num_inputs(self) -> int:
        return len(self.keypoints)


def _layer(i: int, o: int, p: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(p))


class _Block(nn.Module):
    def __init__(self, d: int, p: float):
        super().__init__()
        self.net = nn.Sequential(_layer(d, d, p), _layer(d, d, p))

    def forward(self, x):
        return x + self.net(x)


@dataclass
class LifterOutput(ModelOutput):
    """loss: MSE on standardised targets (only when ``labels`` are given); keypoints_3d (B, K, 3) root-relative
    camera-frame mm (root row zero)."""

    loss: torch.Tensor | None = None
    keypoints_3d: torch.Tensor | None = None


#: Buffers that hold the standardisation statistics, per model class (checked when a folder is loaded).
_STATISTICS = {"SimpleBaseline3D": ("mean_2d", "std_2d", "mean_3d", "std_3d"),
               "SimpleBaselineAngles": ("mean_2d", "std_2d", "mean_trans", "std_trans")}


def _nan_statistics(x: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, ...) -> mean and standard deviation over N, ignoring NaN (unlabelled) entries."""
    mean = torch.nanmean(x, 0)
    if not torch.isfinite(mean).all():
        raise ValueError(f"set_statistics: some {what} coordinates have no finite training value; "
                         "every keypoint/axis needs labelled training frames")
    std = torch.nanmean((x - mean) ** 2, 0).sqrt().clamp(min=1e-6)
    return mean, std


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the finite entries of ``target`` (NaN marks an unlabelled value)."""
    ok = torch.isfinite(target)
    diff = torch.where(ok, pred.float() - torch.nan_to_num(target.float()), torch.zeros((), device=pred.device))
    return (diff ** 2).sum() / ok.sum().clamp(min=1)


class _LifterBase(SimspinePreTrainedModel):
    """Shared trunk (Martinez's MLP) and 2D standardisation of the lifter family."""

    base_model_prefix = "lifter"
    main_input_name = "keypoints_2d"
    accepts_loss_kwargs = False       # the loss is a per-batch mean: transformers.Trainer scales it for accumulation

    def _build_trunk(self, config: LifterConfig, num_outputs: int) -> None:
        k = config.num_inputs
        self.inp = _layer(2 * k, config.hidden, config.dropout)
        self.blocks = nn.Sequential(*[_Block(config.hidden, config.dropout) for _ in range(config.num_blocks)])
        self.out = nn.Linear(config.hidden, num_outputs)
        self.register_buffer("mean_2d", torch.zeros(k, 2))
        self.register_buffer("std_2d", torch.ones(k, 2))

    def _trunk(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) camera-normalised 2D -> (B, outputs) float32; a NaN point enters as its training mean."""
        k = self.config.num_inputs
        if keypoints_2d.ndim != 3 or tuple(keypoints_2d.shape[1:]) != (k, 2):
            raise ValueError(f"keypoints_2d must be (batch, {k}, 2) for this model's keypoints "
                             f"{self.config.keypoints}; got {tuple(keypoints_2d.shape)}")
        x = torch.nan_to_num((keypoints_2d - self.mean_2d) / self.std_2d, nan=0.0).flatten(1)
        return self.out(self.blocks(self.inp(x))).float()

    def _set_input_statistics(self, kp2d: torch.Tensor) -> None:
        mean, std = _nan_statistics(kp2d, "2D input")
        self.mean_2d.copy_(mean)
        self.std_2d.copy_(std)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """As the base class, with one clear error when a local folder lacks the standardisation statistics."""
        st = Path(str(pretrained_model_name_or_path)) / "model.safetensors"
        if st.is_file():
            from safetensors import SafetensorError, safe_open

            try:
                with safe_open(str(st), "pt") as f:
                    keys = set(f.keys())
            except (SafetensorError, OSError):
                keys = None                        # a damaged file: the base class reports it
            missing = [n for n in _STATISTICS.get(cls.__name__, ()) if keys is not None and n not in keys]
            if missing:
                raise ValueError(f"{st}: the standardisation statistics {missing} are missing, so the model "
                                 "cannot map its outputs back to millimetres/degrees; save the model after "
                                 "training (simspine train lifter stores them), or convert an original checkpoint "
                                 "with tools/convert_checkpoint.py --stats")
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


class SimpleBaseline3D(_LifterBase):
    config_class = LifterConfig

    def __init__(self, config: LifterConfig):
        super().__init__(config)
        k = config.num_inputs
        self.root_index = config.keypoints.index(config.root)
        self._keep = [i for i in range(k) if i != self.root_index]
        self._build_trunk(config, 3 * (k - 1))
        self.register_buffer("mean_3d", torch.zeros(k - 1, 3))
        self.register_buffer("std_3d", torch.ones(k - 1, 3))
        self.post_init()

    def set_statistics(self, kp2d: torch.Tensor, kp3d_rel: torch.Tensor) -> None:
        """Store standardisation statistics from training data: (N, K, 2) camera-normalised 2D and (N, K, 3)
        root-relative camera-frame mm (NaN entries are ignored; the root row is not a target)."""
        self._set_input_statistics(kp2d)
        mean, std = _nan_statistics(kp3d_rel[:, self._keep], "3D target")
        self.mean_3d.copy_(mean)
        self.std_3d.copy_(std)

    def forward(self, keypoints_2d: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> LifterOutput:
        """keypoints_2d: (B, K, 2) camera-normalised 2D -> keypoints_3d (B, K, 3) root-relative camera mm.

        labels: optional (B, K, 3) root-relative camera-frame mm targets (NaN = unlabelled); the loss is the MSE
        on targets standardised with the stored statistics, the root row excluded (the paper's Sec. 4.3).
        """
        z = self._trunk(keypoints_2d).reshape(keypoints_2d.shape[0], -1, 3)    # standardised (B, K-1, 3)
        loss = None
        if labels is not None:
            loss = _masked_mse(z, (labels[:, self._keep] - self.mean_3d) / self.std_3d)
        y = z * self.std_3d + self.mean_3d
        root = torch.zeros_like(y[:, :1])
        return LifterOutput(loss=loss, keypoints_3d=torch.cat([y[:, :self.root_index], root, y[:, self.root_index:]], 1))


class AngleLifterConfig(LifterConfig):
    """A lifter that regresses the kinematic axes. ``rotational`` (A,) marks rotations (degrees); the other axes
    are translations (millimetres). ``axis_names`` documents the order (the model's 62 coordinates by default)."""

    model_type = "simspine-angle-lifter"

    def __init__(self, rotational: list[bool] | None = None, axis_names: list[str] | None = None, **kwargs):
        self.rotational = [bool(r) for r in (rotational if rotational is not None
                                              else getattr(skeleton, "ROTATIONAL", ()))]
        self.axis_names = list(axis_names if axis_names is not None else getattr(skeleton, "KINEMATIC_AXES", ()))
        super().__init__(**kwargs)


@dataclass
class AngleLifterOutput(ModelOutput):
    """loss (with ``labels``); kinematics (B, A): degrees on rotational axes in (-180, 180], mm on translations."""

    loss: torch.Tensor | None = None
    kinematics: torch.Tensor | None = None


class SimpleBaselineAngles(_LifterBase):
    """SimpleBaseline3D's trunk regressing the kinematic axes from 2D keypoints (the paper's future work).

    Representation: each rotational axis is predicted as (sin, cos) and decoded with atan2; the loss is the
    squared error to (sin q, cos q). Chosen over a 6D rotation per 3-DOF joint because the model's
    coordinates are per-axis (1-DOF knees, elbows, ankles beside 3-DOF hips, lumbar levels and neck, each
    with its own axis order in the .osim), the benchmark scores per-axis errors, and sin/cos is continuous
    across the +-180 deg wrap (pelvis heading) without an Euler decomposition back to coordinates.
    Translations (pelvis_t*, Abs_t*) are standardised millimetres with an MSE loss.
    """

    config_class = AngleLifterConfig

    def __init__(self, config: AngleLifterConfig):
        super().__init__(config)
        self._rot = [i for i, r in enumerate(config.rotational) if r]        # plain lists: models are built on
        self._trans = [i for i, r in enumerate(config.rotational) if not r]  # the meta device when loading
        self._build_trunk(config, 2 * len(self._rot) + len(self._trans))
        self.register_buffer("mean_trans", torch.zeros(len(self._trans)))
        self.register_buffer("std_trans", torch.ones(len(self._trans)))
        self.post_init()

    def set_statistics(self, kp2d: torch.Tensor, kinematics: torch.Tensor) -> None:
        """(N, K, 2) camera-normalised 2D and (N, A) kinematics (deg / mm) of the training data."""
        self._set_input_statistics(kp2d)
        mean, std = _nan_statistics(kinematics[:, self._trans], "translation")
        self.mean_trans.copy_(mean)
        self.std_trans.copy_(std)

    def forward(self, keypoints_2d: torch.Tensor, labels: torch.Tensor | None = None,
                **kwargs) -> AngleLifterOutput:
        """keypoints_2d (B, K, 2) camera-normalised -> kinematics (B, A) deg / mm; labels: optional (B, A) in the
        same units (NaN = unlabelled)."""
        h = self._trunk(keypoints_2d)
        n = len(self._rot)
        sc = h[:, :2 * n].reshape(h.shape[0], n, 2)                    # (sin, cos) per rotational axis
        tz = h[:, 2 * n:]                                              # standardised translations
        out = h.new_empty(h.shape[0], len(self.config.rotational))
        out[:, self._rot] = torch.rad2deg(torch.atan2(sc[..., 0], sc[..., 1]))
        out[:, self._trans] = tz * self.std_trans + self.mean_trans
        loss = None
        if labels is not None:
            q = torch.deg2rad(labels[:, self._rot].float())
            rot_t = torch.stack([torch.sin(q), torch.cos(q)], -1)
            tr_t = (labels[:, self._trans] - self.mean_trans) / self.std_trans
            ok_r, ok_t = torch.isfinite(q), torch.isfinite(tr_t)
            err_r = torch.where(ok_r, ((sc - torch.nan_to_num(rot_t)) ** 2).sum(-1), torch.zeros((), device=h.device))
            err_t = torch.where(ok_t, (tz - torch.nan_to_num(tr_t)) ** 2, torch.zeros((), device=h.device))
            loss = (err_r.sum() + err_t.sum()) / (ok_r.sum() + ok_t.sum()).clamp(min=1)
        return AngleLifterOutput(loss=loss, kinematics=out)


def _create(variant: dict, **overrides) -> SimpleBaseline3D:
    return SimpleBaseline3D(LifterConfig(**{**variant, **overrides}))


register_auto_classes(LifterConfig, SimpleBaseline3D)
register_auto_classes(AngleLifterConfig, SimpleBaselineAngles)
for _name, _variant in LIFTER_VARIANTS.items():
    register_model(_name, partial(_create, _variant))
