"""The SIMSPINE dataset builder: a real ``datasets.ArrowBasedBuilder`` writing whole sequences as tables.

``datasets`` >= 4 no longer runs loading scripts, so :func:`load_dataset` instantiates
:class:`SimspineBuilder` itself (``download_and_prepare`` + ``as_dataset``, or ``as_streaming_dataset``).

Configs
    ``spine15``   the released 15 spine points (world mm, Z-up) and 62 kinematic axes; no Human3.6M needed.
    ``full37``    the 37 points in SpineTrack order: spine points from the release, 12 limb points from
                  Human3.6M's D3_Positions, face/feet points from H3WB on the frames it annotates
                  (``h3wb_root=``), else from forward kinematics of the released kinematics on the released
                  scaled model when it carries those markers, else masked (NaN, source ``missing``).
                  ``keypoints_source`` says which, per frame and point.
    ``views2d``   one row per frame and camera: 37 points projected with lens distortion, visibility,
                  person box, MMPose image name; ``decode_frames=True`` adds the video frame (JPEG).

Joining rule: when the release and Human3.6M disagree on a sequence's length, both are trimmed to the
shorter one with a warning (Human3.6M videos and mocap often differ by a few frames). A sequence on one
side only follows ``on_missing`` ("error", the default, "warn" or "skip").

Person box (``views2d``): the tight box of the visible projected keypoints, scaled by ``box_padding``
(1.25, MMPose's top-down padding) about its centre, as ``[x, y, w, h]`` pixels, not clipped to the image.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from simspine_hub import __version__, skeleton
from simspine_hub.geometry import project
from simspine_hub.io import h36m, release
from simspine_hub.units import kinematics_to_radians, yup_m_to_zup_mm

log = logging.getLogger(__name__)

__all__ = ["SimspineConfig", "SimspineBuilder", "load_dataset", "SOURCES", "features_for", "SimspineDataError"]

#: Values of ``keypoints_source``.
SOURCES = ("missing", "simspine", "human36m", "h3wb", "fk")
_SRC = {n: i for i, n in enumerate(SOURCES)}
CONFIG_NAMES = ("spine15", "full37", "views2d")


class SimspineDataError(ValueError):
    """Bad or inconsistent input to the builder; the message names the path and the fix."""


try:  # datasets >= 4
    from datasets import List as _List

    def _fixed(feature, n: int):
        return _List(feature, length=n)
except ImportError:  # pragma: no cover - datasets < 4
    def _fixed(feature, n: int):
        return datasets.Sequence(feature, length=n)

try:
    from datasets.builder import Key as _Key
except ImportError:  # pragma: no cover - datasets < 5
    def _Key(shard: int, batch: int):  # noqa: N802
        return f"{shard}_{batch}"


@dataclass
class SimspineConfig(datasets.BuilderConfig):
    """Builder configuration (paths as strings so that the config hashes stably).

    Attributes:
        h36m_root: Human3.6M root (``S1/MyPoseFeatures/...``); needed by ``full37`` and ``views2d``.
        annotations: the SIMSPINE release: raw folder, ``.h5`` file, parquet folder or hub dataset id.
        h3wb_root: H3WB's ``h3wb_train.npz`` (or its folder): face and feet points on the frames it annotates
            (sparse; other frames fall back to forward kinematics). Needs ``h3wb_allow_pickle=True``.
        train_subjects / test_subjects: the split protocol (default S1 S5 S6 S7 S8 / S9 S11).
        cameras: camera ids for ``views2d`` (default: all four).
        frame_stride: keep every n-th frame.
        decode_frames: ``views2d`` only: decode the frame from the Human3.6M video into ``image``.
        box_padding: person-box scale about its centre.
        on_missing: policy for a sequence found on one side only: "error", "warn" or "skip".
        face_feet: "fk" (forward kinematics on the released model, the default) or "mask".
    """

    h36m_root: str | None = None
    annotations: str | None = None
    h3wb_root: str | None = None
    h3wb_allow_pickle: bool = False
    train_subjects: tuple[str, ...] = h36m.TRAIN_SUBJECTS
    test_subjects: tuple[str, ...] = h36m.TEST_SUBJECTS
    cameras: tuple[str, ...] = h36m.CAMERA_IDS
    frame_stride: int = 1
    decode_frames: bool = False
    box_padding: float = 1.25
    on_missing: str = "error"
    face_feet: str = "fk"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name not in CONFIG_NAMES:
            raise SimspineDataError(f"config name {self.name!r} unknown; choose one of {CONFIG_NAMES}")
        self.train_subjects, self.test_subjects = tuple(self.train_subjects), tuple(self.test_subjects)
        self.cameras = tuple(self.cameras)
        if self.frame_stride < 1:
            raise SimspineDataError(f"frame_stride must be >= 1; got {self.frame_stride}")
        if self.on_missing not in ("error", "warn", "skip"):
            raise SimspineDataError(f"on_missing must be 'error', 'warn' or 'skip'; got {self.on_missing!r}")
        if self.face_feet not in ("fk", "mask"):
            raise SimspineDataError(f"face_feet must be 'fk' or 'mask'; got {self.face_feet!r}")
        if self.decode_frames and self.name != "views2d":
            raise SimspineDataError("decode_frames=True needs the views2d config")

    def check_paths(self) -> None:
        """Required inputs are given (checked when building, so that BUILDER_CONFIGS can list the names)."""
        if self.annotations is None:
            raise SimspineDataError("annotations= is required: a SIMSPINE release folder, .h5 file, parquet "
                                    "folder or hub dataset id")
        if self.name != "spine15" and self.h36m_root is None:
            raise SimspineDataError(f"config {self.name!r} joins your Human3.6M copy: pass h36m_root=")


def features_for(config: SimspineConfig) -> datasets.Features:
    """The features of a config, declared once (units in the descriptions)."""
    f32 = datasets.Value("float32")
    common = {
        "subject": datasets.Value("string"),
        "action": datasets.Value("string"),
        "subaction": datasets.Value("string"),
        "sequence": datasets.Value("string"),
        "frame": datasets.Value("int32"),
        "timestamp": f32,
    }
    if config.name == "spine15":
        return datasets.Features({**common, "keypoints_3d": _fixed(_fixed(f32, 3), 15),
                                  "kinematics": _fixed(f32, 62)})
    if config.name == "full37":
        return datasets.Features({**common, "keypoints_3d": _fixed(_fixed(f32, 3), 37),
                                  "keypoints_source": _fixed(datasets.ClassLabel(names=list(SOURCES)), 37),
                                  "kinematics": _fixed(f32, 62)})
    feats = {**common, "camera": datasets.Value("string"),
             "keypoints_2d": _fixed(_fixed(f32, 2), 37), "visibility": _fixed(datasets.Value("uint8"), 37),
             "bbox": _fixed(f32, 4), "image_path": datasets.Value("string")}
    if config.decode_frames:
        feats["image"] = datasets.Image()
    return datasets.Features(feats)


_DESCRIPTION = (
    "SIMSPINE (Khan & Stricker): 3D spine keypoints simulated with OpenSim on Human3.6M motions. "
    "keypoints_3d: world millimetres, Z-up (Human3.6M frame), SpineTrack order (spine15: release order "
    "Hip, Spine_01..05, Neck, Neck_02, Neck_03, Head, Nose, LLatissimus, RLatissimus, LClavicle, RClavicle); "
    "kinematics: the model's 62 coordinates, degrees (rotations) and metres (pelvis_t*, Abs_t*); "
    "keypoints_2d / bbox: pixels; timestamp: seconds; frame: 0-based Human3.6M frame index.")


def resolve_annotations(spec: str) -> Path:
    """Local path of the annotations: a local path as is, or a hub dataset id via ``huggingface_hub``."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(spec, repo_type="dataset"))
        except Exception as exc:
            raise SimspineDataError(f"annotations={spec!r}: not a local path, and the hub dataset could not be "
                                    f"fetched ({type(exc).__name__}: {exc}); check the id, your access to the "
                                    "gated repo, or pass a local folder") from exc
    raise SimspineDataError(f"annotations={spec!r}: path not found; pass a SIMSPINE release folder, .h5 "
                            "file, parquet folder or hub dataset id")


class SimspineBuilder(datasets.ArrowBasedBuilder):
    """Builds the SIMSPINE configs from the release and the user's Human3.6M (see module docstring)."""

    BUILDER_CONFIG_CLASS = SimspineConfig
    BUILDER_CONFIGS = [SimspineConfig(name=n) for n in CONFIG_NAMES]
    DEFAULT_CONFIG_NAME = "spine15"
    VERSION = datasets.Version("1.0.0")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("dataset_name", "simspine")
        kwargs.setdefault("hash", f"simspine_hub-{__version__}")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=_DESCRIPTION, features=features_for(self.config),
                                    homepage="https://saifkhichi96.github.io/research/simspine/",
                                    license="SIMSPINE annotations: academic licence; Human3.6M: not redistributed")

    # --- split planning: validates every input before anything is written --------------------------------
    def _split_generators(self, dl_manager):
        cfg = self.config
        cfg.check_paths()
        rel_path = resolve_annotations(cfg.annotations)
        rel = release.open_release(rel_path)
        data = h36m.Human36M(cfg.h36m_root) if cfg.name != "spine15" else None
        if cfg.name != "spine15":
            self._h3wb()                                          # a bad H3WB file fails here, before writing
        splits = []
        for split, subjects in ((datasets.Split.TRAIN, cfg.train_subjects), (datasets.Split.TEST, cfg.test_subjects)):
            jobs = [j for s in subjects for j in self._plan_subject(rel, data, s)]
            if jobs:
                splits.append(datasets.SplitGenerator(name=split, gen_kwargs={"jobs": jobs, "rel_path": str(rel_path)}))
        if not splits:
            raise SimspineDataError(f"{rel_path}: no sequences for subjects {cfg.train_subjects + cfg.test_subjects}")
        return splits

    def _mismatch(self, message: str) -> None:
        if self.config.on_missing == "error":
            raise SimspineDataError(message + " (set on_missing='skip' or 'warn' to build without it)")
        if self.config.on_missing == "warn":
            log.warning(message)

    def _plan_subject(self, rel, data, subject: str) -> list[tuple[str, str]]:
        in_h36m = data is None or subject in data.subjects()
        if subject not in rel.subjects():
            if data is not None and in_h36m:
                self._mismatch(f"{rel.path}: subject {subject} is in Human3.6M ({data.root}) but not in the "
                               "SIMSPINE annotations")
            return []  # a subject on neither side is simply not part of this build
        if not in_h36m:
            self._mismatch(f"{data.root}/{subject}: subject folder not found, but {rel.path} annotates "
                           f"{subject}; add it to your Human3.6M copy or drop it from the subject lists")
            return []
        stems = rel.sequences(subject)
        if data is None:
            return [(subject, s) for s in stems]
        h_stems = {s.stem for s in data.sequences(subject)}
        for s in sorted(h_stems - set(stems)):
            self._mismatch(f"{data.path_3d(subject, s)}: Human3.6M sequence has no SIMSPINE annotation in {rel.path}")
        jobs = []
        for s in stems:
            if s not in h_stems:
                self._mismatch(f"{rel.path}: SIMSPINE sequence {subject}/{s} is missing in Human3.6M; expected "
                               f"{data.path_3d(subject, s)}")
            else:
                jobs.append((subject, s))
        return jobs

    def _generate_shards(self, jobs, rel_path):
        for subject, stem in jobs:
            yield f"{subject}/{stem}"

    # --- table generation ---------------------------------------------------------------------------------
    def _generate_tables(self, jobs, rel_path):
        cfg = self.config
        rel = release.open_release(rel_path)
        data = h36m.Human36M(cfg.h36m_root) if cfg.name != "spine15" else None
        models: dict[str, object] = {}
        features = self.info.features
        for shard, (subject, stem) in enumerate(jobs):
            seq = rel.read(subject, stem)
            action, subaction = h36m.parse_sequence_name(stem)
            if cfg.name == "spine15":
                n = len(seq.markers)
                cols = {"keypoints_3d": _spine15(seq, rel), "kinematics": seq.kinematics}
            else:
                pts, src, n = self._join(rel, data, seq, models, self._h3wb())
                cols = {"keypoints_3d": pts, "keypoints_source": src,
                        "kinematics": seq.kinematics[:n]}
            frames = np.arange(0, n, cfg.frame_stride)
            meta = {"subject": subject, "action": action, "subaction": subaction, "sequence": stem}
            if cfg.name != "views2d":
                table = _table({**meta, "frame": frames, "timestamp": seq.timestamps[frames],
                                **{k: np.asarray(v)[frames] for k, v in cols.items()}}, len(frames), features)
                yield _Key(shard, 0), table
                continue
            cams = data.cameras(subject)
            views = [c for c in cfg.cameras if c in data.views(h36m.Sequence(subject, stem, action, subaction))]
            for b, cam_id in enumerate(views):
                cols2d = self._views(cols["keypoints_3d"][frames], cams[cam_id])
                row_names = [f"{subject}_{release.action_key(stem)}.{cam_id}_{i:06d}.jpg" for i in frames]
                batch = {**meta, "camera": cam_id, "frame": frames, "timestamp": seq.timestamps[frames],
                         **cols2d, "image_path": row_names}
                if cfg.decode_frames:
                    batch["image"] = self._frames(data, subject, stem, cam_id, frames, row_names)
                yield _Key(shard, b), _table(batch, len(frames), features)

    def _h3wb(self):
        if self.config.h3wb_root is None:
            return None
        if getattr(self, "_h3wb_cache", None) is None:
            path = Path(self.config.h3wb_root)
            if path.is_dir():
                path = path / "h3wb_train.npz"
            self._h3wb_cache = h36m.read_h3wb_npz(path, allow_pickle=self.config.h3wb_allow_pickle)
        return self._h3wb_cache

    @staticmethod
    def _h3wb_sequence(h3wb, subject: str, stem: str):
        if h3wb is None or subject not in h3wb:
            return None
        want = h36m.parse_sequence_name(stem)
        for key, val in h3wb[subject].items():
            try:
                if key == stem or h36m.parse_sequence_name(key) == want:
                    return val
            except ValueError:
                continue
        return None

    def _join(self, rel, data, seq, models, h3wb=None) -> tuple[np.ndarray, np.ndarray, int]:
        """Release + Human3.6M (+ H3WB, FK) -> (T, 37, 3) world mm, (T, 37) source codes, T."""
        j32 = data.read_3d(seq.subject, seq.stem)
        n = min(len(seq.markers), len(j32))
        if len(seq.markers) != len(j32):
            log.warning("%s/%s: release has %d frames, Human3.6M %d; both trimmed to %d", seq.subject,
                        seq.stem, len(seq.markers), len(j32), n)
        pts = np.full((n, 37, 3), np.nan)
        src = np.zeros((n, 37), np.int64)
        pts[:, list(seq.keypoints)] = seq.markers[:n]
        src[:, list(seq.keypoints)] = _SRC["simspine"]
        limb = list(skeleton.H36M_TO_LIMB)
        pts[:, limb] = j32[:n, [skeleton.H36M_TO_LIMB[i] for i in limb]]
        src[:, limb] = _SRC["human36m"]
        wanted = [i for i in skeleton.FACE_FEET if (src[:, i] == 0).any()]
        model = self._model(rel, seq.subject, models) if self.config.face_feet == "fk" else None
        if model is not None and wanted:
            have = [i for i in wanted if skeleton.KEYPOINT_NAMES[i] in model.marker_names]
            if have:
                q = kinematics_to_radians(seq.kinematics[:n])
                ground = model.marker_positions(q, [skeleton.KEYPOINT_NAMES[i] for i in have])
                fill = src[:, have] == 0
                pts[:, have] = np.where(fill[..., None], yup_m_to_zup_mm(ground), pts[:, have])
                src[:, have] = np.where(fill, _SRC["fk"], src[:, have])
        wb = self._h3wb_sequence(h3wb, seq.subject, seq.stem)
        if wb is not None:                                   # H3WB wins on the (sparse) frames it annotates
            frames, g = wb
            ok = (frames >= 0) & (frames < n)
            frames, g = frames[ok], g[ok]
            mapping = {**skeleton.H3WB_FACE, **skeleton.H3WB_FEET}
            ids = [i for i in skeleton.FACE_FEET if i in mapping]
            pts[np.ix_(frames, ids)] = g[:, [mapping[i] for i in ids]]
            src[np.ix_(frames, ids)] = _SRC["h3wb"]
        return pts, src, n

    @staticmethod
    def _model(rel, subject: str, cache: dict):
        if subject not in cache:
            cache[subject] = None
            try:
                path = rel.model_path(subject)
            except release.ReleaseFormatError:
                path = None
            if path is not None and Path(path).is_file():
                from simspine_hub.osim.model import SpineModel

                cache[subject] = SpineModel(path)
        return cache[subject]

    def _views(self, pts: np.ndarray, cam) -> dict[str, np.ndarray]:
        """(T, 37, 3) world mm -> keypoints_2d (T, 37, 2) px, visibility (T, 37), bbox (T, 4) xywh px."""
        uv = project(pts, cam)
        w, h = cam.size
        vis = np.isfinite(uv).all(-1) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        masked = np.where(vis[..., None], uv, np.nan)
        lo, hi = np.nanmin(masked, axis=1), np.nanmax(masked, axis=1)
        centre, size = (lo + hi) / 2, (hi - lo) * self.config.box_padding
        bbox = np.concatenate([centre - size / 2, size], axis=-1)
        return {"keypoints_2d": uv, "visibility": vis.astype(np.uint8), "bbox": bbox}

    @staticmethod
    def _frames(data, subject, stem, cam_id, frames, names) -> list[dict]:
        import cv2

        wanted = set(int(i) for i in frames)
        last = int(frames[-1]) + 1
        out = {}
        for i, rgb in data.iter_frames(subject, stem, cam_id, limit=last):
            if i in wanted:
                ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                out[i] = buf.tobytes()
        missing = wanted - set(out)
        if missing:
            raise SimspineDataError(f"{data.video_path(subject, stem, cam_id)}: video ends before frame "
                                    f"{min(missing)}; the file is truncated, re-extract it")
        return [{"bytes": out[int(i)], "path": n} for i, n in zip(frames, names)]


def _spine15(seq, rel) -> np.ndarray:
    """(T, 15, 3) spine points of a release sequence holding the 15 or more markers."""
    pos = {k: i for i, k in enumerate(seq.keypoints)}
    missing = [skeleton.KEYPOINT_NAMES[k] for k in skeleton.SPINE15 if k not in pos]
    if missing:
        raise SimspineDataError(f"{rel.path}: {seq.subject}/{seq.stem} lacks spine markers {missing}")
    return seq.markers[:, [pos[k] for k in skeleton.SPINE15]]


def _column(value, n: int) -> pa.Array:
    """A numpy array (n, ...) or a scalar/list -> an Arrow column of n rows (nested fixed-size lists)."""
    if isinstance(value, str):
        return pa.array([value] * n, pa.string())
    if isinstance(value, list):
        return pa.array(value)
    arr = np.ascontiguousarray(value)
    if arr.ndim == 1:
        return pa.array(arr)
    flat = pa.array(arr.reshape(-1))
    for size in reversed(arr.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


def _table(columns: dict, n: int, features: datasets.Features) -> pa.Table:
    """Columns -> an Arrow table in the features' order and types."""
    missing = set(features) ^ set(columns)
    if missing:
        raise KeyError(f"columns and features differ: {sorted(missing)}")
    return pa.table({k: _column(columns[k], n) for k in features}).cast(features.arrow_schema)


def load_dataset(path: str = "simspine", name: str | None = None, *, split: str | None = None,
                 streaming: bool = False, cache_dir: str | os.PathLike | None = None,
                 num_proc: int | None = None, **config_kwargs):
    """Build and load SIMSPINE, the way ``datasets.load_dataset`` would with a loading script.

    Args:
        path: ``"simspine"`` (or ``"simspine/<config>"``).
        name: ``"spine15"`` (default), ``"full37"`` or ``"views2d"``.
        split: ``"train"``/``"test"`` or None for the whole ``DatasetDict``.
        streaming: return an ``IterableDataset(Dict)`` that reads the files lazily.
        **config_kwargs: :class:`SimspineConfig` fields, e.g. ``h36m_root=``, ``annotations=``.

    Example::

        ds = load_dataset("simspine", "full37", h36m_root="/data/h36m", annotations="/data/simspine")
    """
    if path.startswith("simspine/") and name is None:
        path, name = "simspine", path.split("/", 1)[1]
    if path != "simspine":
        raise SimspineDataError(f"load_dataset: unknown dataset {path!r}; this package builds 'simspine'")
    for key in ("h36m_root", "annotations"):
        if config_kwargs.get(key) is not None:
            config_kwargs[key] = str(config_kwargs[key])
    builder = SimspineBuilder(config_name=name or "spine15", cache_dir=str(cache_dir) if cache_dir else None,
                              **config_kwargs)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset(split=split)
