"""Range of motion: lumbar levels (the paper's Fig. 3, right) and the neck (Fig. 4), with reference values.

Lumbar ROM per level and DOF is the robust range (99th minus 1st percentile, degrees) of that coordinate.
In the paper's model every level above L5_S1 is a fixed linear multiple of L5_S1 (coordinate couplers), so
the per-level profile is the coupler profile scaled by the L5_S1 range: it shows what the model imposes.

Reference values, and where they come from:

* White & Panjabi (1978) [the paper's ref. 72], representative lumbar ROM per level: **not included.** No
  readable copy of that review or of the book table derived from it could be found with the search tools
  available to this project, and numbers are not typed in from memory. :func:`read_rom_reference` reads
  them from a CSV you supply (``simspine analyze --rom-reference``); they are then drawn dashed.
* Normative neck ROM: the numbers of the paper's ref. [14] (Doss et al. 2023, a review of head-neck
  rehabilitation devices) could not be read (only its abstract was reachable). :data:`NECK_NORMATIVE` holds
  instead the average active ranges of a healthy young adult as listed by J. Muscolino, "Cervical spine
  ranges of motion (ROM)", learnmuscles.com anatomy glossary: flexion 50, extension 80, lateral
  flexion 45 to each side, rotation 80 to each side (degrees).

Neck signs (checked by forward kinematics in the tests): the model's ``neck_flexion`` is positive for
*extension* (the head tips back), so :func:`neck_angles` reports flexion as ``-neck_flexion`` (positive =
flexion); ``neck_bending`` is positive to the right, ``neck_rotation`` positive to the left (model signs).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import MappingProxyType

import numpy as np

from simspine_hub import skeleton

__all__ = ["LUMBAR_LEVELS", "LUMBAR_DOFS", "LUMBAR_COLUMNS", "NECK_DOFS", "NECK_COLUMNS", "NECK_NORMATIVE",
           "NECK_NORMATIVE_SOURCE", "WHITE_PANJABI_1978", "robust_range", "neck_angles", "read_rom_reference"]

#: Lumbar levels, cranial to caudal (the paper's Fig. 3 x-axis), and the three DOFs of each.
LUMBAR_LEVELS = ("L1_T12", "L1_L2", "L2_L3", "L3_L4", "L4_L5", "L5_S1")
LUMBAR_DOFS = ("Flex_Ext", "Lat_Bending", "axial_rotation")
#: (6, 3) indices into :data:`skeleton.KINEMATIC_AXES`, [level, dof].
LUMBAR_COLUMNS = np.array([[skeleton.KINEMATIC_AXES.index(f"{lvl}_{dof}") for dof in LUMBAR_DOFS]
                           for lvl in LUMBAR_LEVELS])
NECK_DOFS = ("flexion", "bending", "rotation")
NECK_COLUMNS = tuple(skeleton.KINEMATIC_AXES.index(f"neck_{d}") for d in NECK_DOFS)
_NECK_SIGN = np.array([-1.0, 1.0, 1.0])          # report flexion positive (the model's +neck_flexion extends)

#: Normative neck range per DOF as (lower, upper) degrees in :func:`neck_angles`' signs (see module docstring).
NECK_NORMATIVE = MappingProxyType({"flexion": (-80.0, 50.0), "bending": (-45.0, 45.0), "rotation": (-80.0, 80.0)})
NECK_NORMATIVE_SOURCE = ("J. Muscolino, 'Cervical spine ranges of motion (ROM)', learnmuscles.com (average "
                         "active ROM of a healthy young adult); the paper's ref. [14] could not be read")
#: White & Panjabi's representative lumbar values: not available here (see module docstring).
WHITE_PANJABI_1978 = None


def robust_range(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """(N, ...) samples -> (...) range ``percentile(high) - percentile(low)`` over axis 0, NaN ignored."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return np.full(v.shape[1:], np.nan)
    lo, hi = np.nanpercentile(v, [low, high], axis=0)
    return hi - lo


def neck_angles(kinematics_deg: np.ndarray) -> np.ndarray:
    """(T, 62) released coordinates (degrees) -> (T, 3) neck flexion (+ = flexion), bending, rotation, degrees."""
    k = np.asarray(kinematics_deg)
    if k.ndim != 2 or k.shape[1] != skeleton.NUM_AXES:
        raise ValueError(f"kinematics must be (T, {skeleton.NUM_AXES}); got {k.shape}")
    return k[:, list(NECK_COLUMNS)] * _NECK_SIGN


def read_rom_reference(path: str | os.PathLike) -> dict[tuple[str, str], float]:
    """Reference lumbar ROM from a CSV with columns ``level,dof,rom_deg`` (e.g. L4_L5,Flex_Ext,16).

    Levels and DOFs use :data:`LUMBAR_LEVELS` / :data:`LUMBAR_DOFS` names; missing pairs are simply not drawn.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ROM reference CSV not found (columns level,dof,rom_deg)")
    out = {}
    with open(path, newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                level, dof, value = row["level"].strip(), row["dof"].strip(), float(row["rom_deg"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: expected columns level,dof,rom_deg with a number ({exc})") from exc
            if level not in LUMBAR_LEVELS or dof not in LUMBAR_DOFS:
                raise ValueError(f"{path}:{i}: unknown level/dof {level}/{dof}; levels {LUMBAR_LEVELS}, "
                                 f"dofs {LUMBAR_DOFS}")
            out[(level, dof)] = value
    return out
