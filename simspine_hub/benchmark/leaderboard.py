"""The leaderboard evaluation: one predictions format per task, strict validation, the paper's tables.

Predictions files are ``.npz`` (loaded with ``allow_pickle=False``) or ``.parquet`` with these columns:

==========  =========================================  ==============================================
task        keys (one row each)                        values
==========  =========================================  ==============================================
2d          subject, sequence, camera, frame           keypoints (N, 37, 2) px; optional scores (N,)
multiview   subject, sequence, frame                   keypoints (N, 37, 3) world mm (Z-up)
lifting     subject, sequence, camera, frame           keypoints (N, 15 or 37, 3) camera frame, mm,
                                                       root-relative (Hip at the origin)
angles      subject, sequence, frame                   kinematics (N, 62): degrees (rotations)
==========  =========================================  ==============================================

``sequence`` is the Human3.6M file stem (``"Walking 1"``), ``frame`` the 0-based frame index, 15-point
arrays follow :data:`simspine_hub.skeleton.SPINE15`, 37-point arrays the SpineTrack order.

Tables (the paper's layouts): 2D -> Table 2 (AUC, and OKS AP/AR on body B and spine S); multiview ->
Tables 3-4 (MPJPE and P-MPJPE per action x region); lifting -> Tables 5-6 (P-MPJPE of the 15 spine
joints per action; P-MPJPE and root-relative MPJPE per spine region). For P-MPJPE per region each region is
aligned on its own, as the paper's tables imply (S is larger than each of S_C, S_T, S_L). "Mean" rows
average over all frames. The paper's 2D AP values are on SpineTrack, so its reference rows show AUC only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.benchmark import metrics
from simspine_hub.geometry import world_to_camera
from simspine_hub.io import h36m
from simspine_hub.io.files import write_text

__all__ = ["TASKS", "PredictionsError", "read_predictions", "GroundTruth", "load_ground_truth", "evaluate",
           "format_table", "model_index", "leaderboard_markdown", "PAPER_REFERENCE", "save_predictions"]

TASKS = ("2d", "multiview", "lifting", "angles")
KEYS = {"2d": ("subject", "sequence", "camera", "frame"), "multiview": ("subject", "sequence", "frame"),
        "lifting": ("subject", "sequence", "camera", "frame"), "angles": ("subject", "sequence", "frame")}
MAIN_METRIC = {"2d": ("AUC", "higher"), "multiview": ("MPJPE", "lower"), "lifting": ("P-MPJPE", "lower"),
               "angles": ("MAE", "lower")}
REGION_COLS = tuple(metrics.PAPER_REGIONS)
SPINE_COLS = ("S_C", "S_T", "S_L", "S")

#: Numbers reported by the paper on Human3.6M (Tables 2-6); shown as reference rows, never as ours.
PAPER_REFERENCE = {
    "2d": [("SpinePose-s-ft", {"AUC": 0.790}), ("SpinePose-m-ft", {"AUC": 0.798}), ("SpinePose-l-ft", {"AUC": 0.803}),
           ("RTMPose-m", {"AUC": 0.794}), ("ViTPose-b", {"AUC": 0.794}), ("HRNet-w32", {"AUC": 0.769})],
    "multiview": [("Triangulation, GT 2D", {"MPJPE": 7.85, "P-MPJPE": 1.79}),
                  ("Triangulation, SpinePose-m-ft", {"MPJPE": 31.82, "P-MPJPE": 29.53}),
                  ("Triangulation, SpinePose-m zero-shot", {"MPJPE": 49.30, "P-MPJPE": 46.48})],
    "lifting": [("SimpleBaseline3D full-body, GT 2D", {"P-MPJPE": 13.48, "MPJPE": 25.94}),
                ("SimpleBaseline3D full-body, det. 2D", {"P-MPJPE": 16.28, "MPJPE": 67.39}),
                ("SimpleBaseline3D spine-only, GT 2D", {"P-MPJPE": 17.52, "MPJPE": 53.60}),
                ("SimpleBaseline3D spine-only, det. 2D", {"P-MPJPE": 18.58, "MPJPE": 67.70})],
    "angles": [],
}

ANGLE_GROUPS = {
    "lumbar": tuple(i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a.startswith(("L5", "L4", "L3", "L2", "L1", "Abs_r"))),
    "neck": tuple(i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a.startswith("neck")),
    "pelvis": tuple(i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a in ("pelvis_tilt", "pelvis_list", "pelvis_rotation")),
    "limbs": tuple(i for i, a in enumerate(skeleton.KINEMATIC_AXES) if a.startswith(
        ("hip_", "knee_", "ankle_", "subtalar_", "mtp_", "arm_", "elbow_", "pro_sup", "wrist_"))),
}


class PredictionsError(ValueError):
    """The predictions file does not match the task's format; the message lists every problem."""


def save_predictions(path: str | os.PathLike, **columns) -> Path:
    """Write a predictions ``.npz`` (no pickle: strings are stored as unicode arrays)."""
    from simspine_hub.io.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in columns.items()})
    return path


def read_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a predictions ``.npz`` or ``.parquet`` into {column: array}."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: predictions file not found")
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            out = {}
            for name in table.column_names:
                col = table.column(name).combine_chunks()
                arr = col
                shape = []
                while hasattr(arr, "flatten") and hasattr(arr.type, "list_size"):
                    shape.append(arr.type.list_size)
                    arr = arr.flatten()
                values = arr.to_numpy(zero_copy_only=False)
                out[name] = values.reshape(len(col), *shape) if shape else values
            return out
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except PredictionsError:
        raise
    except Exception as exc:
        raise PredictionsError(f"{path}: cannot read predictions ({exc}); write .npz with "
                               "simspine_hub.benchmark.leaderboard.save_predictions or a flat .parquet") from exc


@dataclass
class GroundTruth:
    """Ground truth of one task and split, as arrays aligned on ``keys`` (strings joined by '|')."""

    task: str
    keys: np.ndarray            # (N,) "subject|sequence[|camera]|frame"
    action: np.ndarray          # (N,) normalised action names
    target: np.ndarray          # (N, 37, D) or (N, 62)
    mask: np.ndarray            # (N, 37) or (N, 62) labelled
    bbox: np.ndarray | None = None  # (N, 4) xywh px (2D)


def _key(columns: dict, task: str) -> np.ndarray:
    parts = [np.asarray(columns[k]).astype(str) for k in KEYS[task]]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, "|"), p)
    return out


def load_ground_truth(task: str, split: str = "test", **dataset_kwargs) -> GroundTruth:
    """Build the ground truth of ``task`` on ``split`` with the dataset builder (``h36m_root=``, ``annotations=``)."""
    from simspine_hub.dataset.builder import load_dataset

    if task not in TASKS:
        raise ValueError(f"task {task!r} unknown; choose one of {TASKS}")
    config = "views2d" if task == "2d" else "full37"
    ds = load_dataset("simspine", config, split=split, **dataset_kwargs).with_format("numpy")[:]
    cols = {k: ds[k] for k in ("subject", "sequence", "frame", "action")}
    if task == "2d":
        cols["camera"] = ds["camera"]
        return GroundTruth(task, _key(cols, task), ds["action"], ds["keypoints_2d"].astype(np.float64),
                           ds["visibility"].astype(bool), ds["bbox"].astype(np.float64))
    if task == "angles":
        kin = ds["kinematics"].astype(np.float64)
        return GroundTruth(task, _key(cols, task), ds["action"], kin, np.isfinite(kin))
    pts = ds["keypoints_3d"].astype(np.float64)
    if task == "multiview":
        return GroundTruth(task, _key(cols, task), ds["action"], pts, np.isfinite(pts).all(-1))
    # lifting: one row per camera, camera frame, root-relative
    data = h36m.Human36M(dataset_kwargs["h36m_root"])
    keys, actions, targets = [], [], []
    for subject in np.unique(ds["subject"]):
        sel = ds["subject"] == subject
        cams = data.cameras(str(subject))
        for cam_id in h36m.CAMERA_IDS:
            cam_pts = metrics.root_relative(world_to_camera(pts[sel], cams[cam_id]))
            targets.append(cam_pts)
            actions.append(ds["action"][sel])
            keys.append(_key({**{k: v[sel] for k, v in cols.items()}, "camera": np.full(sel.sum(), cam_id)}, task))
    target = np.concatenate(targets)
    return GroundTruth(task, np.concatenate(keys), np.concatenate(actions), target, np.isfinite(target).all(-1))


def _align(pred: dict, gt: GroundTruth, source: str) -> dict[str, np.ndarray]:
    """Validate predictions against the ground truth keys; return arrays in ground-truth order."""
    task = gt.task
    problems = []
    value_col = "kinematics" if task == "angles" else "keypoints"
    required = set(KEYS[task]) | {value_col}
    missing_cols = sorted(required - set(pred))
    if missing_cols:
        raise PredictionsError(f"{source}: missing columns {missing_cols}; the {task} format needs "
                               f"{sorted(required)} (see simspine_hub.benchmark.leaderboard)")
    n = len(pred[value_col])
    for k in KEYS[task]:
        if len(pred[k]) != n:
            problems.append(f"column {k!r} has {len(pred[k])} rows, {value_col!r} has {n}")
    values = np.asarray(pred[value_col], dtype=np.float64)
    if task == "angles":
        shapes_ok = values.shape[1:] == (62,)
        want = "(N, 62)"
    elif task == "lifting":
        shapes_ok = values.ndim == 3 and values.shape[1:] in ((15, 3), (37, 3))
        want = "(N, 15, 3) or (N, 37, 3)"
    else:
        d = 2 if task == "2d" else 3
        shapes_ok = values.shape[1:] == (37, d)
        want = f"(N, 37, {d})"
    if not shapes_ok:
        problems.append(f"{value_col!r} has shape {values.shape}; expected {want}")
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems))
    keys = _key(pred, task)
    uniq, counts = np.unique(keys, return_counts=True)
    dup = uniq[counts > 1]
    order = {k: i for i, k in enumerate(keys)}
    missing = [k for k in gt.keys if k not in order]
    extra = sorted(set(keys) - set(gt.keys.tolist()))
    nan_rows = keys[~np.isfinite(values.reshape(n, -1)).all(1)]
    for label, items in (("duplicate keys", dup), ("missing keys", missing), ("unknown keys", extra),
                         ("rows with NaN", nan_rows)):
        if len(items):
            shown = ", ".join(map(str, list(items)[:5])) + (" ..." if len(items) > 5 else "")
            problems.append(f"{len(items)} {label} ({shown})")
    if problems:
        raise PredictionsError(f"{source}: " + "; ".join(problems) + f"; keys are {'|'.join(KEYS[task])}")
    idx = np.array([order[k] for k in gt.keys])
    out = {"values": values[idx]}
    if "scores" in pred:
        out["scores"] = np.asarray(pred["scores"], dtype=np.float64)[idx]
    return out


def _per_action(gt: GroundTruth, fn) -> dict[str, dict[str, float]]:
    out = {}
    for action in h36m.ACTIONS:
        sel = gt.action == action
        if sel.any():
            out[action] = fn(sel)
    out["Mean"] = fn(np.ones(len(gt.keys), bool))
    return out


def evaluate(task: str, predictions: dict | str | os.PathLike, gt: GroundTruth, label: str = "submission",
             data_label: str = "twin") -> dict:
    """Score predictions (a dict of columns or a file) against ``gt``; returns a JSON-able result dict."""
    source = str(predictions) if not isinstance(predictions, dict) else label
    pred = read_predictions(predictions) if not isinstance(predictions, dict) else predictions
    if task != gt.task:
        raise ValueError(f"ground truth is for task {gt.task!r}, not {task!r}")
    p = _align(pred, gt, source)
    res: dict = {"task": task, "model": label, "data": data_label, "frames": int(len(gt.keys))}
    if task == "multiview":
        err = metrics.joint_errors(p["values"], gt.target)
        res["MPJPE_table"] = _per_action(gt, lambda s: metrics.region_means(err[s], gt.mask[s]))
        res["P-MPJPE_table"] = _per_action(gt, lambda s: _pa_regions(p["values"][s], gt.target[s], gt.mask[s], REGION_COLS))
        res["MPJPE"] = res["MPJPE_table"]["Mean"]["All"]
        res["P-MPJPE"] = res["P-MPJPE_table"]["Mean"]["All"]
    elif task == "lifting":
        pred3d = p["values"]
        if pred3d.shape[1] == 37:
            pred3d = pred3d[:, list(skeleton.SPINE15)]
        tgt = gt.target[:, list(skeleton.SPINE15)]
        msk = gt.mask[:, list(skeleton.SPINE15)]
        pred3d = pred3d - pred3d[:, :1]                     # root-relative (Hip is first in SPINE15)
        spine_regions = {k: tuple(list(skeleton.SPINE15).index(i) for i in skeleton.REGIONS[r])
                         for k, r in (("S_C", "cervical"), ("S_T", "thoracic"), ("S_L", "lumbar"), ("S", "spine"))}
        pa = metrics.p_mpjpe_errors(pred3d, tgt, msk)
        res["P-MPJPE_by_action"] = {a: v["S"] for a, v in _per_action(
            gt, lambda s: metrics.region_means(pa[s], msk[s], {"S": spine_regions["S"]})).items()}
        res["regions"] = {
            "P-MPJPE": _pa_regions(pred3d, tgt, msk, spine_regions),
            "MPJPE": metrics.region_means(metrics.joint_errors(pred3d, tgt), msk, spine_regions)}
        res["P-MPJPE"] = res["P-MPJPE_by_action"]["Mean"]
        res["MPJPE"] = res["regions"]["MPJPE"]["S"]
    elif task == "2d":
        norm = np.minimum(gt.bbox[:, 2], gt.bbox[:, 3])
        res["AUC_by_action"] = {a: v for a, v in _per_action(
            gt, lambda s: metrics.pck_auc(p["values"][s], gt.target[s], norm[s], gt.mask[s])[0]).items()}
        res["AUC"] = res["AUC_by_action"]["Mean"]
        scores = p.get("scores", np.ones(len(gt.keys)))
        oks = metrics.oks_ap(p["values"], scores, gt.target, gt.mask.astype(int) * 2, gt.bbox,
                             subsets={"B": metrics.OKS_SUBSETS["body"], "S": metrics.OKS_SUBSETS["spine"]})
        res.update({"AP_B": oks["B"]["AP"], "AR_B": oks["B"]["AR"], "AP_S": oks["S"]["AP"], "AR_S": oks["S"]["AR"]})
    else:
        err = metrics.angle_errors(p["values"], gt.target)
        res["MAE_by_group"] = {g: float(err[:, list(idx)].mean()) for g, idx in ANGLE_GROUPS.items()}
        res["MAE"] = float(err[:, skeleton.ROTATIONAL].mean())
    return res


def _pa_regions(pred, target, mask, regions) -> dict[str, float]:
    """P-MPJPE per region, each region aligned on its own."""
    if isinstance(regions, tuple):
        regions = {k: metrics.PAPER_REGIONS[k] for k in regions}
    out = {}
    for k, idx in regions.items():
        idx = list(idx)
        out[k] = metrics._masked_mean(metrics.p_mpjpe_errors(pred[:, idx], target[:, idx], mask[:, idx]), mask[:, idx])
    return out


def format_table(res: dict) -> str:
    """The paper's table layout for one result, as markdown (numbers labelled with the data source)."""
    t, tag = res["task"], f"({res['data']} results, {res['frames']} frames)"
    lines = [f"### {res['model']} — {t} {tag}", ""]
    if t == "multiview":
        for name in ("MPJPE", "P-MPJPE"):
            lines += [f"**{name} (mm)**", "", "| Action | " + " | ".join(REGION_COLS) + " |",
                      "|---" * (len(REGION_COLS) + 1) + "|"]
            for action, row in res[f"{name}_table"].items():
                lines.append(f"| {action} | " + " | ".join(f"{row[c]:.2f}" for c in REGION_COLS) + " |")
            lines.append("")
    elif t == "lifting":
        acts = list(res["P-MPJPE_by_action"])
        lines += ["**P-MPJPE (mm), 15 spine joints**", "", "| " + " | ".join(acts) + " |", "|---" * len(acts) + "|",
                  "| " + " | ".join(f"{res['P-MPJPE_by_action'][a]:.2f}" for a in acts) + " |", "",
                  "| | " + " | ".join(SPINE_COLS) + " |", "|---" * 5 + "|"]
        for name in ("P-MPJPE", "MPJPE"):
            lines.append(f"| {name} | " + " | ".join(f"{res['regions'][name][c]:.2f}" for c in SPINE_COLS) + " |")
        lines.append("")
    elif t == "2d":
        lines += ["| AP^B | AR^B | AP^S | AR^S | AUC |", "|---|---|---|---|---|",
                  f"| {res['AP_B']:.3f} | {res['AR_B']:.3f} | {res['AP_S']:.3f} | {res['AR_S']:.3f} | {res['AUC']:.3f} |", ""]
    else:
        groups = list(res["MAE_by_group"])
        lines += ["| " + " | ".join(groups) + " | all rotations |", "|---" * (len(groups) + 1) + "|",
                  "| " + " | ".join(f"{res['MAE_by_group'][g]:.2f}" for g in groups) + f" | {res['MAE']:.2f} |", ""]
    return "\n".join(lines)


def model_index(res: dict, model_name: str | None = None) -> list[dict]:
    """``model-index`` entries for a model card (values from this evaluation, source named)."""
    name, t = model_name or res["model"], res["task"]
    keys = {"2d": ["AUC", "AP_B", "AP_S"], "multiview": ["MPJPE", "P-MPJPE"], "lifting": ["P-MPJPE", "MPJPE"],
            "angles": ["MAE"]}[t]
    task_type = {"2d": "keypoint-detection"}.get(t, "other")
    return [{"name": name, "results": [{
        "task": {"type": task_type, "name": f"SIMSPINE {t}"},
        "dataset": {"type": "simspine", "name": f"SIMSPINE ({res['data']})", "split": "test"},
        "metrics": [{"type": k.lower(), "name": k, "value": round(float(res[k]), 4), "verified": False} for k in keys],
        "source": {"name": f"simspine-hub evaluate ({res['data']} data)"}}]}]


def save_results(path: str | os.PathLike, res: dict) -> None:
    write_text(path, json.dumps(res, indent=2, sort_keys=True, default=float))


def leaderboard_markdown(results: list[dict], with_paper: bool = True) -> str:
    """Merge results into one markdown leaderboard per task, sorted by the task's main metric."""
    lines = ["# SIMSPINE leaderboard", ""]
    for task in TASKS:
        rows = [r for r in results if r["task"] == task]
        ref = PAPER_REFERENCE[task] if with_paper else []
        if not rows and not ref:
            continue
        metric, better = MAIN_METRIC[task]
        cols = {"2d": ["AUC", "AP_B", "AP_S"], "multiview": ["MPJPE", "P-MPJPE"], "lifting": ["P-MPJPE", "MPJPE"],
                "angles": ["MAE"]}[task]
        entries = [(r["model"], f"{r['data']} ({r['frames']} frames)", r) for r in rows]
        entries += [(n, "paper, Human3.6M (reported, reference only)", v) for n, v in ref]
        entries.sort(key=lambda e: (e[2].get(metric, np.inf if better == "lower" else -np.inf)) * (1 if better == "lower" else -1))
        lines += [f"## {task} (sorted by {metric}, {better} is better)", "",
                  "| # | method | data | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
        for i, (name, data, vals) in enumerate(entries, 1):
            cells = [f"{vals[c]:.3f}" if c in vals else "–" for c in cols]
            lines.append(f"| {i} | {name} | {data} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
