"""Root-relative upper-body positions per action in a body-aligned frame (the paper's Fig. B1).

Each frame's points are expressed relative to the root (Hip, the sacrum midpoint) in a frame that follows the
pelvis' heading but keeps gravity vertical: X = the pelvis' right axis projected on the floor, Y = its
anterior axis projected on the floor (forward), Z = up. Torso inclination and spine curvature therefore show
in the sagittal (Y-Z) view, lateral lean and asymmetry in the frontal (X-Z) view. Millimetres.

Densities are binned kernel density estimates: 2D histograms on a fixed grid (10 mm bins), accumulated
sequence by sequence (memory does not grow with the data), smoothed with a Gaussian (20 mm) when plotted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simspine_hub import skeleton

__all__ = ["UPPER_BODY", "EXTENT_MM", "BIN_MM", "heading_frame", "to_body_frame", "DensityMaps"]

_I = skeleton.index_of
#: Upper-body keypoints drawn in Fig. B1 when present: the 15 spine points and the arms.
UPPER_BODY: tuple[int, ...] = tuple(sorted(set(skeleton.SPINE15) | set(_I(
    ["LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist"]))))
#: Grid extent (lo, hi) in mm per body axis X (right), Y (forward), Z (up), and the bin size.
EXTENT_MM = ((-800.0, 800.0), (-700.0, 900.0), (-500.0, 1100.0))
BIN_MM = 10.0
_NBINS = tuple(int(round((hi - lo) / BIN_MM)) for lo, hi in EXTENT_MM)


def heading_frame(right: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(T, 3) pelvis right and anterior axes (Z-up world) -> (T, 3, 3) rows X (right), Y (forward), Z (up).

    Y is the anterior axis projected on the floor; frames where the pelvis points straight up or down
    (no horizontal heading) fall back to the right axis' projection.
    """
    up = np.array([0.0, 0.0, 1.0])
    fwd = np.asarray(forward, float).copy()
    fwd[:, 2] = 0.0
    n = np.linalg.norm(fwd, axis=1)
    alt = np.cross(up, np.asarray(right, float))            # up x right = forward for a level pelvis
    alt[:, 2] = 0.0
    fwd = np.where((n > 1e-6)[:, None], fwd, alt)
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    x = np.cross(fwd, up)
    return np.stack([x, fwd, np.broadcast_to(up, fwd.shape)], axis=1)


def to_body_frame(points: np.ndarray, root: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(T, J, 3) world points, (T, 3) root, (T, 3, 3) :func:`heading_frame` -> (T, J, 3) body-frame points."""
    return np.einsum("tij,tkj->tki", frame, points - root[:, None, :])


@dataclass
class DensityMaps:
    """Per-action accumulators: sagittal (Y-Z) and frontal (X-Z) histograms, joint sums and counts."""

    sagittal: dict[str, np.ndarray] = field(default_factory=dict)    # action -> (ny, nz) counts
    frontal: dict[str, np.ndarray] = field(default_factory=dict)     # action -> (nx, nz) counts
    joint_sum: dict[str, np.ndarray] = field(default_factory=dict)   # action -> (37, 3) mm sums
    joint_count: dict[str, np.ndarray] = field(default_factory=dict)  # action -> (37,) finite samples

    def add(self, action: str, body: np.ndarray, keypoints: tuple[int, ...] | list[int]) -> None:
        """Accumulate (T, J, 3) body-frame points of SpineTrack ids ``keypoints`` (root excluded from densities)."""
        if action not in self.sagittal:
            self.sagittal[action] = np.zeros((_NBINS[1], _NBINS[2]), np.int64)
            self.frontal[action] = np.zeros((_NBINS[0], _NBINS[2]), np.int64)
            self.joint_sum[action] = np.zeros((skeleton.NUM_KEYPOINTS, 3))
            self.joint_count[action] = np.zeros(skeleton.NUM_KEYPOINTS, np.int64)
        ok = np.isfinite(body).all(-1)                                      # (T, J)
        ids = np.asarray(keypoints)
        self.joint_sum[action][ids] += np.where(ok[..., None], body, 0.0).sum(0)
        self.joint_count[action][ids] += ok.sum(0)
        keep = ok & (ids != skeleton.ROOT)[None]
        pts = body[keep]                                                    # (n, 3)
        b = [np.floor((pts[:, a] - EXTENT_MM[a][0]) / BIN_MM).astype(np.int64) for a in range(3)]
        inside = [(b[a] >= 0) & (b[a] < _NBINS[a]) for a in range(3)]
        for hist, (u, v) in ((self.sagittal[action], (1, 2)), (self.frontal[action], (0, 2))):
            m = inside[u] & inside[v]
            hist += np.bincount(b[u][m] * _NBINS[v] + b[v][m], minlength=hist.size).reshape(hist.shape)

    def mean_joints(self, action: str) -> dict[int, np.ndarray]:
        """{SpineTrack id: (3,) mean body-frame position, mm} of the joints seen in ``action``."""
        c = self.joint_count[action]
        return {int(i): self.joint_sum[action][i] / c[i] for i in np.flatnonzero(c)}
