"""Cameras and projection (vectorised numpy).

Conventions used throughout simspine_hub:

* World points are ``(..., 3)`` arrays. Human3.6M world is Z-up, millimetres. OpenSim is Y-up, metres;
  :func:`simspine_hub.units.zup_to_yup` / :func:`~simspine_hub.units.yup_to_zup` convert the axes the way Pose2Sim does (X->Y, Y->Z, Z->X).
* A :class:`Camera` maps world to camera by ``X_cam = R @ X_world + t`` (``t`` in the world unit,
  millimetres for Human3.6M), then to pixels with ``K`` and lens distortion.
* Two distortion models, both with ``dist = [k1, k2, p1, p2, k3]``:
  ``"opencv"`` (Brown-Conrady, as ``cv2.projectPoints``) and ``"h36m"`` (the Human3.6M release code's
  model, used to make ``D2_Positions``: its tangential terms are ``p1*x*y + p2*(r^2 + x^2)`` for x and
  ``p2*x*y + p1*(r^2 + y^2)`` for y, half of OpenCV's cross terms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["Camera", "project", "world_to_camera", "distort"]

DISTORTION_MODELS = ("opencv", "h36m")


@dataclass(frozen=True)
class Camera:
    """A calibrated pinhole camera with lens distortion.

    Attributes:
        name: camera id, e.g. ``"54138969"``.
        K: (3, 3) intrinsic matrix, pixels.
        dist: (5,) distortion ``[k1, k2, p1, p2, k3]`` (dimensionless).
        R: (3, 3) world-to-camera rotation.
        t: (3,) world-to-camera translation, in the world unit (mm for Human3.6M).
        size: (width, height) in pixels.
        distortion_model: ``"h36m"`` or ``"opencv"`` (see module docstring).
    """

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]
    distortion_model: str = "opencv"
    _P: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        t = np.asarray(self.t, dtype=np.float64).reshape(3)
        dist = np.zeros(5)
        d = np.asarray(self.dist, dtype=np.float64).ravel()
        if d.size > 5:
            raise ValueError(f"camera {self.name}: dist has {d.size} values; expected <= 5 [k1,k2,p1,p2,k3]")
        dist[: d.size] = d
        if self.distortion_model not in DISTORTION_MODELS:
            raise ValueError(f"camera {self.name}: distortion_model {self.distortion_model!r} "
                             f"not in {DISTORTION_MODELS}")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise ValueError(f"camera {self.name}: R is not a rotation matrix")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        object.__setattr__(self, "_P", K @ np.hstack([R, t[:, None]]))

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates (world unit)."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) undistorted projection matrix ``K [R | t]``."""
        return self._P

    @property
    def rvec(self) -> np.ndarray:
        """(3,) Rodrigues rotation vector of ``R`` (radians)."""
        return Rotation.from_matrix(self.R).as_rotvec()

    @classmethod
    def from_rvec(cls, name: str, K, dist, rvec, t, size, distortion_model: str = "opencv") -> Camera:
        """Build from a Rodrigues vector (radians) instead of a matrix."""
        R = Rotation.from_rotvec(np.asarray(rvec, dtype=np.float64).reshape(3)).as_matrix()
        return cls(name, K, dist, R, t, size, distortion_model)

    def scaled(self, factor: float) -> Camera:
        """Same camera with ``t`` multiplied by ``factor`` (e.g. 1e-3 for mm -> m)."""
        return Camera(self.name, self.K, self.dist, self.R, self.t * factor, self.size,
                      self.distortion_model)


def world_to_camera(points: np.ndarray, camera: Camera) -> np.ndarray:
    """(..., 3) world points -> (..., 3) camera-frame points (same unit)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3); got {points.shape}")
    return points @ camera.R.T + camera.t


def distort(xy: np.ndarray, dist: np.ndarray, model: str = "opencv") -> np.ndarray:
    """Apply lens distortion to (..., 2) normalised image coordinates (x/z, y/z)."""
    k1, k2, p1, p2, k3 = np.asarray(dist, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    if model == "opencv":
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    elif model == "h36m":
        xd = x * radial + p1 * x * y + p2 * (r2 + x * x)
        yd = y * radial + p2 * x * y + p1 * (r2 + y * y)
    else:
        raise ValueError(f"unknown distortion model {model!r}; expected one of {DISTORTION_MODELS}")
    return np.stack([xd, yd], axis=-1)


def project(points: np.ndarray, camera: Camera, distortion: bool = True) -> np.ndarray:
    """Project (..., 3) world points to (..., 2) pixels (x right, y down).

    Args:
        points: (..., 3) world coordinates in the camera's world unit (mm for Human3.6M).
        camera: the camera.
        distortion: apply the camera's lens distortion (default) or not.
    """
    cam = world_to_camera(points, camera)
    xy = cam[..., :2] / cam[..., 2:3]
    if distortion:
        xy = distort(xy, camera.dist, camera.distortion_model)
    K = camera.K
    u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
    v = K[1, 1] * xy[..., 1] + K[1, 2]
    return np.stack([u, v], axis=-1)


# Pose2Sim's axis convention between a Z-up world and OpenSim's Y-up ground: (x, y, z)_yup = (Y, Z, X)_zup.
def undistort(uv: np.ndarray, camera: Camera, iterations: int = 20) -> np.ndarray:
    """(..., 2) distorted pixels -> (..., 2) undistorted normalised coordinates (x/z, y/z).

    Inverts :func:`distort` by fixed-point iteration (exact to ~1e-12 for Human3.6M-size distortion).
    """
    uv = np.asarray(uv, dtype=np.float64)
    K = camera.K
    yd = (uv[..., 1] - K[1, 2]) / K[1, 1]
    xd = (uv[..., 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    target = np.stack([xd, yd], axis=-1)
    xy = target.copy()
    for _ in range(iterations):
        xy = xy + (target - distort(xy, camera.dist, camera.distortion_model))
    return xy
