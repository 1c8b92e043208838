"""The SIMSPINE / SpineTrack keypoint specification, as data.

Everything here is a plain constant: the 37 keypoints (SpineTrack order), their regions, parents,
flip pairs and OKS sigmas, the 15 released spine points, the raw-release marker order, the 62
kinematic axes of the paper's OpenSim model, and the Human3.6M 32-joint skeleton with the maps that
turn it into SIMSPINE limb points.

Sources (facts, not code): the SIMSPINE paper (Table B3 and Supplementary B), spinepose ``metainfo.py`` (OKS
sigmas), dfki-av/simspine ``serialize_dataset.py`` (raw order), the paper's OpenSim model (62 coordinates) and
the Human3.6M / H3WB joint orders.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

__all__ = [
    "KEYPOINT_NAMES", "NUM_KEYPOINTS", "KEYPOINT_REGION", "PARENTS", "FLIP_PAIRS", "FLIP_INDEX",
    "OKS_SIGMAS", "ROOT", "SPINE15", "VERTEBRAL_CHAIN", "REGIONS", "RAW_MARKER_NAMES",
    "RAW_TO_SPINETRACK", "SPINETRACK_TO_RAW", "KINEMATIC_AXES", "H36M_JOINT_NAMES",
    "H36M_TO_LIMB", "LIMB_KEYPOINTS", "H36M17", "H3WB_FEET", "FACE_FEET", "SKELETON_EDGES",
    "index_of",
]

#: The 37 keypoints in SpineTrack / SIMSPINE id order.
KEYPOINT_NAMES: tuple[str, ...] = (
    "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
    "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
    "Head", "Neck", "Hip",
    "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel",
    "Spine_01", "Spine_02", "Spine_03", "Spine_04", "Spine_05",
    "LLatissimus", "RLatissimus", "LClavicle", "RClavicle", "Neck_02", "Neck_03",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
_ID = {n: i for i, n in enumerate(KEYPOINT_NAMES)}


def index_of(names: str | list[str] | tuple[str, ...]) -> int | list[int]:
    """SpineTrack id(s) of keypoint name(s); raises ``KeyError`` naming the unknown keypoint."""
    if isinstance(names, str):
        if names not in _ID:
            raise KeyError(f"unknown keypoint {names!r}; expected one of {KEYPOINT_NAMES}")
        return _ID[names]
    return [index_of(n) for n in names]  # type: ignore[misc]


#: Region of each keypoint as in the paper's Table B3 ("cervical", "thoracic", "lumbar", "body").
KEYPOINT_REGION: tuple[str, ...] = (
    "cervical", "body", "body", "body", "body", "body", "body", "body", "body",
    "body", "body", "body", "body", "body", "body", "body", "body",
    "cervical", "cervical", "lumbar",
    "body", "body", "body", "body", "body", "body",
    "lumbar", "lumbar", "lumbar", "thoracic", "thoracic",
    "thoracic", "thoracic", "thoracic", "thoracic", "cervical", "cervical",
)

#: Parent id of each keypoint (-1 for the root, Hip); one tree (Table B3).
PARENTS: tuple[int, ...] = (
    17, 0, 0, 1, 2, 33, 34, 5, 6, 7, 8, 19, 19, 11, 12, 13, 14,
    36, 30, -1,
    15, 16, 20, 21, 15, 16,
    19, 26, 27, 28, 29,
    29, 29, 30, 30, 18, 35,
)
ROOT = 19

#: Left/right pairs (left id, right id).
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
    (20, 21), (22, 23), (24, 25), (31, 32), (33, 34),
)


def _flip_index() -> tuple[int, ...]:
    idx = list(range(NUM_KEYPOINTS))
    for a, b in FLIP_PAIRS:
        idx[a], idx[b] = b, a
    return tuple(idx)


#: ``FLIP_INDEX[i]`` is the keypoint that ``i`` becomes under a horizontal flip.
FLIP_INDEX: tuple[int, ...] = _flip_index()

#: OKS sigmas in id order (spinepose ``metainfo.py``), dimensionless.
OKS_SIGMAS: np.ndarray = np.array([
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    0.026, 0.040, 0.070,
    0.079, 0.079, 0.079, 0.079, 0.079, 0.079,
    0.10, 0.10, 0.10, 0.08, 0.08,
    0.12, 0.12, 0.07, 0.07, 0.07, 0.06,
])
OKS_SIGMAS.flags.writeable = False

#: The 15 released spine points, in the order the release and the datasets use.
SPINE15: tuple[int, ...] = (19, 26, 27, 28, 29, 30, 18, 35, 36, 17, 0, 31, 32, 33, 34)

#: The vertebral chain (sacrum to skull) used by the SpinePose tools.
VERTEBRAL_CHAIN: tuple[int, ...] = (19, 26, 27, 28, 29, 30, 18, 35, 36)

#: 12 limb points that come from Human3.6M.
LIMB_KEYPOINTS: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
#: 10 face and feet points (pseudo-labels: H3WB, or forward kinematics of the released model).
FACE_FEET: tuple[int, ...] = (1, 2, 3, 4, 20, 21, 22, 23, 24, 25)

#: Index sets for metrics (the paper's Supplementary B): S_C, S_T, S_L, S, B, feet, All.
REGIONS = MappingProxyType({
    "cervical": (0, 17, 18, 35, 36),
    "thoracic": (29, 30, 31, 32, 33, 34),
    "lumbar": (19, 26, 27, 28),
    "spine": tuple(sorted(SPINE15)),
    "body": tuple(range(17)),
    "feet": (20, 21, 22, 23, 24, 25),
    "all": tuple(range(NUM_KEYPOINTS)),
})

#: Marker order of the raw SIMSPINE release files (dfki-av/simspine ``serialize_dataset.py``).
RAW_MARKER_NAMES: tuple[str, ...] = (
    "Hip", "Spine_01", "Spine_02", "Spine_03", "Spine_04", "Spine_05", "Neck", "Neck_02",
    "Neck_03", "Head", "Nose", "REye", "LEye", "REar", "LEar", "RLatissimus", "LLatissimus",
    "RClavicle", "RShoulder", "RElbow", "RWrist", "LClavicle", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "RBigToe", "RSmallToe", "RHeel", "LHip", "LKnee", "LAnkle",
    "LBigToe", "LSmallToe", "LHeel",
)
#: ``RAW_TO_SPINETRACK[r]`` is the SpineTrack id of raw marker ``r``.
RAW_TO_SPINETRACK: tuple[int, ...] = tuple(_ID[n] for n in RAW_MARKER_NAMES)
#: ``SPINETRACK_TO_RAW[i]`` is the raw position of SpineTrack keypoint ``i``.
SPINETRACK_TO_RAW: tuple[int, ...] = tuple(int(i) for i in np.argsort(RAW_TO_SPINETRACK))

#: The 62 coordinates of the paper's OpenSim model, in model order. Rotations in radians inside
#: OpenSim, degrees in .mot files; pelvis_t*, Abs_t* are translations in metres.
KINEMATIC_AXES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    *(name for s in ("r", "l") for name in (
        f"hip_flexion_{s}", f"hip_adduction_{s}", f"hip_rotation_{s}", f"knee_angle_{s}",
        f"knee_angle_{s}_beta", f"ankle_angle_{s}", f"subtalar_angle_{s}", f"mtp_angle_{s}")),
    *(f"{lvl}_{dof}" for lvl in ("L5_S1", "L4_L5", "L3_L4", "L2_L3", "L1_L2", "L1_T12")
      for dof in ("Flex_Ext", "Lat_Bending", "axial_rotation")),
    "Abs_r3", "Abs_r2", "Abs_r1", "Abs_t1", "Abs_t2",
    "neck_flexion", "neck_bending", "neck_rotation",
    *(f"{c}_{s}" for s in ("r", "l") for c in (
        "arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup", "wrist_flex", "wrist_dev")),
)
NUM_AXES = len(KINEMATIC_AXES)
#: Axes that are translations (metres); all others are rotations.
TRANSLATION_AXES: frozenset[str] = frozenset({"pelvis_tx", "pelvis_ty", "pelvis_tz", "Abs_t1", "Abs_t2"})
#: (62,) bool: True for rotational axes (radians in OpenSim, degrees in .mot files), in KINEMATIC_AXES order.
ROTATIONAL: np.ndarray = np.array([a not in TRANSLATION_AXES for a in KINEMATIC_AXES])
ROTATIONAL.flags.writeable = False

#: Human3.6M's 32 joints (D3_Positions order).
H36M_JOINT_NAMES: tuple[str, ...] = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RightToeSite",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToeSite",
    "Spine", "Spine1", "Neck", "Head", "HeadSite",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "LeftThumbSite",
    "LeftWristEnd", "LeftWristSite",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "RightThumbSite",
    "RightWristEnd", "RightWristSite",
)
#: The common 17-joint subset of the 32.
H36M17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
#: SpineTrack limb id -> Human3.6M joint index that provides it.
H36M_TO_LIMB = MappingProxyType({
    5: 17, 6: 25, 7: 18, 8: 26, 9: 19, 10: 27,  # shoulders, elbows, wrists
    11: 6, 12: 1, 13: 7, 14: 2, 15: 8, 16: 3,   # hips, knees, ankles
})
#: Human3.6M joints the paper leaves out (overlap with spine points): Pelvis, Spine, Neck, HeadTop, Nose.
H36M_UNUSED: tuple[int, ...] = (0, 12, 13, 15, 14)

#: SpineTrack foot id -> H3WB (COCO-WholeBody) keypoint index.
H3WB_FEET = MappingProxyType({20: 17, 22: 18, 24: 19, 21: 20, 23: 21, 25: 22})
#: SpineTrack face id -> COCO(-WholeBody) body keypoint index (left_eye 1, right_eye 2, left_ear 3, right_ear 4).
H3WB_FACE = MappingProxyType({1: 1, 2: 2, 3: 3, 4: 4})

#: Bones for drawing: (child, parent) for every non-root keypoint.
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple(
    (i, p) for i, p in enumerate(PARENTS) if p >= 0)

#: Named groups of the 62 axes for per-group angle errors, a partition of :data:`KINEMATIC_AXES` (model names).
AXIS_GROUPS = MappingProxyType({
    "pelvis": ("pelvis_tilt", "pelvis_list", "pelvis_rotation"),
    "pelvis_translation": ("pelvis_tx", "pelvis_ty", "pelvis_tz"),
    "legs": tuple(a for a in KINEMATIC_AXES if a.startswith(("hip_", "knee_", "ankle_", "subtalar_", "mtp_"))),
    "lumbar": tuple(a for a in KINEMATIC_AXES if a.startswith(("L5_S1", "L4_L5", "L3_L4", "L2_L3", "L1_L2", "L1_T12"))),
    "abdomen": ("Abs_r3", "Abs_r2", "Abs_r1", "Abs_t1", "Abs_t2"),
    "neck": ("neck_flexion", "neck_bending", "neck_rotation"),
    "arms": tuple(a for a in KINEMATIC_AXES if a.startswith(("arm_", "elbow_", "pro_sup_", "wrist_"))),
})
#: The lumbar spine's three independent DOFs (the paper's model drives every other lumbar level from them).
LUMBAR_INDEPENDENT: tuple[str, ...] = ("L5_S1_Flex_Ext", "L5_S1_Lat_Bending", "L5_S1_axial_rotation")
#: Axes set by the model's CoordinateCouplerConstraints (dependent -> independent; linear functions, slopes in
#: the .osim): the 15 upper lumbar axes and Abs_r1..3 follow L5_S1, knee_angle_*_beta equals knee_angle_*.
COUPLED_AXES = MappingProxyType({
    **{f"{lvl}_{dof}": f"L5_S1_{dof}" for lvl in ("L4_L5", "L3_L4", "L2_L3", "L1_L2", "L1_T12")
       for dof in ("Flex_Ext", "Lat_Bending", "axial_rotation")},
    "Abs_r3": "L5_S1_Flex_Ext", "Abs_r2": "L5_S1_Lat_Bending", "Abs_r1": "L5_S1_axial_rotation",
    "knee_angle_r_beta": "knee_angle_r", "knee_angle_l_beta": "knee_angle_l",
})
#: Axes locked in the model (always at their default value, 0 m).
LOCKED_AXES: frozenset[str] = frozenset({"Abs_t1", "Abs_t2"})
__all__ += ["NUM_AXES", "TRANSLATION_AXES", "ROTATIONAL", "AXIS_GROUPS", "LUMBAR_INDEPENDENT", "COUPLED_AXES",
            "LOCKED_AXES"]

#: Region colours, one definition for every plot and overlay (the paper's Fig. 1: cervical pink, thoracic
#: blue, lumbar green; other body points grey), as ``#rrggbb``; :func:`region_color_bgr` gives OpenCV's order.
REGION_COLORS = MappingProxyType({"cervical": "#ff69b4", "thoracic": "#3c8cff", "lumbar": "#3cb44b",
                                  "body": "#9a9a9a"})


def region_color_bgr(region: str) -> tuple[int, int, int]:
    """(blue, green, red) 0-255 of :data:`REGION_COLORS` ``[region]``, for OpenCV drawing."""
    h = REGION_COLORS[region]
    return int(h[5:7], 16), int(h[3:5], 16), int(h[1:3], 16)


__all__ += ["REGION_COLORS", "region_color_bgr"]
