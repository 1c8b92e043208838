"""The paper's metrics, vectorised over frames and joints (numpy).

Shapes: 3D poses are (N, J, 3) in millimetres, 2D poses (N, J, 2) in pixels; masks are (N, J) booleans
(True = joint is labelled and counts). Functions return per-joint errors (N, J) where that helps the
per-region / per-action breakdowns; means ignore masked joints.

Protocols
    MPJPE       mean Euclidean distance per joint (mm), absolute, or root-relative with :func:`root_relative`.
    P-MPJPE     per-frame similarity Procrustes (scale, rotation with the reflection fix, translation) of the
                prediction onto the target, then MPJPE (as VideoPose3D's ``p_mpjpe``).
    N-MPJPE     per-frame optimal scale only (Rhodin et al.), then MPJPE.
    PCK / AUC   a joint is correct when its distance / the shorter side of the person box <= t; AUC is the
                mean PCK over the 20 thresholds t = 0.5 * i / 20, i = 0..19 (mmpose's ``keypoint_auc`` grid
                of 20 steps, scaled to the paper's range [0, 0.5]). With ``<=`` a perfect prediction
                scores AUC 1.0 (mmpose's strict ``<`` gives 0.95 because t = 0 never counts).
    OKS AP/AR   COCO keypoint AP/AR with the SpineTrack sigmas through pycocotools' COCOeval (``params.kpt_oks_sigmas``), on the
                SpinePose tools' subsets: body 0-16, feet 20-25, spine (the 9-point vertebral chain), all 37.
    Angles      mean absolute error in degrees on the 62 kinematic axes, wrapped to [-180, 180).
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import quiet_stdout

__all__ = ["joint_errors", "mpjpe", "root_relative", "procrustes_align", "p_mpjpe_errors", "n_mpjpe_errors",
           "pck", "pck_auc", "AUC_THRESHOLDS", "oks_ap", "OKS_SUBSETS", "angle_errors", "region_means", "PAPER_REGIONS"]

AUC_THRESHOLDS = 0.5 * np.arange(20) / 20
OKS_SUBSETS = {"body": tuple(range(17)), "feet": tuple(range(20, 26)),
               "spine": (36, 35, 18, 30, 29, 28, 27, 26, 19), "all": tuple(range(37))}


def _check(pred: np.ndarray, target: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != dims:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} must both be (N, J, {dims})")
    return pred, target


def joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, J, D) x2 -> (N, J) Euclidean distances (same unit as the input)."""
    pred, target = _check(pred, target, np.shape(pred)[-1])
    d = pred - target
    return np.sqrt(np.einsum("...i,...i->...", d, d))


def _masked_mean(err: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is None:
        return float(np.nanmean(err))
    mask = np.asarray(mask, dtype=bool) & np.isfinite(err)
    return float(err[mask].mean()) if mask.any() else float("nan")


def mpjpe(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint position error (mm) over labelled joints."""
    return _masked_mean(joint_errors(pred, target), mask)


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

    Only joints where ``mask`` (N, J) is True drive the fit; the transform is applied to all joints. The
    rotation is a proper rotation (reflections are fixed by flipping the smallest singular direction).
    """
    pred, target = _check(pred, target, 3)
    finite = np.isfinite(pred).all(-1) & np.isfinite(target).all(-1)            # (N, J)
    if mask is None and finite.all():                                            # fast path: no weights
        w = None
        mu_p, mu_t = pred.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
        P, T = pred - mu_p, target - mu_t
        WP = P
    else:
        w = finite if mask is None else finite & np.asarray(mask, dtype=bool)
        w = w.astype(np.float64)
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
    """(N, J) per-joint errors after per-frame similarity Procrustes alignment (mm)."""
    pred, target = _check(pred, target, 3)
    out = np.empty(pred.shape[:2])
    for a in range(0, len(pred), CHUNK):
        sl = slice(a, a + CHUNK)
        out[sl] = joint_errors(_procrustes_block(pred[sl], target[sl], None if mask is None else np.asarray(mask)[sl]),
                               target[sl])
    return out


def n_mpjpe_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, J) per-joint errors after the per-frame least-squares scale of ``pred`` (mm)."""
    pred, target = _check(pred, target, 3)
    w = np.ones(pred.shape[:2]) if mask is None else np.asarray(mask, dtype=np.float64)
    num = np.nansum(w[..., None] * pred * target, axis=(1, 2))
    den = np.maximum(np.nansum(w[..., None] * pred * pred, axis=(1, 2)), 1e-12)
    return joint_errors(pred * (num / den)[:, None, None], target)


def pck(pred: np.ndarray, target: np.ndarray, normalizer: np.ndarray, threshold: float,
        mask: np.ndarray | None = None) -> float:
    """Fraction of labelled joints with distance / normalizer <= threshold.

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
    if norm.shape[0] != pred.shape[0] or (norm <= 0).any():
        raise ValueError(f"normalizer must be ({pred.shape[0]},) positive pixels; got shape {norm.shape}")
    d = joint_errors(pred, target) / norm                                       # (N, J)
    m = np.ones(d.shape, bool) if mask is None else np.asarray(mask, bool)
    m = m & np.isfinite(target).all(-1)
    d = np.where(np.isfinite(d), d, np.inf)[m]                                  # unlabelled out, NaN preds wrong
    thresholds = np.asarray(thresholds, dtype=np.float64)
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
        pred: (N, J, 2) predicted pixels, one instance per image; scores: (N,) instance scores.
        target: (N, J, 2) ground-truth pixels; visibility: (N, J) 0 unlabelled, 1/2 labelled.
        boxes: (N, 4) ground-truth ``[x, y, w, h]`` pixels; the object area is ``w * h``.
    Returns:
        {subset: {"AP", "AP50", "AP75", "AR", "AR50", "AR75"}}.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    pred, target = _check(pred, target, 2)
    subsets = subsets or OKS_SUBSETS
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, idx in subsets.items():
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
                pk = np.concatenate([np.nan_to_num(pred[i][idx], nan=-1e6), np.ones((len(idx), 1))], 1)
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
    """(N, A) x2 angles in degrees -> (N, A) absolute differences wrapped to [0, 180]."""
    d = (np.asarray(pred_deg, np.float64) - np.asarray(target_deg, np.float64) + 180.0) % 360.0 - 180.0
    return np.abs(d)


#: The paper's region columns (Tables 3-6) -> SpineTrack ids.
PAPER_REGIONS = {"S_C": skeleton.REGIONS["cervical"], "S_T": skeleton.REGIONS["thoracic"],
                 "S_L": skeleton.REGIONS["lumbar"], "S": skeleton.REGIONS["spine"],
                 "B": skeleton.REGIONS["body"], "All": skeleton.REGIONS["all"]}


def region_means(errors: np.ndarray, mask: np.ndarray | None = None,
                 regions: dict[str, tuple[int, ...]] | None = None) -> dict[str, float]:
    """(N, J) per-joint errors -> {region: mean} for the paper's columns S_C, S_T, S_L, S, B, All."""
    regions = regions or PAPER_REGIONS
    m = np.ones(errors.shape, bool) if mask is None else np.asarray(mask, bool)
    return {k: _masked_mean(errors[:, list(v)], m[:, list(v)]) for k, v in regions.items()
            if max(v) < errors.shape[1]}
