"""The builder's configuration: one dataclass, every option validated with one clear error.

``datasets`` copies a predefined config and sets the user's options with ``setattr`` (bypassing
``__post_init__``), so :class:`~simspine_hub.dataset.builder.SimspineBuilder` calls :meth:`SimspineConfig.validate`
again after that; both paths give the same checks.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import datasets

from simspine_hub.io import h36m
from simspine_hub.units import BOX_PADDING

__all__ = ["SimspineConfig", "SimspineDataError", "CONFIG_NAMES", "ON_MISSING", "FACE_FEET", "OPTION_NAMES"]

CONFIG_NAMES = ("spine15", "full37", "views2d")
#: Policies for a sequence or subject found on one side only (release vs Human3.6M).
ON_MISSING = ("error", "warn", "skip")
#: Where face and feet points come from when H3WB does not annotate a frame.
FACE_FEET = ("fk", "mask")


class SimspineDataError(ValueError):
    """Bad or inconsistent input to the builder; the message names the path or option and the fix."""


@dataclass
class SimspineConfig(datasets.BuilderConfig):
    """Builder configuration (paths as strings so that the config hashes stably).

    Attributes:
        h36m_root: Human3.6M root (``S1/MyPoseFeatures/...``); needed by ``full37`` and ``views2d``.
        annotations: the SIMSPINE release: raw folder, ``.h5`` file, parquet folder or hub dataset id.
        h3wb_root: H3WB's ``h3wb_train.npz`` (or its folder): face and feet points on the frames it annotates
            (sparse; other frames fall back to ``face_feet``). Needs ``h3wb_allow_pickle=True``.
        train_subjects / test_subjects: the split protocol (default S1 S5 S6 S7 S8 / S9 S11); disjoint.
        cameras: Human3.6M camera ids for ``views2d`` (default: all four).
        frame_stride: keep every n-th frame (n >= 1).
        decode_frames: ``views2d`` only: decode the frame from the Human3.6M video into ``image``.
        box_padding: person-box scale about its centre (> 0; MMPose's 1.25 by default).
        on_missing: a sequence found on one side only: "error" (default), "warn" or "skip".
        face_feet: face/feet points H3WB does not give: "fk" (forward kinematics on the released model,
            the default) or "mask" (NaN, source ``missing``).
        image_naming: ``views2d`` image paths: "simspine" (the authors' converter, 0-based, every frame;
            default) or "mmpose" (mmpose's extraction, 1-based, every 5th frame); see
            :data:`simspine_hub.io.h36m.IMAGE_NAMINGS`. The ``frame`` column is always the 0-based index.
    """

    h36m_root: str | None = None
    annotations: str | None = None
    h3wb_root: str | None = None
    h3wb_allow_pickle: bool = False
    train_subjects: tuple[str, ...] = h36m.TRAIN_SUBJECTS
    test_subjects: tuple[str, ...] = h36m.TEST_SUBJECTS
    cameras: tuple[str, ...] = h36m.CAMERA_IDS
    frame_stride: int = 1
    decode_frames: bool = False
    box_padding: float = BOX_PADDING
    on_missing: str = "error"
    face_feet: str = "fk"
    image_naming: str = "simspine"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Check and normalise every option; raises :class:`SimspineDataError` naming the option."""
        if self.name not in CONFIG_NAMES:
            raise SimspineDataError(f"config name {self.name!r} unknown; choose one of {CONFIG_NAMES}")
        for key in ("h36m_root", "annotations", "h3wb_root"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise SimspineDataError(f"{key} must be a path (str); got {type(value).__name__} {value!r}")
            setattr(self, key, None if value is None else os.fspath(value))
        self.train_subjects = _names("train_subjects", self.train_subjects)
        self.test_subjects = _names("test_subjects", self.test_subjects)
        both = sorted(set(self.train_subjects) & set(self.test_subjects))
        if both:
            raise SimspineDataError(f"subjects {both} are in both train_subjects and test_subjects; the splits "
                                    "must be disjoint")
        self.cameras = _names("cameras", self.cameras)
        unknown = [c for c in self.cameras if c not in h36m.CAMERA_IDS]
        if unknown or not self.cameras:
            raise SimspineDataError(f"cameras {list(self.cameras)}: {unknown or 'none given'}; choose from the "
                                    f"Human3.6M ids {h36m.CAMERA_IDS}")
        for key in ("h3wb_allow_pickle", "decode_frames"):
            if not isinstance(getattr(self, key), bool):
                raise SimspineDataError(f"{key} must be True or False; got {getattr(self, key)!r}")
        if isinstance(self.frame_stride, bool) or not isinstance(self.frame_stride, int) or self.frame_stride < 1:
            raise SimspineDataError(f"frame_stride must be an integer >= 1; got {self.frame_stride!r}")
        if isinstance(self.box_padding, bool) or not isinstance(self.box_padding, (int, float)) \
                or not math.isfinite(self.box_padding) or self.box_padding <= 0:
            raise SimspineDataError(f"box_padding must be a number > 0; got {self.box_padding!r}")
        _choice("on_missing", self.on_missing, ON_MISSING)
        _choice("face_feet", self.face_feet, FACE_FEET)
        _choice("image_naming", self.image_naming, tuple(h36m.IMAGE_NAMINGS))
        if self.decode_frames and self.name != "views2d":
            raise SimspineDataError("decode_frames=True needs the views2d config")

    def check_paths(self) -> None:
        """Required inputs are given (checked when building, so that BUILDER_CONFIGS can list the names)."""
        if self.annotations is None:
            raise SimspineDataError("annotations= is required: a SIMSPINE release folder, .h5 file, parquet "
                                    "folder or hub dataset id")
        if self.name != "spine15" and self.h36m_root is None:
            raise SimspineDataError(f"config {self.name!r} joins your Human3.6M copy: pass h36m_root=")


#: The options :func:`~simspine_hub.dataset.builder.load_dataset` accepts as keyword arguments.
OPTION_NAMES = tuple(f.name for f in dataclasses.fields(SimspineConfig)
                     if f.name not in {g.name for g in dataclasses.fields(datasets.BuilderConfig)})


def _names(key: str, value) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise SimspineDataError(f"{key} must be a list of names, e.g. ('S1', 'S5') or ('54138969',); got {value!r}")
    return tuple(value)


def _choice(key: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SimspineDataError(f"{key} must be one of {choices}; got {value!r}")
