"""``simspine demo``: the whole product on the embedded default, the synthetic twin.

Creates the twin when absent, reads it back through the Human3.6M and release readers, checks the round
trip against ground truth, and writes a PNG of one frame's 37-point skeleton with the spine regions.
Later stages (dataset, simulation, models, leaderboard) extend this function; it ends with the validity
study (`simspine analyze`) of the simulated test subject, written under ``<out>/analysis``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.geometry import project
from simspine_hub.io import h36m, release
from simspine_hub.twin.generator import TwinConfig, ensure_twin, load_ground_truth

log = logging.getLogger(__name__)


@dataclass
class RoundTrip:
    """Worst round-trip errors over the whole twin."""

    h36m_3d_max_abs_mm: float = 0.0          # D3_Positions vs ground truth (float32): bit-exact -> 0
    h36m_3d_bit_exact: bool = True
    h36m_2d_max_px: float = 0.0              # D2_Positions vs projecting D3 with the read cameras
    release_spine15_max_mm: float = 0.0      # TRC (raw layout) vs ground truth 15 spine points
    release_hdf5_max_mm: float = 0.0         # HDF5 form vs ground truth
    release_kinematics_max_deg: float = 0.0  # MOT vs ground-truth coordinates
    camera_toml_max_px: float = 0.0          # projection with TOML cameras vs built-in cameras
    sequences: int = 0
    frames: int = 0
    details: dict = field(default_factory=dict)


def check_round_trip(twin_root: Path, gt: dict) -> RoundTrip:
    """Read the twin through every reader and compare with its ground truth (:func:`load_ground_truth`)."""
    data = h36m.Human36M(twin_root / "h36m")
    raw = release.Release(twin_root / "simspine")
    hdf = release.Release(twin_root / "simspine.h5")
    rt = RoundTrip()
    for subject in data.subjects():
        cams = data.cameras(subject)
        toml_cams = raw.cameras(subject)
        for seq in data.sequences(subject):
            g = gt[f"{subject}/{seq.stem}"]
            j3 = data.read_3d(subject, seq.stem)
            rt.h36m_3d_bit_exact &= bool(np.array_equal(j3, g["h36m32"]))
            rt.h36m_3d_max_abs_mm = max(rt.h36m_3d_max_abs_mm, float(np.abs(j3 - g["h36m32"]).max()))
            for cam_id in data.views(seq):
                j2 = data.read_2d(subject, seq.stem, cam_id)
                err = np.linalg.norm(project(j3.astype(np.float64), cams[cam_id]) - j2, axis=-1).max()
                rt.h36m_2d_max_px = max(rt.h36m_2d_max_px, float(err))
                d = np.linalg.norm(project(g["keypoints37"], toml_cams[cam_id])
                                   - project(g["keypoints37"], cams[cam_id]), axis=-1).max()
                rt.camera_toml_max_px = max(rt.camera_toml_max_px, float(d))
            spine = g["keypoints37"][:, list(skeleton.SPINE15)]
            for reader, attr in ((raw, "release_spine15_max_mm"), (hdf, "release_hdf5_max_mm")):
                r = reader.read(subject, seq.stem)
                setattr(rt, attr, max(getattr(rt, attr), float(np.abs(r.markers - spine).max())))
            r = raw.read(subject, seq.stem)
            q = g["coordinates"]
            rot = skeleton.ROTATIONAL
            kin_err = np.abs(r.kinematics[:, rot] - np.rad2deg(q[:, rot])).max()
            rt.release_kinematics_max_deg = max(rt.release_kinematics_max_deg, float(kin_err))
            rt.sequences += 1
            rt.frames += len(j3)
    return rt


def run_demo(out: str | Path = "outputs/demo", config: TwinConfig | None = None, progress: bool = True) -> dict:
    """Run the demo; returns a dict of what it measured and wrote (also printed by the CLI)."""
    from simspine_hub.apps.viz import plot_skeleton_2d

    out = Path(out)
    twin_root = ensure_twin(out / "twin", config, progress=progress)
    gt_all = load_ground_truth(twin_root)
    rt = check_round_trip(twin_root, gt_all)
    data = h36m.Human36M(twin_root / "h36m")
    subject = data.subjects()[0]
    seq = data.sequences(subject)[0]
    cam_id = data.views(seq)[0]
    gt = gt_all[f"{subject}/{seq.stem}"]["keypoints37"]
    frame_idx = len(gt) // 2
    frame = next(img for i, img in data.iter_frames(subject, seq.stem, cam_id) if i == frame_idx)
    png = plot_skeleton_2d(project(gt[frame_idx], data.cameras(subject)[cam_id]), out / "skeleton.png",
                           image=frame, title=f"twin {subject} {seq.stem} cam {cam_id} frame {frame_idx}")
    dataset = check_dataset(twin_root, gt_all, out / "hf_cache")
    simulation = run_simulation(twin_root, out / "simulation", progress=progress)
    board = twin_leaderboard(twin_root, out)
    from simspine_hub.analysis.report import analyze

    analysis = analyze(out / "simulation", out / "analysis", label="twin, simulated S9", progress=progress)
    return {"twin": str(twin_root), "round_trip": rt, "skeleton_png": str(png), "dataset": dataset,
            "simulation": simulation, "leaderboard": board, "analysis": analysis}


def run_simulation(twin_root: Path, out: Path, subjects: tuple[str, ...] = ("S9",), progress: bool = True) -> str:
    """The simulation pipeline on the twin's simulated detections of the test subject; returns the report."""
    from simspine_hub.simulation.pipeline import simulate_capture
    from simspine_hub.twin.generator import write_detections
    from simspine_hub.twin.report import validate_against_twin

    if not (twin_root / "detections").is_dir():
        write_detections(twin_root)
    simulate_capture(twin_root / "h36m", twin_root / "detections", out, list(subjects), workers=2,
                     progress=progress)
    text, _ = validate_against_twin(twin_root, out, list(subjects))
    return text


def twin_leaderboard(twin_root: Path, out: Path) -> str:
    """Triangulation baselines on the twin's test split, scored by the leaderboard evaluation."""
    from simspine_hub.benchmark.baselines import triangulation_baseline
    from simspine_hub.benchmark.leaderboard import (
        evaluate,
        leaderboard_markdown,
        load_ground_truth,
        save_predictions,
        save_results,
    )
    from simspine_hub.io.files import write_text

    kw = {"h36m_root": str(twin_root / "h36m"), "annotations": str(twin_root / "simspine"),
          "cache_dir": str(out / "hf_cache")}
    gt2d, gt3d = load_ground_truth("2d", **kw), load_ground_truth("multiview", **kw)
    results = []
    for noise, name in ((0.0, "DLT triangulation, GT 2D (oracle)"), (2.0, "DLT triangulation, GT 2D + 2 px noise")):
        pred = triangulation_baseline(gt2d, kw["h36m_root"], noise_px=noise)
        tag = "oracle" if noise == 0 else "noisy"
        save_predictions(out / f"multiview_{tag}.npz", **pred)
        res = evaluate("multiview", out / f"multiview_{tag}.npz", gt3d, label=name, data_label="twin")
        save_results(out / f"multiview_{tag}.results.json", res)
        results.append(res)
    from simspine_hub.training.lifter import train_lifter

    # the paper's lifting recipe (simspine train lifter), cut to 150 steps of a 256-wide lifter (the recipe: 1024;
    # as accurate here, 3-4x faster) on every frame of the tiny twin's S1
    short = {"data": {"sample_hz": 50.0}, "model": {"hidden": 256},
             "training": {"report_to": [], "eval_strategy": "no", "save_strategy": "no"}}
    for config in ("full37", "spine15"):
        run = train_lifter(config, h36m_root=kw["h36m_root"], annotations=kw["annotations"],
                           out=out / "models" / f"lifter-{config}", max_steps=150, overrides=short,
                           cache_dir=kw["cache_dir"], progress=False,
                           model_name=f"SimpleBaseline3D {config} (GT 2D, width 256, 150 steps on S1)")
        save_results(out / f"lifting_lifter-{config}.results.json", run.result)
        results.append(run.result)
    md = leaderboard_markdown(results)
    write_text(out / "leaderboard.md", md)
    return md


def check_dataset(twin_root: Path, gt: dict, cache_dir: Path) -> dict:
    """Build spine15 and full37 from the twin with the real datasets builder; compare with ground truth."""
    from simspine_hub.dataset.builder import load_dataset

    kwargs = {"h36m_root": twin_root / "h36m", "annotations": twin_root / "simspine", "cache_dir": cache_dir}
    out = {}
    for name in ("spine15", "full37"):
        ds = load_dataset("simspine", name, **kwargs)
        out[f"{name}_rows"] = {split: d.num_rows for split, d in ds.items()}
        worst = 0.0
        for split in ds:
            d = ds[split].with_format("numpy")[:]
            kp, subj, seq, frame = d["keypoints_3d"], d["subject"], d["sequence"], d["frame"]
            ref = np.stack([gt[f"{s}/{q}"]["keypoints37"][f] for s, q, f in zip(subj, seq, frame)])
            if name == "spine15":
                ref = ref[:, list(skeleton.SPINE15)]
            worst = max(worst, float(np.nanmax(np.abs(kp - ref))))
        out[f"{name}_max_err_mm"] = worst
        if name == "full37":
            row = ds["train"][0]
            out["full37_sample"] = {k: row[k] for k in ("subject", "action", "subaction", "sequence", "frame",
                                                        "timestamp")}
            out["full37_sample"]["Spine_03_mm"] = [round(v, 2) for v in row["keypoints_3d"][28]]
            out["full37_sources"] = sorted({s for s in row["keypoints_source"]})
    return out
