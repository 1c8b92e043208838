"""Camera calibrations on disk: the Pose2Sim TOML and the ``calibration`` group of the SIMSPINE HDF5.

TOML (Pose2Sim format, one section per camera): ``name``, ``size = [w, h]``, ``matrix`` (3x3 K, px),
``distortions`` ([k1, k2, p1, p2(, k3)], OpenCV model), ``rotation`` (Rodrigues vector, world->camera,
rad), ``translation`` (metres), ``fisheye``. This project adds ``distortion_model = "h36m"`` for cameras
using the Human3.6M model (Pose2Sim ignores the key).

HDF5 (the SIMSPINE authors' serializer, dfki-av/simspine ``src/simspine/serialize_dataset.py``):
``<S>/calibration/{names (V,), K (V, 3, 3), dist (V, 4|5), R (V, 3, 3) world->camera, t (V, 3) metres,
size (V, 2)}``. Files this project wrote before may hold ``rvec (V, 3)`` instead of ``R``; both are read.
The optional attribute ``distortion_model`` names the model (default OpenCV).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from simspine_hub.geometry import Camera
from simspine_hub.io.errors import ReleaseFormatError
from simspine_hub.io.files import write_text

__all__ = ["read_calibration_toml", "write_calibration_toml", "read_calibration_h5", "write_calibration_h5"]

_NOT_CAMERAS = ("metadata", "capture_volume", "charuco", "checkerboard")


# --- Pose2Sim TOML ---------------------------------------------------------------------------------------
def write_calibration_toml(path: str | os.PathLike, cameras: dict[str, Camera], unit_scale: float = 1e-3) -> None:
    """Write cameras as a Pose2Sim calibration TOML.

    Args:
        cameras: {name: Camera}; ``t`` is multiplied by ``unit_scale`` (default mm -> m, as Pose2Sim).
        unit_scale: factor from the cameras' world unit to metres.
    """
    def vec(v) -> str:
        return "[ " + ", ".join(repr(float(x)) for x in v) + "]"

    if not cameras:
        raise ValueError(f"{path}: no cameras to write")
    parts = []
    for name, c in cameras.items():
        dist = c.dist if c.dist[4] != 0 else c.dist[:4]
        lines = [f"[{name}]", f'name = "{name}"', f"size = [ {c.size[0]}, {c.size[1]}]",
                 "matrix = [ " + ", ".join(vec(r) for r in c.K) + "]",
                 f"distortions = {vec(dist)}", f"rotation = {vec(c.rvec)}",
                 f"translation = {vec(c.t * unit_scale)}", "fisheye = false"]
        if c.distortion_model != "opencv":
            lines.append(f'distortion_model = "{c.distortion_model}"')
        parts.append("\n".join(lines) + "\n")
    parts.append("[metadata]\nadjusted = false\nerror = 0.0\n")
    write_text(path, "\n".join(parts))


def read_calibration_toml(path: str | os.PathLike, unit_scale: float = 1e3) -> dict[str, Camera]:
    """Read a Pose2Sim calibration TOML -> {name: Camera}, ``t`` multiplied by ``unit_scale`` (m -> mm).

    A calibration with a single camera is valid here; what needs two or more (triangulation) checks that.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
        cams = {}
        for key, c in data.items():
            if not isinstance(c, dict) or key in _NOT_CAMERAS:
                continue
            name = str(c.get("name", key))
            cams[name] = Camera.from_rvec(name, c["matrix"], c["distortions"], c["rotation"],
                                          np.asarray(c["translation"], dtype=np.float64) * unit_scale,
                                          tuple(int(round(s)) for s in c["size"]),
                                          c.get("distortion_model", "opencv"))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ReleaseFormatError(f"{path}: not a Pose2Sim calibration TOML ({type(exc).__name__}: {exc}); each "
                                 "camera needs size, matrix, distortions, rotation, translation") from exc
    if not cams:
        raise ReleaseFormatError(f"{path}: no camera sections found")
    return cams


# --- HDF5 calibration group ------------------------------------------------------------------------------
def write_calibration_h5(group, cameras: dict[str, Camera], unit_scale: float = 1e-3) -> None:
    """Write ``cameras`` into an h5py group in the SIMSPINE authors' layout (``t`` times ``unit_scale``: mm -> m)."""
    cams = list(cameras.values())
    if not cams:
        raise ValueError(f"{group.file.filename}:{group.name}: no cameras to write")
    group.create_dataset("names", data=np.array(list(cameras), dtype="S"))
    group.create_dataset("K", data=np.stack([c.K for c in cams]))
    width = 5 if any(c.dist[4] != 0 for c in cams) else 4
    group.create_dataset("dist", data=np.stack([c.dist[:width] for c in cams]))
    group.create_dataset("R", data=np.stack([c.R for c in cams]))
    group.create_dataset("t", data=np.stack([c.t * unit_scale for c in cams]))
    group.create_dataset("size", data=np.array([c.size for c in cams], dtype=np.int32))
    group.attrs["distortion_model"] = cams[0].distortion_model


def read_calibration_h5(group, unit_scale: float = 1e3) -> dict[str, Camera]:
    """Read an HDF5 ``calibration`` group (see module docstring) -> {name: Camera}, ``t`` times ``unit_scale``.

    Raises :class:`ReleaseFormatError` naming the file and dataset path when a dataset is missing or has
    the wrong shape.
    """
    where = f"{group.file.filename}:{group.name}"
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in _dataset(group, "names", (None,))[()]]
    V = len(names)
    if V == 0:
        raise ReleaseFormatError(f"{where}/names: no cameras")
    K = _dataset(group, "K", (V, 3, 3))[()]
    dist = _dataset(group, "dist", (V, None))[()]
    if dist.shape[1] not in (4, 5):
        raise ReleaseFormatError(f"{where}/dist: shape {dist.shape}; expected (V, 4) or (V, 5) [k1, k2, p1, p2(, k3)]")
    t = _dataset(group, "t", (V, 3))[()].reshape(V, 3) * unit_scale
    size = _dataset(group, "size", (V, 2))[()]
    model = group.attrs.get("distortion_model", "opencv")
    model = model.decode() if isinstance(model, bytes) else str(model)
    if "R" in group:
        R = _dataset(group, "R", (V, 3, 3))[()]
    elif "rvec" in group:
        R = Rotation.from_rotvec(_dataset(group, "rvec", (V, 3))[()].reshape(V, 3)).as_matrix()
    else:
        raise ReleaseFormatError(f"{where}: neither R (V, 3, 3) nor rvec (V, 3) found; the calibration group "
                                 "needs the camera rotations")
    try:
        return {n: Camera(n, K[i], dist[i], R[i], t[i], tuple(int(s) for s in size[i]), model)
                for i, n in enumerate(names)}
    except ValueError as exc:
        raise ReleaseFormatError(f"{where}: {exc}") from exc


def _dataset(group, name: str, shape: tuple[int | None, ...]):
    """``group[name]`` checked against ``shape`` (None = any size; a trailing (V, 3, 1) is accepted for (V, 3))."""
    where = f"{group.file.filename}:{group.name}/{name}"
    if name not in group:
        raise ReleaseFormatError(f"{where}: dataset missing; the calibration group needs names, K, dist, R, t, size")
    ds = group[name]
    got = tuple(ds.shape)
    if got[len(shape):] == (1,):
        got = got[:len(shape)]
    if len(got) != len(shape) or any(w is not None and g != w for g, w in zip(got, shape)):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
        raise ReleaseFormatError(f"{where}: shape {tuple(ds.shape)}; expected {want}")
    return ds
