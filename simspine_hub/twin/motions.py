"""The twin's motions: smooth parametric trajectories of the model's independent coordinates.

Each motion is one small function that writes its coordinates (radians, metres; OpenSim Y-up model frame)
into a ``(T, 62)`` array that starts at the subject's default pose; the couplers are applied afterwards by
the generator. Motions are data: :data:`MOTION_FUNCTIONS` maps a motion name to its function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simspine_hub import skeleton

__all__ = ["MOTIONS", "MOTION_FUNCTIONS", "motion_coordinates"]

#: Twin motion -> Human3.6M action it is filed under.
MOTIONS = {"walking": "Walking", "sitting_down": "SittingDown", "forward_bending": "Purchases",
           "lateral_bending": "Greeting", "axial_twist": "Discussion", "phoning": "Phoning",
           "arm_raising": "Photo"}

_IDX = {n: i for i, n in enumerate(skeleton.KINEMATIC_AXES)}


@dataclass
class _Shape:
    """What a motion function sees: time (T,) s, the cycle shapes, per-sequence randomness, the output."""

    q: np.ndarray          # (T, 62) coordinates being written (rad / m)
    t: np.ndarray          # (T,) seconds
    period: float          # cycle length, s (at most 4 s; a short sequence is one cycle)
    ramp: np.ndarray       # (T,) 0 -> 1 (-> 0 -> 1 ... when repeated), smooth
    bump: np.ndarray       # (T,) 0 -> 1 -> 0
    amp: float             # per-sequence amplitude factor (~1)
    heading: float         # rad, facing direction about the vertical
    scale: float           # subject's body scale

    def set(self, name: str, values) -> None:
        self.q[:, _IDX[name]] = values


def _walking(m: _Shape) -> None:
    w = 2 * np.pi * 0.9 * m.amp * m.t
    radius, speed = 1.2, 1.1 * m.scale                    # walk on a circle around the capture centre
    ang = m.heading + speed / radius * m.t
    m.set("pelvis_tx", radius * np.cos(ang))
    m.set("pelvis_tz", -radius * np.sin(ang))
    for s, ph in (("r", 0.0), ("l", np.pi)):
        m.set(f"hip_flexion_{s}", 0.25 + 0.45 * np.sin(w + ph))
        m.set(f"knee_angle_{s}", 0.55 + 0.5 * np.sin(w + ph + 1.2))
        m.set(f"ankle_angle_{s}", 0.1 * np.sin(w + ph - 0.8))
        m.set(f"arm_flex_{s}", -0.35 * np.sin(w + ph))
        m.set(f"elbow_flex_{s}", 0.4 + 0.1 * np.sin(w + ph))
    # facing along the circle's tangent (pelvis_rotation is about the vertical; kept unwrapped)
    m.set("pelvis_rotation", ang + np.pi / 2 + 0.08 * np.sin(w))
    m.set("L5_S1_axial_rotation", -0.04 * np.sin(w))
    m.set("L5_S1_Lat_Bending", 0.015 * np.sin(2 * w))
    m.set("pelvis_list", 0.04 * np.sin(w))


def _sitting_down(m: _Shape) -> None:
    m.set("L5_S1_Flex_Ext", -0.02 - 0.09 * m.amp * m.ramp)
    m.set("neck_flexion", 0.15 * m.ramp)
    for s in ("r", "l"):
        m.set(f"hip_flexion_{s}", 1.45 * m.ramp)
        m.set(f"knee_angle_{s}", 1.55 * m.ramp)
        m.set(f"ankle_angle_{s}", 0.15 * m.ramp)
        m.set(f"elbow_flex_{s}", 0.6 * m.ramp)
    m.set("pelvis_tilt", -0.25 * m.ramp)


def _forward_bending(m: _Shape) -> None:
    m.set("L5_S1_Flex_Ext", -0.02 - 0.15 * m.amp * m.bump)
    m.set("pelvis_tilt", -0.45 * m.bump)
    for s in ("r", "l"):
        m.set(f"hip_flexion_{s}", 0.45 * m.bump)
        m.set(f"knee_angle_{s}", 0.25 * m.bump)
        m.set(f"arm_flex_{s}", 0.9 * m.bump)
    m.set("neck_flexion", 0.25 * m.bump)


def _lateral_bending(m: _Shape) -> None:
    side = np.sin(2 * np.pi * m.t / m.period)
    m.set("L5_S1_Lat_Bending", 0.035 * m.amp * side)
    m.set("pelvis_list", 0.08 * side)
    m.set("neck_bending", 0.3 * side)
    m.set("arm_add_r", -0.15 - 1.2 * np.clip(side, 0, None))
    m.set("elbow_flex_r", 0.8 * np.clip(side, 0, None))


def _axial_twist(m: _Shape) -> None:
    twist = np.sin(2 * np.pi * m.t / m.period)
    m.set("L5_S1_axial_rotation", 0.22 * m.amp * twist)
    m.set("pelvis_rotation", m.heading + 0.2 * twist)
    m.set("neck_rotation", 0.5 * twist)
    for s, sg in (("r", 1.0), ("l", -1.0)):
        m.set(f"arm_flex_{s}", 0.4 + 0.3 * sg * twist)
        m.set(f"elbow_flex_{s}", 1.2)


def _phoning(m: _Shape) -> None:
    m.set("arm_flex_r", 0.6 * m.ramp)
    m.set("arm_add_r", -0.15 - 0.3 * m.ramp)
    m.set("elbow_flex_r", 2.3 * m.ramp)
    m.set("neck_bending", -0.25 * m.ramp)
    m.set("neck_rotation", 0.2 * m.ramp)
    m.set("L5_S1_Lat_Bending", -0.015 * m.ramp)


def _arm_raising(m: _Shape) -> None:
    for s in ("r", "l"):
        m.set(f"arm_flex_{s}", 1.3 * m.amp * m.bump)
        m.set(f"elbow_flex_{s}", 1.6 * m.bump)
    m.set("L5_S1_Flex_Ext", -0.02 + 0.04 * m.bump)
    m.set("neck_flexion", -0.1 * m.bump)


MOTION_FUNCTIONS: dict[str, Callable[[_Shape], None]] = {
    "walking": _walking, "sitting_down": _sitting_down, "forward_bending": _forward_bending,
    "lateral_bending": _lateral_bending, "axial_twist": _axial_twist, "phoning": _phoning,
    "arm_raising": _arm_raising,
}


def motion_coordinates(name: str, t: np.ndarray, q0: np.ndarray, rng: np.random.Generator,
                       scale: float) -> np.ndarray:
    """(T,) seconds -> (T, 62) coordinates (rad / m) of one motion; independent coordinates only.

    Every motion starts from ``q0`` (62,) with arms at the sides, a slow heading sway and breathing (neck and
    L5_S1 flexion), then its own function adds the action.
    """
    period = min(t[-1], 4.0) if t[-1] > 0 else 1.0
    m = _Shape(q=np.tile(q0, (len(t), 1)), t=t, period=period,
               ramp=0.5 - 0.5 * np.cos(np.pi * t / period), bump=np.sin(np.pi * t / period) ** 2,
               amp=1.0 + 0.15 * rng.standard_normal(), heading=rng.uniform(-np.pi, np.pi), scale=scale)
    x0, z0 = rng.uniform(-0.4, 0.4, size=2)
    m.set("arm_add_r", -0.15)                             # arms at the sides (the file's default is a T-pose)
    m.set("arm_add_l", -0.15)
    m.set("pelvis_rotation", m.heading + 0.05 * np.sin(2 * np.pi * 0.5 * t))
    m.set("pelvis_tx", x0)
    m.set("pelvis_tz", z0)
    breathe = 0.01 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))
    m.set("neck_flexion", breathe)
    m.set("L5_S1_Flex_Ext", -0.02 + breathe)
    MOTION_FUNCTIONS[name](m)
    return m.q
