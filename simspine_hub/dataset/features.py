"""The features of each config, declared once, and the Arrow tables that carry them.

Units: ``keypoints_3d`` world millimetres, Z-up (Human3.6M frame); ``kinematics`` degrees (rotations) and
metres (``pelvis_t*``, ``Abs_t*``); ``keypoints_2d`` and ``bbox`` pixels; ``timestamp`` seconds;
``frame`` the 0-based Human3.6M frame index.
"""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa

from simspine_hub import skeleton

__all__ = ["SOURCES", "SOURCE_CODE", "DESCRIPTION", "features_for", "to_table"]

#: Values of ``keypoints_source`` (class labels, in this order).
SOURCES = ("missing", "simspine", "human36m", "h3wb", "fk")
SOURCE_CODE = {n: i for i, n in enumerate(SOURCES)}

DESCRIPTION = (
    "SIMSPINE (Khan & Stricker): 3D spine keypoints simulated with OpenSim on Human3.6M motions. "
    "keypoints_3d: world millimetres, Z-up (Human3.6M frame), SpineTrack order (spine15: release order "
    "Hip, Spine_01..05, Neck, Neck_02, Neck_03, Head, Nose, LLatissimus, RLatissimus, LClavicle, RClavicle); "
    "kinematics: the model's 62 coordinates, degrees (rotations) and metres (pelvis_t*, Abs_t*); "
    "keypoints_2d / bbox: pixels; timestamp: seconds; frame: 0-based Human3.6M frame index; "
    "image_path: relative image path under the chosen naming convention (null where it has no image).")

try:  # datasets >= 4
    from datasets import List as _List

    def _fixed(feature, n: int):
        return _List(feature, length=n)
except ImportError:  # pragma: no cover - datasets < 4
    def _fixed(feature, n: int):
        return datasets.Sequence(feature, length=n)


def features_for(name: str, decode_frames: bool = False) -> datasets.Features:
    """The features of config ``name`` (``spine15``, ``full37`` or ``views2d``; ``image`` with decode_frames)."""
    f32 = datasets.Value("float32")
    common = {
        "subject": datasets.Value("string"),
        "action": datasets.Value("string"),
        "subaction": datasets.Value("string"),
        "sequence": datasets.Value("string"),
        "frame": datasets.Value("int32"),
        "timestamp": f32,
    }
    kinematics = _fixed(f32, skeleton.NUM_AXES)
    if name == "spine15":
        return datasets.Features({**common, "keypoints_3d": _fixed(_fixed(f32, 3), len(skeleton.SPINE15)),
                                  "kinematics": kinematics})
    n = skeleton.NUM_KEYPOINTS
    if name == "full37":
        return datasets.Features({**common, "keypoints_3d": _fixed(_fixed(f32, 3), n),
                                  "keypoints_source": _fixed(datasets.ClassLabel(names=list(SOURCES)), n),
                                  "kinematics": kinematics})
    feats = {**common, "camera": datasets.Value("string"),
             "keypoints_2d": _fixed(_fixed(f32, 2), n), "visibility": _fixed(datasets.Value("uint8"), n),
             "bbox": _fixed(f32, 4), "image_path": datasets.Value("string")}
    if decode_frames:
        feats["image"] = datasets.Image()
    return datasets.Features(feats)


def _column(value, n: int) -> pa.Array:
    """A numpy array (n, ...) or a scalar string or a list -> an Arrow column of n rows (nested fixed-size lists)."""
    if isinstance(value, str):
        return pa.array([value] * n, pa.string())
    if isinstance(value, list):
        return pa.array(value)
    arr = np.ascontiguousarray(value)
    if arr.ndim == 1:
        return pa.array(arr)
    flat = pa.array(arr.reshape(-1))
    for size in reversed(arr.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


def to_table(columns: dict, n: int, features: datasets.Features) -> pa.Table:
    """Columns (n rows each) -> an Arrow table in the features' order and types."""
    differ = set(features) ^ set(columns)
    if differ:
        raise KeyError(f"columns and features differ: {sorted(differ)}")
    return pa.table({k: _column(columns[k], n) for k in features}).cast(features.arrow_schema)
