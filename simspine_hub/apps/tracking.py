"""Multi-person tracking for top-down video inference: IoU cost, Hungarian assignment, a track lifetime, boxes
carried from one frame's keypoints to the next (re-detection every N frames), One-Euro smoothing per track.

Boxes are ``[x, y, w, h]`` pixels; keypoints (n, K, 2) pixels with scores (n, K). Track ids are integers
from 0, never reused within a run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OneEuroFilter", "box_iou", "assign", "keypoint_boxes", "Track", "Tracker"]


class OneEuroFilter:
    """One-Euro low-pass (Casiez et al. 2012) on (K, 2) keypoints per frame, vectorised over keypoints.

    Args:
        fps: frame rate (Hz); min_cutoff (Hz) and beta trade jitter against lag; d_cutoff: derivative cutoff.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.dt, self.min_cutoff, self.beta, self.d_cutoff = 1.0 / fps, min_cutoff, beta, d_cutoff
        self.x = self.dx = None

    def _alpha(self, cutoff):
        r = 2 * np.pi * cutoff * self.dt
        return r / (r + 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) / self.dt
        self.dx = self.dx + self._alpha(self.d_cutoff) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff) * (x - self.x)
        return self.x


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of (n, 4) and (m, 4) xywh boxes -> (n, m); 0 where a box has no area."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    union = np.prod(a[:, 2:], -1)[:, None] + np.prod(b[:, 2:], -1)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def assign(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Hungarian assignment (scipy's ``linear_sum_assignment``) on the cost 1 - IoU: the (row, column) pairs
    of the cheapest one-to-one matching, keeping pairs with IoU >= ``min_iou``."""
    from scipy.optimize import linear_sum_assignment

    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


def keypoint_boxes(keypoints: np.ndarray, scores: np.ndarray, min_score: float, min_points: int = 3) -> np.ndarray:
    """(n, K, 2) px and (n, K) scores -> (n, 4) xywh boxes around the keypoints scoring >= ``min_score``
    (NaN rows where fewer than ``min_points`` qualify)."""
    ok = (scores >= min_score) & np.isfinite(keypoints).all(-1)
    pts = np.where(ok[..., None], keypoints, np.nan)
    with warnings.catch_warnings():        # all-NaN rows (nobody confident) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)
    boxes = np.concatenate([lo, hi - lo], axis=1)
    boxes[ok.sum(1) < min_points] = np.nan
    return boxes.reshape(-1, 4)


@dataclass
class Track:
    """One person over time: id, the box it was last found with (xywh px, matched against the next frame's
    boxes), the box around its last confident keypoints (where to look when the detector is not run),
    frames since last matched, keypoint smoother."""

    id: int
    box: np.ndarray
    next_box: np.ndarray | None = None
    misses: int = 0
    euro: OneEuroFilter | None = field(default=None, repr=False)


class Tracker:
    """IoU tracker for top-down pose: call :meth:`update` once per frame with that frame's people.

    Args:
        fps: frame rate (for One-Euro smoothing); ``smooth=False`` disables smoothing.
        min_iou: a person continues a track only if their boxes overlap at least this much (IoU).
        max_misses: a track survives this many frames without a match (its lifetime), then ends; a person
            seen again later gets a new id.
        keypoint_score: keypoints scoring at least this make a person's box for the next frame.
        min_cutoff, beta: One-Euro parameters (Hz; dimensionless).
    """

    def __init__(self, fps: float = 25.0, min_iou: float = 0.3, max_misses: int = 10, keypoint_score: float = 0.3,
                 smooth: bool = True, min_cutoff: float = 1.0, beta: float = 0.05):
        if not 0.0 <= min_iou <= 1.0 or max_misses < 0:
            raise ValueError(f"tracker: min_iou {min_iou} must lie in [0, 1] and max_misses {max_misses} be >= 0")
        self.fps, self.min_iou, self.max_misses, self.keypoint_score = fps, min_iou, max_misses, keypoint_score
        self.smooth, self.min_cutoff, self.beta = smooth, min_cutoff, beta
        self.tracks: list[Track] = []
        self._next_id = 0

    def boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (m, 4) and ids (m,) of the tracks matched in the last frame: where to look next when the
        detector is not run on this frame."""
        live = [t for t in self.tracks if t.misses == 0]
        return np.array([t.next_box for t in live]).reshape(-1, 4), np.array([t.id for t in live], dtype=int)

    def update(self, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This frame's people: boxes (n, 4), keypoints (n, K, 2), scores (n, K) -> track ids (n,) and the
        keypoints smoothed per track (n, K, 2). Matching compares these boxes with the boxes each track was
        last found with; :meth:`boxes` offers the boxes around the confident keypoints (the given box when
        fewer than 3 are confident) for a frame without detection."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        iou = box_iou(boxes, np.array([t.box for t in self.tracks]).reshape(-1, 4))
        owner = dict(assign(iou, self.min_iou))                  # person row -> track index
        for t in self.tracks:
            t.misses += 1
        ids, out = np.empty(len(boxes), dtype=int), np.array(keypoints, dtype=np.float64, copy=True)
        kp_boxes = keypoint_boxes(out, np.asarray(scores), self.keypoint_score)
        for i in range(len(boxes)):
            if i in owner:
                track = self.tracks[owner[i]]
            else:
                track = Track(self._next_id, boxes[i])
                self._next_id += 1
                self.tracks.append(track)
            if track.misses > 1:                    # back after a gap: restart its smoother
                track.euro = None
            track.misses = 0
            track.box = boxes[i]
            track.next_box = kp_boxes[i] if np.isfinite(kp_boxes[i]).all() and (kp_boxes[i, 2:] > 1).all() else boxes[i]
            if self.smooth:
                track.euro = track.euro or OneEuroFilter(self.fps, self.min_cutoff, self.beta)
                out[i] = track.euro(out[i])
            ids[i] = track.id
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        return ids, out
