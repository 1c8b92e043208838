"""Rendering the twin's people into video frames (BGR uint8), and writing the MP4s.

People are drawn as shaded body volumes, never as keypoint dots: every body segment is a capsule (a
thick line with round caps) between two of the 37 points, with a radius in millimetres that perspective
turns into pixels, and the trunk is a chain of wide capsules along the vertebral column (sacrum -> L5 -> L3 ->
T12/L1 -> T8 -> T3) under a shoulder girdle, so the spine points lie *inside* the silhouette and a detector has
to infer them from the trunk's shape. Segments are painted far to near (painter's algorithm on camera depth).
Each capsule is shaded like a cylinder lit from one direction: concentric strokes get brighter and shift
toward the light. Light direction, background and floor differ per camera; clothing colours per subject.
Everything is deterministic (same inputs -> same pixels).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.geometry import Camera, project, world_to_camera
from simspine_hub.io.files import atomic_path

__all__ = ["BODY_SEGMENTS", "render_frame", "write_video"]

_I = skeleton.index_of
#: (from, to, radius at from [mm], radius at to [mm], clothing part) per drawn body volume.
BODY_SEGMENTS: tuple[tuple[int, int, float, float, str], ...] = (
    (_I("LHip"), _I("RHip"), 95, 95, "pants"),                      # pelvis
    (_I("Hip"), _I("Spine_01"), 125, 120, "pants"),                 # sacrum -> L5
    (_I("Spine_01"), _I("Spine_02"), 118, 112, "shirt"),            # lumbar trunk
    (_I("Spine_02"), _I("Spine_03"), 112, 118, "shirt"),
    (_I("Spine_03"), _I("Spine_04"), 120, 135, "shirt"),            # thorax
    (_I("Spine_04"), _I("Spine_05"), 135, 120, "shirt"),
    (_I("LShoulder"), _I("RShoulder"), 65, 65, "shirt"),            # shoulder girdle
    (_I("Spine_05"), _I("Neck"), 95, 60, "shirt"),
    (_I("Neck"), _I("Neck_03"), 55, 50, "skin"),
    (_I("LShoulder"), _I("LElbow"), 48, 40, "shirt"), (_I("RShoulder"), _I("RElbow"), 48, 40, "shirt"),
    (_I("LElbow"), _I("LWrist"), 38, 30, "skin"), (_I("RElbow"), _I("RWrist"), 38, 30, "skin"),
    (_I("LHip"), _I("LKnee"), 75, 55, "pants"), (_I("RHip"), _I("RKnee"), 75, 55, "pants"),
    (_I("LKnee"), _I("LAnkle"), 52, 38, "pants"), (_I("RKnee"), _I("RAnkle"), 52, 38, "pants"),
    (_I("LHeel"), _I("LBigToe"), 38, 30, "shoes"), (_I("RHeel"), _I("RBigToe"), 38, 30, "shoes"),
)
_HEAD_RADIUS_MM = 95.0
_STROKES = 8                                  # concentric strokes per capsule (shading steps)
#: Segments painted together, stroke by stroke, as one smooth volume (the trunk and its girdles).
_TRUNK = frozenset(range(9))


def _palette(key: str) -> dict[str, np.ndarray]:
    """Clothing and skin colours (BGR) chosen deterministically from ``key`` (e.g. the video's subject)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    return {"shirt": rng.uniform(60, 220, 3), "pants": rng.uniform(40, 140, 3),
            "shoes": np.full(3, 45.0), "skin": np.array([120.0, 150.0, 200.0]) * rng.uniform(0.75, 1.1)}


def _scene(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Per-camera background (H, W, 3) uint8 and 2D light direction (2,) (unit, pixels)."""
    import cv2

    w, h = camera.size
    rng = np.random.default_rng(zlib.crc32(camera.name.encode()))
    top, bottom = rng.uniform(40, 120, 3), rng.uniform(15, 70, 3)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    img = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)).astype(np.uint8).copy()
    for _ in range(6):                                    # furniture-like blocks in the background
        x, y = rng.integers(0, w), rng.integers(0, h // 2)
        bw, bh = rng.integers(w // 12, w // 4), rng.integers(h // 12, h // 3)
        cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), tuple(int(c) for c in rng.uniform(30, 160, 3)), -1)
    floor = int(h * rng.uniform(0.55, 0.7))
    img[floor:] = (img[floor:] * 0.6 + rng.uniform(30, 90, 3) * 0.4).astype(np.uint8)
    angle = rng.uniform(0, 2 * np.pi)
    return img, np.array([np.cos(angle), np.sin(angle)])


def _volumes(points3d: np.ndarray, camera: Camera) -> list[tuple[float, list[tuple]]]:
    """(37, 3) world mm -> groups of drawable capsules ``(depth mm, [(p0 px, p1 px, r0 px, r1 px, part), ...])``,
    far first; the trunk (sacrum to neck, pelvis and shoulder girdles) is one group, every limb and the head
    one group each."""
    focal = float(camera.K[0, 0])
    uv, depth = project(points3d, camera), world_to_camera(points3d, camera)[:, 2]
    trunk, groups = [], []
    for i, (a, b, ra, rb, part) in enumerate(BODY_SEGMENTS):
        if not (np.isfinite(uv[[a, b]]).all() and depth[a] > 0 and depth[b] > 0):
            continue
        item = (float(depth[[a, b]].mean()), (uv[a], uv[b], ra * focal / depth[a], rb * focal / depth[b], part))
        if i in _TRUNK:
            trunk.append(item)
        else:
            groups.append((item[0], [item[1]]))
    if trunk:
        groups.append((float(np.mean([d for d, _ in trunk])), [c for _, c in trunk]))
    centre3d = 0.5 * (points3d[_I("Head")] + points3d[_I("Neck_03")])
    c_uv, c_depth = project(centre3d, camera), float(world_to_camera(centre3d, camera)[2])
    if c_depth > 0 and np.isfinite(c_uv).all():
        r = _HEAD_RADIUS_MM * focal / c_depth
        groups.append((c_depth, [(c_uv, c_uv, r, r, "skin")]))
    groups.sort(key=lambda g: -g[0])
    return groups


def _paint_group(img: np.ndarray, capsules: list[tuple], colours: dict[str, np.ndarray], light: np.ndarray) -> None:
    """Paint capsules shaded like lit cylinders: stroke k of every capsule before stroke k + 1, so that a group
    reads as one smooth volume; tapered capsules are drawn as two halves of their mean radii."""
    import cv2

    halves = []
    for p0, p1, r0, r1, part in capsules:
        mid = 0.5 * (p0 + p1)
        halves += [(p0, mid, 0.75 * r0 + 0.25 * r1, colours[part]), (mid, p1, 0.25 * r0 + 0.75 * r1, colours[part])]
    for k in range(_STROKES):
        f = k / (_STROKES - 1)
        for a, b, r, colour in halves:
            radius = max(r * (1.0 - 0.85 * f), 1.0)
            shift = light * r * 0.35 * f
            tone = tuple(int(c) for c in np.clip(colour * (0.45 + 0.75 * f), 0, 255))
            q0, q1 = np.round((a + shift) * 4).astype(int), np.round((b + shift) * 4).astype(int)
            cv2.line(img, (int(q0[0]), int(q0[1])), (int(q1[0]), int(q1[1])), tone, max(int(round(2 * radius)), 1),
                     cv2.LINE_AA, shift=2)


def render_frame(points3d: np.ndarray, camera: Camera, palette_key: str = "",
                 background: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Draw one person seen by ``camera`` -> (H, W, 3) uint8 BGR.

    Args:
        points3d: (37, 3) SpineTrack-order keypoints, world mm (Z-up, Human3.6M frame).
        camera: the camera (its ``size`` is the frame size; lens distortion applied).
        palette_key: chooses the clothing colours (the generator passes the subject).
        background: a precomputed :func:`_scene` result for this camera (saves time across frames).
    """
    points3d = np.asarray(points3d, dtype=np.float64)
    if points3d.shape != (skeleton.NUM_KEYPOINTS, 3):
        raise ValueError(f"points3d must be ({skeleton.NUM_KEYPOINTS}, 3) world mm; got {points3d.shape}")
    bg, light = background if background is not None else _scene(camera)
    img, colours = bg.copy(), _palette(palette_key)
    for _, capsules in _volumes(points3d, camera):
        _paint_group(img, capsules, colours, light)
    return img


def write_video(path: Path, points3d: np.ndarray, camera: Camera, fps: float, extra_frames: int = 0,
                palette_key: str = "") -> None:
    """Render (T, 37, 3) world-mm keypoints seen by ``camera`` to an MP4 of T + ``extra_frames`` frames (the
    last pose repeated, as real Human3.6M videos run a few frames past the mocap)."""
    import cv2

    scene = _scene(camera)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, tuple(camera.size))
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot write MP4 (mp4v)")
        n = len(points3d)
        for i in range(n + extra_frames):
            writer.write(render_frame(points3d[min(i, n - 1)], camera, palette_key, scene))
        writer.release()
