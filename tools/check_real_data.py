"""Check simspine-hub's readers and cameras against real public files, and print every figure.

    python tools/check_real_data.py PATH          # PATH laid out like ../shared/real (see its SOURCES.md)
    python tools/check_real_data.py PATH --only cameras_mmpose projection_mmpose

PATH holds small public files that this project did not write:

    mmpose/cameras.pkl, h36m_coco.json, test_h36m_body3d.npz   (open-mmlab/mmpose tests/data/h36m)
    karfly/camera-parameters.json                              (karfly/human36m-camera-parameters)
    h36m_metadata/metadata_xml_mapping.json                    (metadata.xml's stem table, public dump)
    vp3d/h36m_cameras.json                                     (VideoPose3D common/h36m_dataset.py values)
    pose2sim/S00_Demo_Session/..., pose2sim/calibs/*.toml*     (perfanalytics/pose2sim demo data)

One function per check; each prints its figures with the limit it is held to and returns True when all
of them pass. Exit status 1 when any check fails. Pose2Sim is imported here (tools only) as the reference
for its own TOML and TRC formats. ``cameras.pkl`` is read with a numpy-only unpickler that refuses every
other global: never a general pickle load.

Conventions stated once: distortion vectors are ``[k1, k2, p1, p2, k3]`` in karfly's and mmpose's order
(mmpose ``p = [p1, p2]``); VideoPose3D's ``tangential_distortion`` is ``[p2, p1]`` in that naming (its
``project_to_2d`` pairs them that way); the Human3.6M model's tangential terms are
``x: p1*x*y + p2*(r^2 + x^2)``, ``y: p2*x*y + p1*(r^2 + y^2)`` (see ``simspine_hub.geometry``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from simspine_hub.geometry import Camera, project, world_to_camera
from simspine_hub.io import h36m
from simspine_hub.units import MM_PER_M, yup_to_zup

POSE2SIM_TRIAL = Path("pose2sim/S00_Demo_Session/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial")
POSE2SIM_CALIB = Path("pose2sim/S00_Demo_Session/S00_Calibration/Calib_qualisys.toml")


def _report(label: str, value: float, limit: float, unit: str) -> bool:
    ok = bool(np.isfinite(value) and value <= limit)
    print(f"  {label:<62} {value:11.3g} {unit:<4} (limit {limit:g})  {'ok' if ok else 'FAIL'}")
    return ok


# --- cameras --------------------------------------------------------------------------------------------
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global raises UnpicklingError."""

    def find_class(self, module: str, name: str):
        allowed = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                   ("numpy._core.multiarray", "_reconstruct")}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing global {module}.{name} (numpy arrays only)")
        if name == "_reconstruct":
            return importlib.import_module("numpy._core.multiarray")._reconstruct
        return getattr(np, name)


def load_mmpose_cameras(path: Path) -> dict[tuple[str, str], dict]:
    """mmpose's cameras.pkl -> {(subject, camera id): {R, T, f, c, k, p, w, h}} (numpy-only unpickler)."""
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(f).load()


def _mmpose_to_camera(cam_id: str, p: dict) -> Camera:
    """mmpose SimpleCamera convention: ``R`` camera-to-world (rows as world axes), ``T`` centre in metres."""
    R = np.asarray(p["R"]).T                                   # world -> camera
    centre_mm = np.asarray(p["T"]).reshape(3) * MM_PER_M
    f, c = np.asarray(p["f"]).ravel(), np.asarray(p["c"]).ravel()
    K = np.array([[f[0], 0, c[0]], [0, f[1], c[1]], [0, 0, 1.0]])
    k, tan = np.asarray(p["k"]).ravel(), np.asarray(p["p"]).ravel()     # k = [k1, k2, k3], p = [p1, p2]
    dist = [k[0], k[1], tan[0], tan[1], k[2]]
    return Camera(cam_id, K, dist, R, -R @ centre_mm, (int(p["w"]), int(p["h"])), "h36m")


def _camera_deltas(a: Camera, b: Camera) -> tuple[float, float, float, float]:
    """max |dR|, max |d centre| mm, max |dK| px, max |d dist| between two cameras."""
    return (float(np.abs(a.R - b.R).max()), float(np.abs(a.center - b.center).max()),
            float(np.abs(a.K - b.K).max()), float(np.abs(a.dist - b.dist).max()))


def _compare_sets(label: str, ours: dict, theirs: dict, limits: tuple[float, float, float, float]) -> bool:
    worst = np.zeros(4)
    for key in theirs:
        worst = np.maximum(worst, _camera_deltas(ours[key], theirs[key]))
    names = ("rotation matrix entries", "camera centre", "intrinsic matrix K", "distortion [k1,k2,p1,p2,k3]")
    units = ("", "mm", "px", "")
    print(f"  {label}: {len(theirs)} cameras")
    return all([_report(n, w, lim, u) for n, w, lim, u in zip(names, worst, limits, units)])


def check_cameras_mmpose(root: Path) -> bool:
    """Built-in cameras (karfly intrinsics + VideoPose3D extrinsics) vs mmpose's cameras.pkl (metadata.xml)."""
    raw = load_mmpose_cameras(root / "mmpose" / "cameras.pkl")
    theirs, ours = {}, {}
    for (subject, cam_id), p in raw.items():
        if subject in h36m.SUBJECTS:
            theirs[(subject, cam_id)] = _mmpose_to_camera(cam_id, p)
            ours[(subject, cam_id)] = h36m.builtin_cameras(subject)[cam_id]
    # VideoPose3D stores extrinsics as float32 (quaternion, centre in mm): ~1e-7 rotation, ~1e-3 mm.
    return _compare_sets("built-in vs mmpose cameras.pkl", ours, theirs, (1e-6, 2e-3, 1e-6, 1e-9))


def check_cameras_karfly(root: Path) -> bool:
    """Built-in cameras vs karfly's camera-parameters.json, read by :func:`h36m.read_camera_json`."""
    karfly = h36m.read_camera_json(root / "karfly" / "camera-parameters.json")
    theirs = {(s, c): cam for s, cams in karfly.items() if s in h36m.SUBJECTS for c, cam in cams.items()}
    ours = {(s, c): h36m.builtin_cameras(s)[c] for s, c in theirs}
    ok = _compare_sets("built-in vs karfly camera-parameters.json", ours, theirs, (1e-6, 2e-3, 1e-9, 1e-12))
    sizes = {c: cam.size for (_, c), cam in theirs.items()}
    print(f"  image sizes (w, h) assumed for karfly's file: {sizes}")
    return ok


def check_cameras_vp3d(root: Path) -> bool:
    """Built-in cameras vs VideoPose3D's hard-coded values; its tangential pair is [p2, p1]."""
    vp3d = json.loads((root / "vp3d" / "h36m_cameras.json").read_text())
    intr = {c["id"]: c for c in vp3d["h36m_cameras_intrinsic_params"]}
    d_f = d_c = d_k = d_swapped = d_naive = d_rot = d_centre = 0.0
    for subject in h36m.SUBJECTS:
        ours = h36m.builtin_cameras(subject)
        for cam_id, ext in zip(h36m.CAMERA_IDS, vp3d["h36m_cameras_extrinsic_params"][subject]):
            c, i = ours[cam_id], intr[cam_id]
            d_f = max(d_f, np.abs(np.diag(c.K)[:2] - i["focal_length"]).max())
            d_c = max(d_c, np.abs(c.K[:2, 2] - i["center"]).max())
            d_k = max(d_k, np.abs(c.dist[[0, 1, 4]] - i["radial_distortion"]).max())
            p2, p1 = i["tangential_distortion"]
            d_swapped = max(d_swapped, np.abs(c.dist[2:4] - [p1, p2]).max())
            d_naive = max(d_naive, np.abs(c.dist[2:4] - i["tangential_distortion"]).max())
            R = Rotation.from_quat(ext["orientation"], scalar_first=True).as_matrix().T
            d_rot = max(d_rot, np.abs(c.R - R).max())
            d_centre = max(d_centre, np.abs(c.center - ext["translation"]).max())
    print(f"  built-in vs VideoPose3D values: {len(h36m.SUBJECTS)} subjects x 4 cameras (float32 source)")
    return all([_report("focal length", d_f, 1e-3, "px"), _report("principal point", d_c, 1e-3, "px"),
                _report("radial [k1, k2, k3]", d_k, 1e-7, ""),
                _report("tangential, VideoPose3D read as [p2, p1]", d_swapped, 1e-7, ""),
                _report("rotation matrix entries (camera-to-world quaternion)", d_rot, 1e-6, ""),
                _report("camera centre", d_centre, 1e-9, "mm")]) and \
        _note(f"  (read naively as [p1, p2] the tangential pair would be off by {d_naive:.3g})")


def _note(text: str) -> bool:
    print(text)
    return True


# --- projection of the real 3D against the real 2D ------------------------------------------------------
def _parse_mmpose_name(name: str) -> tuple[str, str, str, int]:
    """``S1_Directions_1.54138969_000001.jpg`` -> (subject, release key, camera, 1-based index)."""
    base = Path(name).name[:-len(".jpg")]
    prefix, index = base.rsplit("_", 1)
    seq, camera = prefix.rsplit(".", 1)
    subject, key = seq.split("_", 1)
    return subject, key, camera, int(index)


def check_projection_mmpose(root: Path) -> bool:
    """Project mmpose's 4 real world-3D poses with the built-in cameras and compare with the real 2D."""
    coco = json.loads((root / "mmpose" / "h36m_coco.json").read_text())
    npz = np.load(root / "mmpose" / "test_h36m_body3d.npz", allow_pickle=False)
    images = {im["id"]: im for im in coco["images"]}
    err_h36m = err_cv = err_cam = 0.0
    for ann in coco["annotations"]:
        name = images[ann["image_id"]]["file_name"]
        subject, _, cam_id, _ = _parse_mmpose_name(name)
        world_mm = np.asarray(ann["keypoints_3d"]).reshape(-1, 4)[:, :3] * MM_PER_M
        uv = np.asarray(ann["keypoints"]).reshape(-1, 3)[:, :2]
        cam = h36m.builtin_cameras(subject)[cam_id]
        cv = Camera(cam.name, cam.K, cam.dist, cam.R, cam.t, cam.size, "opencv")
        err_h36m = max(err_h36m, np.linalg.norm(project(world_mm, cam) - uv, axis=-1).max())
        err_cv = max(err_cv, np.linalg.norm(project(world_mm, cv) - uv, axis=-1).max())
        row = [i for i, n in enumerate(npz["imgname"]) if Path(str(n)).name == name]
        if row:
            cam3d = npz["S"][row[0], :, :3] * MM_PER_M               # camera frame, metres -> mm
            err_cam = max(err_cam, np.linalg.norm(world_to_camera(world_mm, cam) - cam3d, axis=-1).max())
    print(f"  {len(coco['annotations'])} real frames x 17 joints (h36m_coco.json world 3D -> 2D)")
    ok = _report("reprojection, Human3.6M distortion model", err_h36m, 1e-3, "px")
    ok &= _report("world -> camera frame vs test_h36m_body3d.npz S", err_cam, 1e-2, "mm")
    return ok and _note(f"  (with OpenCV's tangential terms instead the error would be {err_cv:.3g} px)")


def check_image_names_mmpose(root: Path) -> bool:
    """mmpose's 4 real image names: the 'mmpose' naming reproduces them from the 0-based frame index."""
    coco = json.loads((root / "mmpose" / "h36m_coco.json").read_text())
    npz = np.load(root / "mmpose" / "test_h36m_body3d.npz", allow_pickle=False)
    names = [im["file_name"] for im in coco["images"]]
    rel_paths = {Path(str(n)).name: str(n) for n in npz["imgname"]}
    bad = 0
    for name in names:
        subject, key, cam_id, index = _parse_mmpose_name(name)
        frame = index - 1                                          # mmpose names frame i as i + 1
        stem = key.replace("_", " ")
        got = h36m.image_names(subject, stem, cam_id, np.array([frame]), naming="mmpose")[0]
        want = rel_paths.get(name, name)
        print(f"  {want}: frame {frame} -> {got}")
        bad += got != want
    return _report("names not reproduced", bad, 0, "")


def check_h36m_sequence_names(root: Path) -> bool:
    """Every stem of metadata.xml's mapping parses; the S11 broken view hits only the stem 'Directions'."""
    mapping = json.loads((root / "h36m_metadata" / "metadata_xml_mapping.json").read_text())
    stems = [(s, stem) for s in h36m.SUBJECTS for stem in mapping[s].values() if not stem.startswith("_ALL")]
    bad = 0
    for _, stem in stems:
        try:
            h36m.parse_sequence_name(stem)
        except ValueError:
            bad += 1
    views = {stem: len(h36m.usable_cameras("S11", stem)) for s, stem in stems if s == "S11" and "Directions" in stem}
    print(f"  {len(stems)} sequence stems of the 7 subjects; S11 usable views: {views}")
    ok = _report("stems that do not parse", bad, 0, "")
    return ok & _report("S11 views dropped outside the stem 'Directions'",
                        sum(4 - n for stem, n in views.items() if stem != "Directions"), 0, "")


# --- Pose2Sim formats -----------------------------------------------------------------------------------
def _pose2sim_common():
    import logging

    logging.getLogger().setLevel(logging.ERROR)        # Pose2Sim logs a GUI-backend warning on import
    return importlib.import_module("Pose2Sim.common")


def _calibration_files(root: Path) -> list[Path]:
    files = [root / POSE2SIM_CALIB] + sorted((root / "pose2sim" / "calibs").glob("*.toml*"))
    return [f for f in files if f.is_file()]


def check_pose2sim_calibration(root: Path) -> bool:
    """Our TOML reader vs Pose2Sim's ``retrieve_calib_params`` and OpenCV projection, per real calibration."""
    import cv2

    from simspine_hub.io.calibration import read_calibration_toml

    common = _pose2sim_common()
    trc = sorted((root / POSE2SIM_TRIAL / "pose-3d").glob("*.trc"))
    _, _, _, pts_yup, _ = _read_trc_pose2sim(common, trc[0]) if trc else (None, None, None, None, None)
    points = yup_to_zup(pts_yup.reshape(-1, 3)) if pts_yup is not None else np.random.default_rng(0).normal(size=(200, 3))
    ok = True
    for path in _calibration_files(root):
        ours = list(read_calibration_toml(path, unit_scale=1.0).values())   # metres, as in the file
        ref = _pose2sim_calibration(common, path)
        d_k = d_d = d_r = d_t = d_uv = 0.0
        for cam, K, dist, rvec, t in zip(ours, ref["K"], ref["dist"], ref["R"], ref["T"]):
            d_k = max(d_k, np.abs(cam.K - K).max())
            d_d = max(d_d, np.abs(cam.dist[:len(dist)] - dist).max())
            d_r = max(d_r, np.abs(cam.R - cv2.Rodrigues(np.asarray(rvec, float))[0]).max())
            d_t = max(d_t, np.abs(cam.t - t).max())
            front = points[world_to_camera(points, cam)[:, 2] > 0.1]
            if len(front):
                uv_cv = cv2.projectPoints(front, np.asarray(rvec, float), np.asarray(t, float), K,
                                          np.asarray(dist, float))[0].reshape(-1, 2)
                d_uv = max(d_uv, np.abs(project(front, cam) - uv_cv).max())
        print(f"  {path.name}: {len(ours)} cameras")
        ok &= all([_report("K", d_k, 1e-12, "px"), _report("distortions", d_d, 1e-15, ""),
                   _report("rotation (Rodrigues -> matrix)", d_r, 1e-9, ""), _report("translation", d_t, 1e-15, "m"),
                   _report("projection vs cv2.projectPoints (real TRC points)", d_uv, 1e-6, "px")])
    return ok


def _pose2sim_calibration(common, path: Path) -> dict:
    """Pose2Sim's ``retrieve_calib_params`` (given a Path: rtoml reads a str as TOML text)."""
    try:
        return common.retrieve_calib_params(path)
    except Exception as exc:  # noqa: BLE001 - e.g. cv2.Rodrigues refuses the integer vectors of some files
        import rtoml

        print(f"  {path.name}: Pose2Sim's retrieve_calib_params fails ({type(exc).__name__}); reference = "
              "its rtoml values as float arrays")
        calib = rtoml.load(path)
        cams = [c for k, c in calib.items() if isinstance(c, dict) and k not in ("metadata", "capture_volume",
                                                                                   "charuco", "checkerboard")]
        return {key: [np.asarray(c[field], float) for c in cams] for key, field in
                (("K", "matrix"), ("dist", "distortions"), ("R", "rotation"), ("T", "translation"))}


def _read_trc_pose2sim(common, path: Path):
    data, frames, time, markers, _ = common.read_trc(str(path))
    return markers, np.asarray(frames), np.asarray(time), np.asarray(data, float).reshape(len(data), -1, 3), None


def check_pose2sim_trc(root: Path) -> bool:
    """Our TRC reader vs Pose2Sim's ``read_trc`` on Pose2Sim's own output files."""
    from simspine_hub.io.release import read_trc

    common = _pose2sim_common()
    ok = True
    for path in sorted((root / POSE2SIM_TRIAL / "pose-3d").glob("*.trc")):
        names, t, pos, units = read_trc(path)
        ref_names, _, ref_t, ref_pos, _ = _read_trc_pose2sim(common, path)
        print(f"  {path.name}: {len(names)} markers x {len(t)} frames, units {units}")
        ok &= _report("marker names differ", float(names != list(ref_names)), 0, "")
        ok &= _report("positions", float(np.nanmax(np.abs(pos - ref_pos))), 0, "m")
        ok &= _report("time", float(np.abs(t - ref_t).max()), 0, "s")
    return ok


def check_openpose_json(root: Path) -> bool:
    """Pose2Sim's associated OpenPose JSON (with ``{"people": [{}]}`` views) vs a plain JSON parse."""
    from simspine_hub.io.detections import read_openpose_json

    ok = True
    for folder in sorted((root / POSE2SIM_TRIAL / "pose-associated").glob("*_json")):
        files = sorted(folder.glob("*.json"))
        empty = sum(not json.loads(f.read_text()).get("people", [{}])[0] for f in files)
        first = json.loads(files[0].read_text())["people"][0]["pose_keypoints_2d"]
        kp, _ = read_openpose_json(folder, num_keypoints=len(first) // 3)
        missing = int((~np.isfinite(kp).any(axis=(1, 2))).sum())
        ref = np.asarray(first, float).reshape(-1, 3)
        print(f"  {folder.name}: {len(files)} frames, {empty} written as {{\"people\": [{{}}]}}")
        ok &= _report("frames read as missing minus empty-person files", abs(missing - empty), 0, "")
        ok &= _report("first frame keypoints vs JSON", float(np.abs(kp[0] - ref[:, :2]).max()), 0, "px")
    return ok


# --- triangulation on the real 4-camera capture ---------------------------------------------------------
def _pose2sim_best_cameras(root: Path, uv: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """Pose2Sim's ``triangulation_from_best_cameras`` per point, with its defaults (Pose2Sim Config.toml, [triangulation]:
    likelihood 0.3, reprojection 15 px, cameras dropped one at a time down to 2, no L/R swap, no
    undistortion) and its own projection matrices (metres) -> (T, J, 3) world mm, NaN where it fails."""
    common = _pose2sim_common()
    from Pose2Sim.triangulation import triangulation_from_best_cameras

    P = common.computeP(root / POSE2SIM_CALIB)
    config = {"triangulation": {"reproj_error_threshold_triangulation": 15, "min_cameras_for_triangulation": 2,
                                "handle_LR_swap": False, "undistort_points": False}}
    seen = sc >= 0.3                                          # Pose2Sim sets likelihoods below 0.3 to NaN
    x, y, lik = (np.where(seen, a, np.nan) for a in (uv[..., 0], uv[..., 1], sc))
    out = np.full(uv.shape[1:-1] + (3,), np.nan)
    for t, j in np.ndindex(out.shape[:2]):
        coords = np.array((x[:, t, j], y[:, t, j], lik[:, t, j]))
        out[t, j] = triangulation_from_best_cameras(config, coords, coords, P, None)[0]
    return out * MM_PER_M


def check_triangulation(root: Path) -> bool:
    """Our robust triangulation vs Pose2Sim's ``triangulation_from_best_cameras`` on the real 4-camera capture."""
    from anytree import PreOrderIter
    from Pose2Sim.skeletons import BODY_25B

    from simspine_hub.io.calibration import read_calibration_toml
    from simspine_hub.io.detections import read_openpose_json
    from simspine_hub.io.release import read_trc
    from simspine_hub.simulation.pipeline import SimulationConfig
    from simspine_hub.simulation.triangulation import reprojection_errors, triangulate_dlt, triangulate_robust

    trial = root / POSE2SIM_TRIAL
    cams = read_calibration_toml(root / POSE2SIM_CALIB)                  # world mm (file in metres)
    cameras = [cams[n] for n in sorted(cams)]                              # cam_01.. <-> cam01_json..
    folders = sorted((trial / "pose-associated").glob("cam*_json"))
    ids = {n.name: n.id for n in PreOrderIter(BODY_25B) if n.id is not None}
    trc = [f for f in sorted((trial / "pose-3d").glob("*.trc")) if "filt" not in f.name][0]   # unfiltered output
    names, _, trc_yup_m, _ = read_trc(trc)
    views = [read_openpose_json(f, num_keypoints=25) for f in folders]
    n = min(len(v[0]) for v in views)
    uv = np.stack([v[0][:n] for v in views])[:, :, [ids[m] for m in names]]  # (4, T, 21, 2) px
    sc = np.stack([v[1][:n] for v in views])[:, :, [ids[m] for m in names]]
    seen = np.isfinite(uv).all(-1) & (sc >= 0.3)
    theirs = _pose2sim_best_cameras(root, uv, sc)
    trc_mm = yup_to_zup(trc_yup_m) * MM_PER_M
    ok = _report("Pose2Sim rerun here vs its TRC (points it triangulated)",
                 float(np.nanmax(np.abs(theirs - trc_mm[:n]))), 1e-6, "mm")
    prune = SimulationConfig().prune_px
    ours = triangulate_robust(uv, cameras, sc, min_confidence=0.3, prune_px=prune).points
    dlt = triangulate_dlt(uv, cameras, np.where(seen, sc, 0.0))
    print(f"  {len(cameras)} cameras, {n} frames x {len(names)} markers (BODY_25B), views with a detection "
          f"(likelihood >= 0.3): {int(seen.sum())}; ours: prune_px {prune:g} (mean over a view set), Pose2Sim 15 px")
    figures = {}
    for label, pts in (("Pose2Sim", theirs), ("ours", ours), ("plain weighted DLT", dlt)):
        done = np.isfinite(pts).all(-1)
        err = reprojection_errors(pts, uv, cameras)[seen & done[None]]
        figures[label] = (done.mean(), np.median(err), np.percentile(err, 95))
        print(f"  {label:<20} triangulated {done.mean() * 100:5.1f} %   reprojection over views with a detection: "
              f"median {figures[label][1]:5.2f} px, p95 {figures[label][2]:5.2f} px")
    d = np.linalg.norm(ours - theirs, axis=-1)
    print(f"  ours vs Pose2Sim: median {np.nanmedian(d):.1f} mm, max {np.nanmax(d):.1f} mm; empty in ours only: "
          f"{int((np.isnan(d) & np.isfinite(theirs).all(-1)).sum())}, in Pose2Sim's only: "
          f"{int((np.isnan(d) & np.isfinite(ours).all(-1)).sum())}")
    (share, med, p95), (share_p, med_p, p95_p) = figures["ours"], figures["Pose2Sim"]
    ok &= _report("share triangulated: Pose2Sim's minus ours", share_p - share, 0, "")
    ok &= _report("median reprojection error, ours (limit: Pose2Sim's)", med, med_p, "px")
    ok &= _report("p95 reprojection error, ours (limit: Pose2Sim's)", p95, p95_p, "px")
    return ok


CHECKS = {
    "cameras_mmpose": check_cameras_mmpose,
    "cameras_karfly": check_cameras_karfly,
    "cameras_vp3d": check_cameras_vp3d,
    "projection_mmpose": check_projection_mmpose,
    "image_names_mmpose": check_image_names_mmpose,
    "h36m_sequence_names": check_h36m_sequence_names,
    "pose2sim_calibration": check_pose2sim_calibration,
    "pose2sim_trc": check_pose2sim_trc,
    "openpose_json": check_openpose_json,
    "triangulation": check_triangulation,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", type=Path, help="folder laid out like ../shared/real")
    p.add_argument("--only", nargs="+", choices=sorted(CHECKS), help="run only these checks")
    args = p.parse_args(argv)
    failed = []
    for name, check in CHECKS.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}: {check.__doc__.splitlines()[0]}")
        try:
            ok = check(args.path)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is reported, the others still run
            print(f"  ERROR {type(exc).__name__}: {exc}")
            ok = False
        if not ok:
            failed.append(name)
    print(f"\n{len(failed)} failed: {', '.join(failed)}" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
