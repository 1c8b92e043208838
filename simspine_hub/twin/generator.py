"""The synthetic twin: a small, deterministic world in the exact on-disk layouts real users have.

Motions are smooth parametric trajectories of the paper's 62 model coordinates, driven through the real
OpenSim model (coupled lumbar coordinates set from the couplers, so the constraints hold exactly). Forward
kinematics gives the 37 SIMSPINE markers and Human3.6M's 32 joints as virtual markers on the same model.
The feet are kept on the floor by shifting ``pelvis_ty`` per frame.

Written under ``out``::

    h36m/S*/MyPoseFeatures/D3_Positions/*.cdf, D2_Positions/*.<cam>.cdf, Videos/*.<cam>.mp4
    h36m/camera-parameters.json           the built-in calibration in karfly's format
    h3wb/h3wb_train.npz                   H3WB-style whole-body 3D (train subjects, every 4th frame)
    simspine/                             SIMSPINE raw release layout (15 spine points + 62 axes)
    simspine.h5                           the same release in HDF5 form
    ground_truth.npz                      everything: 37 points, 32 joints, coordinates (no pickle)
    twin.json                             manifest (config, subjects, sequences, scales)

Same config and seed -> byte-identical files. Videos hold two frames more than the mocap, as the real
Human3.6M videos often do.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub import skeleton
from simspine_hub.geometry import project
from simspine_hub.io import h36m, release
from simspine_hub.io.files import atomic_path, write_text
from simspine_hub.twin.motions import MOTIONS, motion_coordinates
from simspine_hub.twin.render import write_video
from simspine_hub.units import kinematics_to_degrees, yup_m_to_zup_mm

__all__ = ["TwinConfig", "SUBJECT_BODIES", "MOTIONS", "generate_twin", "ensure_twin", "load_ground_truth",
           "sequence_stem", "VIDEO_EXTRA_FRAMES"]

VIDEO_EXTRA_FRAMES = 2
_PELVIS_TY = skeleton.KINEMATIC_AXES.index("pelvis_ty")
TWIN_VERSION = 5   # 5: people rendered as shaded body volumes (no keypoint dots)

#: Per-subject body: uniform scale of the generic model and total mass (kg).
SUBJECT_BODIES = {"S1": (0.96, 62.0), "S5": (0.98, 58.0), "S6": (1.03, 85.0), "S7": (0.99, 70.0),
                  "S8": (1.02, 78.0), "S9": (1.05, 82.0), "S11": (1.01, 74.0)}

@dataclass
class TwinConfig:
    """What to generate. ``seconds`` per sequence at ``fps`` Hz; ``videos`` renders MP4s per camera."""

    subjects: tuple[str, ...] = ("S1", "S9")
    motions: tuple[str, ...] = tuple(MOTIONS)
    seconds: float = 1.5
    fps: float = h36m.FPS
    videos: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        self.subjects, self.motions = tuple(self.subjects), tuple(self.motions)
        bad = [s for s in self.subjects if s not in SUBJECT_BODIES]
        if bad:
            raise ValueError(f"subjects {bad} unknown; choose from {list(SUBJECT_BODIES)}")
        bad = [m for m in self.motions if m not in MOTIONS]
        if bad:
            raise ValueError(f"motions {bad} unknown; choose from {list(MOTIONS)}")
        if self.seconds <= 0 or self.fps <= 0:
            raise ValueError("seconds and fps must be positive")


def sequence_stem(subject: str, motion: str) -> str:
    """Human3.6M file stem of a twin sequence; S1 keeps the real S1 spelling quirk (``TakingPhoto``)."""
    action = MOTIONS[motion]
    if subject == "S1" and action == "Photo":
        action = "TakingPhoto"
    return f"{action} 1"


# --- generation -----------------------------------------------------------------------------------------------
def _subject_seed(seed: int, subject: str, motion: str) -> np.random.Generator:
    key = [seed, int(subject[1:]), list(MOTIONS).index(motion)]
    return np.random.default_rng(key)


def generate_twin(out: str | os.PathLike, config: TwinConfig | None = None, progress: bool = True) -> Path:
    """Generate the twin under ``out`` (replaced if present); returns ``out``.

    The whole tree is built in a temporary sibling folder and renamed at the end, so an interrupted run
    leaves nothing half-written.
    """
    from simspine_hub.osim.model import H36M_MARKERS, SIMSPINE_MARKERS, SpineModel

    config = config or TwinConfig()
    out = Path(out)
    with atomic_path(out) as tmp:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        rel = tmp / "simspine"
        gt: dict[str, np.ndarray] = {}
        h3wb: dict[str, dict] = {}
        manifest = {"version": TWIN_VERSION, "config": asdict(config), "subjects": {}}
        h36m_names = ["h36m:" + n for n in skeleton.H36M_JOINT_NAMES]
        all_markers = {**SIMSPINE_MARKERS, **{"h36m:" + k: v for k, v in H36M_MARKERS.items()}}
        jobs = [(s, m) for s in config.subjects for m in config.motions]
        bar = tqdm(total=len(jobs), desc="twin", unit="seq", disable=not progress)
        for subject in config.subjects:
            factor, mass = SUBJECT_BODIES[subject]
            model = SpineModel(markers=all_markers)
            model.scale(factor, mass)
            model.save(rel / "models" / f"{subject}.osim")
            cams = h36m.builtin_cameras(subject)
            release.write_calibration_toml(rel / "cameras" / f"Calib_{subject}.toml", cams)
            q0 = model.default_pose
            q0[_PELVIS_TY] *= factor
            manifest["subjects"][subject] = {"scale": factor, "mass_kg": mass, "sequences": []}
            n = int(round(config.seconds * config.fps))
            t = np.arange(n) / config.fps
            feet = [model.marker_names.index(k) for k in ("LHeel", "RHeel", "LBigToe", "RBigToe",
                                                          "LSmallToe", "RSmallToe")]
            for motion in config.motions:
                stem = sequence_stem(subject, motion)
                q = model.apply_couplers(motion_coordinates(motion, t, q0, _subject_seed(config.seed, subject, motion), factor))
                ground = model.marker_positions(q)                        # (T, M, 3) m, Y-up
                lift = ground[:, feet, 1].min(axis=1) - 0.02 * factor     # feet on the floor
                q[:, _PELVIS_TY] -= lift
                ground[..., 1] -= lift[:, None]
                world = yup_m_to_zup_mm(ground)                       # mm, Z-up
                pts37 = world[:, [model.marker_names.index(nm) for nm in skeleton.KEYPOINT_NAMES]]
                j32 = world[:, [model.marker_names.index(nm) for nm in h36m_names]].astype(np.float32)
                _write_h36m(tmp / "h36m", subject, stem, j32, pts37, cams, config)
                _write_release_sequence(rel, subject, stem, t, q, ground, model)
                key = f"{subject}/{stem}"
                if subject in h36m.TRAIN_SUBJECTS:
                    h3wb.setdefault(subject, {})[stem] = _h3wb_record(pts37)
                gt[f"{key}/keypoints37"] = pts37
                gt[f"{key}/h36m32"] = j32
                gt[f"{key}/coordinates"] = q
                gt[f"{key}/timestamps"] = t
                manifest["subjects"][subject]["sequences"].append(stem)
                bar.update(1)
        bar.close()
        h36m.write_camera_json(tmp / "h36m" / "camera-parameters.json",
                               {s: h36m.builtin_cameras(s) for s in config.subjects})
        release.write_release_hdf5(tmp / "simspine.h5", release.Release(rel))
        if h3wb:
            with atomic_path(tmp / "h3wb" / "h3wb_train.npz") as f, open(f, "wb") as fh:
                np.savez(fh, train_data=np.array(h3wb, dtype=object))   # pickled dict, like the real file
        with atomic_path(tmp / "ground_truth.npz") as f, open(f, "wb") as fh:
            np.savez(fh, **gt)
        write_text(tmp / "twin.json", json.dumps(manifest, indent=2, sort_keys=True))
    return out


def _h3wb_record(pts37: np.ndarray, step: int = 4) -> dict:
    """H3WB-style record: COCO-WholeBody (133) world mm on every ``step``-th frame (body 0-16 = SpineTrack
    0-16, feet 17-22; face and hands left at zero, as unlabelled)."""
    frames = np.arange(0, len(pts37), step)
    g = np.zeros((len(frames), 133, 3))
    g[:, :17] = pts37[frames, :17]
    for st_id, wb_id in skeleton.H3WB_FEET.items():
        g[:, wb_id] = pts37[frames, st_id]
    return {"global_3d": g, "frame_id": frames}


def _write_h36m(root: Path, subject: str, stem: str, j32: np.ndarray, pts37: np.ndarray,
                cams: dict, config: TwinConfig) -> None:
    feats = root / subject / "MyPoseFeatures"
    (feats / "D3_Positions").mkdir(parents=True, exist_ok=True)
    (feats / "D2_Positions").mkdir(parents=True, exist_ok=True)
    h36m.write_pose_cdf(feats / "D3_Positions" / f"{stem}.cdf", j32)
    for cam_id, cam in cams.items():
        h36m.write_pose_cdf(feats / "D2_Positions" / f"{stem}.{cam_id}.cdf",
                            project(j32.astype(np.float64), cam))
        if config.videos:
            write_video(root / subject / "Videos" / f"{stem}.{cam_id}.mp4", pts37, cam, config.fps,
                        VIDEO_EXTRA_FRAMES, palette_key=subject)


def _write_release_sequence(rel: Path, subject: str, stem: str, t: np.ndarray, q: np.ndarray,
                            ground: np.ndarray, model) -> None:
    key = f"{subject}_{release.action_key(stem)}"
    names = [skeleton.KEYPOINT_NAMES[i] for i in skeleton.SPINE15]
    cols = [model.marker_names.index(n) for n in names]
    release.write_trc(rel / "positions" / subject / f"{key}.trc", names, ground[:, cols], 1.0 / (t[1] - t[0]) if len(t) > 1 else 50.0)
    kin = kinematics_to_degrees(q)
    kdir = rel / "kinematics" / subject / key
    release.write_mot(kdir / f"{key}.mot", t, kin)
    zeros = np.zeros((len(t), 3))
    release.write_sto(kdir / "_ik_marker_errors.sto", "IK marker errors",
                      ["total_squared_error", "marker_error_RMS", "marker_error_max"], t, zeros)
    loc_cols = [f"{n}_{a}" for n in names for a in ("tx", "ty", "tz")]
    release.write_sto(kdir / "_ik_model_marker_locations.sto", "Model marker locations", loc_cols, t,
                      ground[:, cols].reshape(len(t), -1))


def ensure_twin(out: str | os.PathLike, config: TwinConfig | None = None, progress: bool = True) -> Path:
    """Return ``out``, generating the twin first when it is absent or made by another config."""
    out = Path(out)
    config = config or TwinConfig()
    manifest = out / "twin.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        if m.get("version") == TWIN_VERSION and m.get("config") == json.loads(json.dumps(asdict(config))):
            return out
    return generate_twin(out, config, progress)


def load_ground_truth(twin_root: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read ``ground_truth.npz`` -> {"S1/Walking 1": {keypoints37 (T,37,3) mm, h36m32 (T,32,3) mm,
    coordinates (T,62) rad/m, timestamps (T,) s}}."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(Path(twin_root) / "ground_truth.npz", allow_pickle=False) as z:
        for k in z.files:
            seq, field_ = k.rsplit("/", 1)
            out.setdefault(seq, {})[field_] = z[k]
    return out


def write_detections(twin_root: str | os.PathLike, noise_px: float = 2.0, outlier_rate: float = 0.1,
                     seed: int = 0, split_subjects: tuple[str, ...] | None = None) -> Path:
    """Simulate a 2D detector on the twin: projections of the true 37 points with Gaussian noise
    (``noise_px`` per coordinate) and gross outliers (``outlier_rate`` of the points moved 40-150 px).

    Writes ``<twin>/detections/<S>/<stem>.<camera>.npz`` (see :mod:`simspine_hub.io.detections`);
    scores are uniform in [0.5, 1] and unrelated to the outliers (a detector that does not know).
    """
    from simspine_hub.io.detections import write_detections_npz

    twin_root = Path(twin_root)
    gt = load_ground_truth(twin_root)
    out = twin_root / "detections"
    for key in sorted(gt):
        subject, stem = key.split("/")
        if split_subjects is not None and subject not in split_subjects:
            continue
        cams = h36m.builtin_cameras(subject)
        for cam_id, cam in cams.items():
            rng = np.random.default_rng([seed, int(subject[1:]), sum(map(ord, stem)), int(cam_id)])
            uv = project(gt[key]["keypoints37"], cam)
            uv = uv + rng.normal(scale=noise_px, size=uv.shape)
            bad = rng.random(uv.shape[:-1]) < outlier_rate
            uv[bad] += rng.uniform(40, 150, size=(bad.sum(), 2)) * rng.choice([-1, 1], size=(bad.sum(), 2))
            scores = rng.uniform(0.5, 1.0, size=uv.shape[:-1])
            w, h = cam.size
            scores[(uv[..., 0] < 0) | (uv[..., 0] >= w) | (uv[..., 1] < 0) | (uv[..., 1] >= h)] = 0.0
            write_detections_npz(out / subject / f"{stem}.{cam_id}.npz", uv, scores)
    return out
