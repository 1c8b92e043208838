"""The paper's metrics, vectorised over frames and joints (numpy).

Shapes: 3D poses are (N, J, 3) in millimetres, 2D poses (N, J, 2) in pixels; masks are (N, J) booleans
(True = joint is labelled and counts). Functions named ``*_errors`` return per-joint errors (N, J), NaN where the
prediction or the target is missing; the reductions (:func:`mpjpe`, :func:`masked_mean`, :func:`region_means`)
apply the rule below.

Missing predictions (one rule for every metric)
    A joint is *labelled* when its mask is True and its ground truth is finite. A labelled joint whose
    prediction is missing (NaN or inf) is a **miss**:

    * threshold metrics count it as wrong: PCK / AUC incorrect at every threshold, OKS similarity 0;
    * distance metrics (MPJPE, P-MPJPE, N-MPJPE, angle MAE, geodesic error) have no distance to give a miss,
      so they refuse it with :class:`MissingPredictionError` (``missing="error"``, the default). A caller
      who wants the mean over predicted joints only must say so (``missing="exclude"``) and should report
      the coverage beside it.

    Unlabelled joints never count, whatever the prediction holds.

Protocols
    MPJPE       mean Euclidean distance per joint (mm), absolute, or root-relative with :func:`root_relative`.
    P-MPJPE     per-frame similarity Procrustes (scale, rotation with the reflection fix, translation) of the
                prediction onto the target, then MPJPE (as VideoPose3D's ``p_mpjpe``).
    N-MPJPE     per-frame optimal scale only (Rhodin et al.), then MPJPE.
    PCK / AUC   a joint is correct when its distance / the shorter side of the person box <= t; AUC is the
                mean PCK over :data:`AUC_THRESHOLDS`: 21 thresholds t = 0, 0.025, ..., 0.5, both ends included,
                the closed range tau in [0, 0.5] the paper states (Sec. 4.1). With ``<=`` a perfect prediction
                scores AUC 1.0. mmpose's ``keypoint_auc`` (``mmpose/evaluation/functional/keypoint_eval.py``)
                instead averages ``num_thrs=20`` thresholds i / 20, i = 0..19 (upper end left out) with a strict
                ``<`` and a scalar normaliser; scaled to 0.5 that is 0..0.475, this module's earlier default,
                which leaves out the top of the paper's range and so scores the same predictions lower. The
                paper's own evaluation code is not public, so its grid is unknown: every result records its
                grid and the leaderboard ranks only results with the same grid.
    OKS AP/AR   COCO keypoint AP/AR with the SpineTrack sigmas through pycocotools' COCOeval
                (``params.kpt_oks_sigmas``), on the SpinePose tools' subsets (dfki-av/spinepose
                ``tools/metric.py``): body 0-16, feet 20-25, spine (the 9-point vertebral chain), all 37.
    Angles      absolute difference in degrees, wrapped (modulo 360) to [0, 180]; geodesic error of a 3-DOF joint
                is the angle of R_pred^T R_target, degrees in [0, 180].
"""

from __future__ import annotations

import json
import os
import tempfile
from types import MappingProxyType

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import quiet_stdout

__all__ = ["MissingPredictionError", "MISSING_RULE", "labelled", "joint_errors", "mpjpe", "masked_mean",
           "root_relative", "procrustes_align", "p_mpjpe_errors", "n_mpjpe_errors", "pck", "pck_auc",
           "AUC_THRESHOLDS", "oks_ap", "OKS_SUBSETS", "angle_errors", "joint_rotations", "geodesic_errors",
           "region_means", "region_p_mpjpe", "PAPER_REGIONS"]

#: The missing-prediction rule in one line (written into every results JSON).
MISSING_RULE = ("labelled joint without a finite prediction = miss: wrong for PCK/AUC, OKS similarity 0; "
                "refused by distance metrics (MPJPE, P-MPJPE, angle MAE, geodesic)")

AUC_THRESHOLDS = np.round(0.025 * np.arange(21), 12)
AUC_THRESHOLDS.flags.writeable = False
#: OKS subsets of the SpinePose tools, from the skeleton's own sets.
OKS_SUBSETS = MappingProxyType({"body": skeleton.REGIONS["body"], "feet": skeleton.REGIONS["feet"],
                                "spine": skeleton.VERTEBRAL_CHAIN, "all": skeleton.REGIONS["all"]})


class MissingPredictionError(ValueError):
    """A distance metric was given labelled joints without a finite prediction (see the module docstring)."""


def _check(pred: np.ndarray, target: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != dims:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} must both be (N, J, {dims})")
    return pred, target


def labelled(target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, J, D) target, optional (N, J) mask -> (N, J) bool: mask True and the target finite."""
    finite = np.isfinite(np.asarray(target, dtype=np.float64)).all(-1)
    return finite if mask is None else finite & np.asarray(mask, dtype=bool)


def _apply_rule(values: np.ndarray, counts: np.ndarray, missing: str, what: str) -> np.ndarray:
    """``counts`` (bool, values' shape): joints that count. Returns the joints to average, or raises on a miss."""
    if missing not in ("error", "exclude"):
        raise ValueError(f"missing={missing!r}; choose 'error' or 'exclude'")
    bad = counts & ~np.isfinite(values)
    if bad.any() and missing == "error":
        n_inf = int((counts & np.isinf(values)).sum())
        raise MissingPredictionError(
            f"{what}: {int(bad.sum())} of {int(counts.sum())} labelled joints have no finite prediction "
            f"({int(bad.sum()) - n_inf} NaN, {n_inf} inf); a distance metric cannot score a miss. Predict every "
            "labelled joint, or pass missing='exclude' to average over predicted joints only (report coverage)")
    return counts & np.isfinite(values)


def joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, J, D) x2 -> (N, J) Euclidean distances (same unit as the input); NaN where either is missing."""
    pred, target = _check(pred, target, np.shape(pred)[-1])
    d = pred - target
    return np.sqrt(np.einsum("...i,...i->...", d, d))


def masked_mean(errors: np.ndarray, mask: np.ndarray | None = None, missing: str = "error",
                what: str = "mean error") -> float:
    """Mean of ``errors`` (any shape) over ``mask`` (True = labelled; default all); a non-finite error at a
    labelled place is a miss (module docstring). NaN when nothing is labelled."""
    errors = np.asarray(errors, dtype=np.float64)
    counts = np.ones(errors.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), errors.shape)
    use = _apply_rule(errors, counts, missing, what)
    return float(errors[use].mean()) if use.any() else float("nan")


def mpjpe(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, missing: str = "error") -> float:
    """Mean per-joint position error (mm) over labelled joints (mask and finite target)."""
    return masked_mean(joint_errors(pred, target), labelled(target, mask), missing, "MPJPE")


def root_relative(poses: np.ndarray, root: int = skeleton.ROOT) -> np.ndarray:
    """(N, J, 3) -> poses minus their root joint (default Hip, id 19)."""
    poses = np.asarray(poses, dtype=np.float64)
    return poses - poses[..., root:root + 1, :]


CHUNK = 8192  # frames per block: keeps the working set in cache; results do not depend on it


def procrustes_align(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Align each frame of ``pred`` (N, J, 3) to ``target`` (see :func:`_procrustes_block`), in blocks."""
    pred, target = _check(pred, target, 3)
    if len(pred) <= CHUNK:
        return _procrustes_block(pred, target, mask)
    out = np.empty_like(pred)
    for a in range(0, len(pred), CHUNK):
        out[a:a + CHUNK] = _procrustes_block(pred[a:a + CHUNK], target[a:a + CHUNK],
                                             None if mask is None else np.asarray(mask)[a:a + CHUNK])
    return out


def _procrustes_block(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Align each frame of ``pred`` (N, J, 3) to ``target`` by a similarity transform (batched SVD).

    Only joints where ``mask`` (N, J) is True and both poses are finite drive the fit; the transform is applied
    to all joints. The rotation is proper (reflections are fixed by flipping the smallest singular direction).
    """
    pred, target = _check(pred, target, 3)
    finite = np.isfinite(pred).all(-1) & np.isfinite(target).all(-1)            # (N, J)
    if mask is None and finite.all():                                            # fast path: no weights
        mu_p, mu_t = pred.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
        P, T = pred - mu_p, target - mu_t
        WP = P
    else:
        w = (finite if mask is None else finite & np.asarray(mask, dtype=bool)).astype(np.float64)
        wsum = np.maximum(w.sum(axis=1), 1e-12)[:, None, None]                   # (N, 1, 1)
        p0, t0 = np.where(finite[..., None], pred, 0.0), np.where(finite[..., None], target, 0.0)
        mu_p = (w[:, None, :] @ p0) / wsum                                       # (N, 1, 3)
        mu_t = (w[:, None, :] @ t0) / wsum
        P, T = p0 - mu_p, t0 - mu_t
        WP = P * w[..., None]
    H = np.einsum("nji,njk->nik", WP, T)                                         # (N, 3, 3) cross-covariance
    U, S, Vt = np.linalg.svd(H)
    D = np.ones_like(S)
    D[:, 2] = np.sign(np.linalg.det(U @ Vt))                                     # reflection fix
    R = U @ (D[:, :, None] * Vt)                                                 # pred_row @ R ~ target_row
    scale = (S * D).sum(axis=1) / np.maximum(np.einsum("nji,nji->n", WP, P), 1e-12)
    sR = scale[:, None, None] * R                                                # (N, 3, 3)
    Pa = pred - mu_p
    out = np.empty_like(Pa)
    for k in range(3):                                                           # (N, J, 3) @ (N, 3, 3), unrolled
        out[..., k] = (Pa[..., 0] * sR[:, None, 0, k] + Pa[..., 1] * sR[:, None, 1, k]
                       + Pa[..., 2] * sR[:, None, 2, k]) + mu_t[..., k]
    return out


def p_mpjpe_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, J) per-joint errors after per-frame similarity Procrustes alignment (mm); NaN at missing joints."""
    pred, target = _check(pred, target, 3)
    out = np.empty(pred.shape[:2])
    for a in range(0, len(pred), CHUNK):
        sl = slice(a, a + CHUNK)
        out[sl] = joint_errors(_procrustes_block(pred[sl], target[sl], None if mask is None else np.asarray(mask)[sl]),
                               target[sl])
    return out


def n_mpjpe_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, J) per-joint errors after the per-frame least-squares scale of ``pred`` (mm); NaN at missing joints."""
    pred, target = _check(pred, target, 3)
    w = np.ones(pred.shape[:2]) if mask is None else np.asarray(mask, dtype=np.float64)
    num = np.nansum(w[..., None] * pred * target, axis=(1, 2))
    den = np.maximum(np.nansum(w[..., None] * pred * pred, axis=(1, 2)), 1e-12)
    return joint_errors(pred * (num / den)[:, None, None], target)


def pck(pred: np.ndarray, target: np.ndarray, normalizer: np.ndarray, threshold: float,
        mask: np.ndarray | None = None) -> float:
    """Fraction of labelled joints with distance / normalizer <= threshold (a miss counts as wrong).

    Args:
        pred, target: (N, J, 2) pixels.
        normalizer: (N,) per-instance normaliser in pixels (the shorter side of the person box).
    """
    return float(pck_auc(pred, target, normalizer, mask, thresholds=np.array([threshold]))[1][0])


def pck_auc(pred: np.ndarray, target: np.ndarray, normalizer: np.ndarray, mask: np.ndarray | None = None,
            thresholds: np.ndarray = AUC_THRESHOLDS) -> tuple[float, np.ndarray]:
    """AUC (mean PCK over ``thresholds``) and the PCK curve (T,); see the module docstring."""
    pred, target = _check(pred, target, 2)
    norm = np.asarray(normalizer, dtype=np.float64).reshape(-1, 1)
    if norm.shape[0] != pred.shape[0] or not (norm > 0).all() or not np.isfinite(norm).all():
        raise ValueError(f"normalizer must be ({pred.shape[0]},) positive finite pixels; got shape {norm.shape}")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or not thresholds.size or not np.isfinite(thresholds).all() or (thresholds < 0).any():
        raise ValueError(f"thresholds must be a non-empty 1-D array of finite values >= 0; got {thresholds!r}")
    d = joint_errors(pred, target) / norm                                       # (N, J)
    d = np.where(np.isfinite(d), d, np.inf)[labelled(target, mask)]            # unlabelled out, misses wrong
    if not d.size:
        return float("nan"), np.full(len(thresholds), np.nan)
    # d <= t_k  <=>  k >= (first threshold index with t_k >= d): one pass, then a cumulative count
    order = np.argsort(thresholds)
    first = np.searchsorted(thresholds[order], d, side="left")                 # in 0..T
    counts = np.cumsum(np.bincount(first, minlength=len(thresholds) + 1)[:-1])
    curve = np.empty(len(thresholds))
    curve[order] = counts / d.size
    return float(curve.mean()), curve


def oks_ap(pred: np.ndarray, scores: np.ndarray, target: np.ndarray, visibility: np.ndarray,
           boxes: np.ndarray, subsets: dict[str, tuple[int, ...]] | None = None,
           sigmas: np.ndarray = skeleton.OKS_SIGMAS) -> dict[str, dict[str, float]]:
    """COCO OKS AP/AR per keypoint subset, through pycocotools (COCO files written on the fly).

    Args:
        pred: (N, J, 2) predicted pixels, one instance per image (a NaN / inf joint is a miss: similarity 0);
            scores: (N,) instance scores.
        target: (N, J, 2) ground-truth pixels; visibility: (N, J) 0 unlabelled, 1/2 labelled.
        boxes: (N, 4) ground-truth ``[x, y, w, h]`` pixels; the object area is ``w * h``.
    Returns:
        {subset: {"AP", "AP50", "AP75", "AR", "AR50", "AR75"}}.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    pred, target = _check(pred, target, 2)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(pred),) or not np.isfinite(scores).all():
        raise ValueError(f"scores must be ({len(pred)},) finite instance scores; got shape {scores.shape}")
    far = np.where(np.isfinite(pred), pred, -1e6)                               # a miss lies far away
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, idx in (subsets or OKS_SUBSETS).items():
            idx = list(idx)
            images, anns, dets = [], [], []
            for i in range(len(pred)):
                x, y, w, h = (float(v) for v in boxes[i])
                vis = np.asarray(visibility[i])[idx]
                kp = np.concatenate([target[i][idx], (vis > 0)[:, None] * 2.0], 1)
                kp[vis == 0, :2] = 0
                images.append({"id": i, "width": 1000, "height": 1000})
                anns.append({"id": i + 1, "image_id": i, "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
                             "iscrowd": 0, "num_keypoints": int((vis > 0).sum()), "keypoints": kp.ravel().tolist()})
                pk = np.concatenate([far[i][idx], np.ones((len(idx), 1))], 1)
                dets.append({"image_id": i, "category_id": 1, "keypoints": pk.ravel().tolist(),
                             "score": float(scores[i])})
            gt_path, dt_path = os.path.join(tmp, f"{name}_gt.json"), os.path.join(tmp, f"{name}_dt.json")
            with open(gt_path, "w") as f:
                json.dump({"images": images, "annotations": anns,
                           "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}, f)
            with open(dt_path, "w") as f:
                json.dump(dets, f)
            with quiet_stdout():
                gt = COCO(gt_path)
                ev = COCOeval(gt, gt.loadRes(dt_path), "keypoints")
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)[idx]
            with quiet_stdout():
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            s = ev.stats
            out[name] = {"AP": s[0], "AP50": s[1], "AP75": s[2], "AR": s[5], "AR50": s[6], "AR75": s[7]}
    return out



def angle_errors(pred_deg: np.ndarray, target_deg: np.ndarray) -> np.ndarray:
    """(N, A) x2 angles in degrees -> (N, A) absolute differences modulo 360, in [0, 180]; NaN where missing."""
    pred, target = np.asarray(pred_deg, np.float64), np.asarray(target_deg, np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} must have the same shape")
    return np.abs((pred - target + 180.0) % 360.0 - 180.0)


def _rotations(q_deg: np.ndarray, axes: np.ndarray):
    from scipy.spatial.transform import Rotation

    q = np.deg2rad(np.asarray(q_deg, dtype=np.float64))
    axes = np.asarray(axes, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 3 or axes.shape != (3, 3):
        raise ValueError(f"q_deg must be (N, 3) and axes (3, 3); got {q.shape} and {axes.shape}")
    R = Rotation.from_rotvec(q[:, :1] * axes[0])
    for k in (1, 2):
        R = R * Rotation.from_rotvec(q[:, k:k + 1] * axes[k])                  # body-fixed: right-multiply
    return R


def joint_rotations(q_deg: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Rotation matrices of a 3-DOF joint from its three coordinates.

    Args:
        q_deg: (N, 3) the joint's coordinates, degrees, in the joint's axis order.
        axes: (3, 3) one axis per row in the parent frame, scaled by the slope of the coordinate's function (so a
            slope of -1 flips the axis), applied body-fixed in row order as OpenSim's CustomJoint composes its
            rotation axes: R = R1(q1) R2(q2) R3(q3).
    Returns:
        (N, 3, 3) rotation matrices.
    """
    return _rotations(q_deg, axes).as_matrix()


def geodesic_errors(pred_deg: np.ndarray, target_deg: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(N, 3) x2 coordinates of one 3-DOF joint (degrees; ``axes`` as in :func:`joint_rotations`) -> (N,) angle of
    R_pred^T R_target in degrees, [0, 180] (wrap-around is inherent: 350 and -10 degrees are the same rotation);
    NaN where either is missing."""
    pred, target = np.asarray(pred_deg, np.float64), np.asarray(target_deg, np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} must have the same shape")
    ok = np.isfinite(pred).all(1) & np.isfinite(target).all(1)
    out = np.full(len(pred), np.nan)
    if ok.any():
        rel = _rotations(pred[ok], axes).inv() * _rotations(target[ok], axes)    # quaternions: stable near 0
        out[ok] = np.degrees(rel.magnitude())
    return out


#: The paper's region columns (Tables 3-6) -> SpineTrack ids.
PAPER_REGIONS = MappingProxyType({"S_C": skeleton.REGIONS["cervical"], "S_T": skeleton.REGIONS["thoracic"],
                                  "S_L": skeleton.REGIONS["lumbar"], "S": skeleton.REGIONS["spine"],
                                  "B": skeleton.REGIONS["body"], "All": skeleton.REGIONS["all"]})


def region_means(errors: np.ndarray, mask: np.ndarray | None = None,
                 regions: dict[str, tuple[int, ...]] | None = None, missing: str = "error") -> dict[str, float]:
    """(N, J) per-joint errors -> {region: mean} for the paper's columns S_C, S_T, S_L, S, B, All.

    ``mask`` (N, J): labelled joints (default: all); a NaN error at a labelled joint is a miss (module docstring).
    """
    regions = regions or PAPER_REGIONS
    m = np.ones(errors.shape, bool) if mask is None else np.asarray(mask, bool)
    return {k: masked_mean(errors[:, list(v)], m[:, list(v)], missing, f"region {k}") for k, v in regions.items()
            if max(v) < errors.shape[1]}


def region_p_mpjpe(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None,
                   regions: dict[str, tuple[int, ...]], missing: str = "error") -> dict[str, float]:
    """{region: P-MPJPE (mm)} with each region aligned on its own (the paper's per-region tables)."""
    mask = labelled(target, mask)
    out = {}
    for k, idx in regions.items():
        idx = list(idx)
        out[k] = masked_mean(p_mpjpe_errors(pred[:, idx], target[:, idx], mask[:, idx]), mask[:, idx], missing,
                             f"P-MPJPE region {k}")
    return out
