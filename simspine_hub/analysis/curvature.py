"""Spine curvature for the validity study (the paper's Sec. 3.2, Fig. 3 left, Table B2): two measures.

**(a) Marker proxies** (:mod:`simspine_hub.simulation.curvature`, the definitions QC uses): the angle in the
sagittal plane between two local directions of the marker chain, unsigned, degrees. LLA: the sacral direction
(Hip -> Spine_01) against the L1 direction (Spine_02 -> Spine_03); TKA: the T12 direction (Spine_03 ->
Spine_04) against the T3 direction (Spine_05 -> Neck). Being unsigned, a proxy folds back at 0 deg: deep
flexion (forward bending, sitting) reads as a small positive angle, not a negative one.

The sagittal plane is normal to the pelvis' left-right axis: LHip -> RHip where both are present (a
simulation output, or a release joined with Human3.6M), else -- ``spine15`` alone -- the pelvis body's right
axis (its +Z) from forward kinematics of the released kinematics (:func:`pelvis_axes`).

**(b) Cobb angle from the model's segment orientations** (forward kinematics of the released kinematics on
the subject's model): the lumbar lordotic angle between the S1 and L1 endplates, taken as the ``sacrum`` and
``lumbar1`` body frames. Each endplate's normal is its body's +Y (cranial) axis; the angle is that of L1's
normal relative to S1's, measured in S1's sagittal (X-Y) plane, signed: positive = extension (more lordosis),
negative = flexion. The model's body frames are all parallel in its default pose, so this angle is 0 at the
model's neutral posture: it is the lordosis *change* from the model's neutral (its built-in neutral lordosis
lives in the bone meshes, not in the frames), written ``dLLA`` in the report. With pure flexion-extension at
L5_S1 and its couplers (all flexion axes are the frames' Z axes) it equals the sum of the five L5_S1..L1_L2
flexion angles; a pure axial twist (about the frames' Y axes) leaves it unchanged.

**TKA from the model:** the thoracic vertebrae T1..T12 are all part of one rigid body (``torso``), so a
T3-T12 Cobb angle is a constant of the model, identical in every frame, and is not reported. The only
articulation between the lumbar and the thoracic spine is L1_T12 (``lumbar1`` -> ``torso``); the marker
proxy TKA above varies only through it (Spine_03 sits on ``lumbar1``; Spine_04, Spine_05 and Neck on
``torso``), and its range of motion is part of Fig. 3 (right).
"""

from __future__ import annotations

import numpy as np

from simspine_hub import skeleton
from simspine_hub.simulation import curvature as marker_curvature
from simspine_hub.units import kinematics_to_radians, yup_to_zup

__all__ = ["COBB_BODIES", "PROXY_KEYPOINTS", "segment_orientations", "cobb_lla", "pelvis_axes",
           "marker_proxies"]

#: Bodies whose orientation the study needs: the pelvis (sagittal plane, heading), sacrum and L1 (Cobb LLA).
COBB_BODIES = ("pelvis", "sacrum", "lumbar1")
#: Keypoints the marker proxies need besides the left-right axis.
PROXY_KEYPOINTS: tuple[int, ...] = tuple(skeleton.index_of(
    ["Hip", "Spine_01", "Spine_02", "Spine_03", "Spine_04", "Spine_05", "Neck"]))
_LHIP, _RHIP, _HIP = skeleton.index_of(["LHip", "RHip", "Hip"])


def segment_orientations(model, kinematics_deg: np.ndarray) -> dict[str, np.ndarray]:
    """Orientations of :data:`COBB_BODIES` in OpenSim's ground frame (Y-up), by forward kinematics.

    Args:
        model: a :class:`simspine_hub.osim.model.SpineModel` (the subject's model or the generic one).
        kinematics_deg: (T, 62) released coordinates, degrees on rotations, metres on translations.
    Returns:
        {body: (T, 3, 3) rotation, body frame -> ground}. Coupled coordinates are set from their
        independent ones first (as :meth:`SpineModel.marker_positions` does).
    """
    k = np.asarray(kinematics_deg, dtype=np.float64)
    if k.ndim != 2 or k.shape[1] != skeleton.NUM_AXES:
        raise ValueError(f"kinematics must be (T, {skeleton.NUM_AXES}) degrees/metres; got {k.shape}")
    q = model.apply_couplers(kinematics_to_radians(k))
    poses = model.fk.body_poses(q, set(COBB_BODIES))
    return {b: poses[b][0] for b in COBB_BODIES}


def cobb_lla(r_sacrum: np.ndarray, r_lumbar1: np.ndarray) -> np.ndarray:
    """Cobb lumbar lordosis change from the model's neutral (see module docstring), degrees.

    Args:
        r_sacrum, r_lumbar1: (T, 3, 3) body -> ground rotations of the ``sacrum`` and ``lumbar1`` frames.
    Returns:
        (T,) signed angle of L1's endplate normal relative to S1's, in S1's sagittal plane; + = extension.
    """
    rel = np.einsum("tji,tjk->tik", r_sacrum, r_lumbar1)     # lumbar1 frame expressed in the sacrum frame
    normal = rel[:, :, 1]                                    # L1's +Y in sacrum coordinates
    return np.degrees(np.arctan2(-normal[:, 0], normal[:, 1]))


def pelvis_axes(r_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 3) pelvis -> ground rotations -> its right (+Z) and anterior (+X) axes in the Z-up world, (T, 3) each."""
    return yup_to_zup(r_pelvis[:, :, 2]), yup_to_zup(r_pelvis[:, :, 0])


def marker_proxies(markers: np.ndarray, keypoints: tuple[int, ...] | list[int],
                   right: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Marker-proxy LLA and TKA (see module docstring), degrees.

    Args:
        markers: (T, K, 3) world positions (any unit; Z-up Human3.6M world in the release readers).
        keypoints: the K SpineTrack ids of ``markers``' columns; must hold :data:`PROXY_KEYPOINTS`.
        right: (T, 3) the pelvis' right axis in the same frame, used when LHip/RHip are not both given.
    Returns:
        lla (T,), tka (T,) and where the sagittal plane came from: "LHip/RHip", "pelvis orientation (FK)", or
        both (hips where both are finite, the pelvis axis in the other frames).
    """
    pos = {int(k): i for i, k in enumerate(keypoints)}
    missing = [skeleton.KEYPOINT_NAMES[k] for k in PROXY_KEYPOINTS if k not in pos]
    if missing:
        raise ValueError(f"marker proxies need keypoints {missing}")
    m = np.asarray(markers, dtype=np.float64)
    pts = np.full((len(m), skeleton.NUM_KEYPOINTS, 3), np.nan)
    pts[:, list(pos)] = m[:, list(pos.values())]
    hips = np.isfinite(pts[:, [_LHIP, _RHIP]]).all(axis=(1, 2))          # (T,) frames with both hips
    if hips.all():
        plane = "LHip/RHip"
    else:
        if right is None:
            raise ValueError("marker proxies need LHip and RHip, or the pelvis' right axis (right=)")
        # the proxies only use RHip - LHip; two points on the pelvis' right axis give the same plane
        fill = ~hips[:, None]
        pts[:, _LHIP] = np.where(fill, pts[:, _HIP] - right, pts[:, _LHIP])
        pts[:, _RHIP] = np.where(fill, pts[:, _HIP] + right, pts[:, _RHIP])
        plane = "pelvis orientation (FK)" if not hips.any() else "LHip/RHip, pelvis orientation (FK) where absent"
    return marker_curvature.lumbar_lordosis(pts), marker_curvature.thoracic_kyphosis(pts), plane
