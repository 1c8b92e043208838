"""The SIMSPINE dataset builder: a real ``datasets.ArrowBasedBuilder`` writing whole sequences as tables.

``datasets`` >= 4 no longer runs loading scripts, so :func:`load_dataset` instantiates
:class:`SimspineBuilder` itself (``download_and_prepare`` + ``as_dataset``, or ``as_streaming_dataset``).

Configs (options: :class:`~simspine_hub.dataset.config.SimspineConfig`; features:
:mod:`~simspine_hub.dataset.features`)
    ``spine15``   the released 15 spine points (world mm, Z-up) and 62 kinematic axes; no Human3.6M needed.
    ``full37``    the 37 points in SpineTrack order (:mod:`~simspine_hub.dataset.joins`): spine points from the
                  release, 12 limb points from Human3.6M's D3_Positions, face/feet points from H3WB on the
                  frames it annotates (``h3wb_root=``), else from forward kinematics of the released kinematics
                  on the released scaled model when it carries those markers, else masked (NaN, source
                  ``missing``). ``keypoints_source`` says which, per frame and point.
    ``views2d``   one row per frame and camera (:mod:`~simspine_hub.dataset.views`): 37 points projected with
                  lens distortion, visibility, person box, image path (``image_naming``);
                  ``decode_frames=True`` adds the video frame (JPEG).

Joining rule: when the release and Human3.6M disagree on a sequence's length, both are trimmed to the
shorter one with a warning (Human3.6M videos and mocap often differ by a few frames). A sequence on one
side only follows ``on_missing`` ("error", the default, "warn" or "skip").

Caching: the cache key holds every option and a fingerprint of the input files
(:func:`~simspine_hub.dataset.inputs.input_fingerprint`), so changed inputs are rebuilt, never served stale.
A bad input found while generating raises the project's own error (not ``DatasetGenerationError``).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os

import datasets
import numpy as np
from datasets.exceptions import DatasetGenerationError

from simspine_hub.dataset import joins
from simspine_hub.dataset.config import CONFIG_NAMES, OPTION_NAMES, SimspineConfig, SimspineDataError
from simspine_hub.dataset.features import DESCRIPTION, SOURCES, features_for, to_table
from simspine_hub.dataset.inputs import input_fingerprint, resolve_annotations
from simspine_hub.dataset.views import decode_frames, project_view
from simspine_hub.io import h36m, release

log = logging.getLogger(__name__)

__all__ = ["SimspineConfig", "SimspineBuilder", "load_dataset", "SOURCES", "features_for", "SimspineDataError",
           "resolve_annotations"]

try:
    from datasets.builder import Key as _Key
except ImportError:  # pragma: no cover - datasets < 5
    def _Key(shard: int, batch: int):  # noqa: N802
        return f"{shard}_{batch}"


def _package_version() -> str:
    try:
        return importlib.metadata.version("simspine-hub")
    except importlib.metadata.PackageNotFoundError:  # a source checkout that is not installed
        return "unknown"


class SimspineBuilder(datasets.ArrowBasedBuilder):
    """Builds the SIMSPINE configs from the release and the user's Human3.6M (see module docstring)."""

    BUILDER_CONFIG_CLASS = SimspineConfig
    BUILDER_CONFIGS = [SimspineConfig(name=n) for n in CONFIG_NAMES]
    DEFAULT_CONFIG_NAME = "spine15"
    VERSION = datasets.Version("1.0.0")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("dataset_name", "simspine")
        super().__init__(*args, **kwargs)

    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        """datasets' config creation, then our validation (its setattr skips __post_init__) and input fingerprint."""
        config, config_id = datasets.DatasetBuilder._create_builder_config(   # explicit: bench_builder borrows this
            self, config_name, custom_features, config_id, **config_kwargs)
        config.validate()
        base = self.hash or f"simspine_hub-{_package_version()}"
        self.hash = f"{base}-{input_fingerprint(config)}"
        return config, config_id

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=DESCRIPTION,
                                    features=features_for(self.config.name, self.config.decode_frames),
                                    homepage="https://saifkhichi96.github.io/research/simspine/",
                                    license="SIMSPINE annotations: academic licence; Human3.6M: not redistributed")

    def download_and_prepare(self, *args, **kwargs):
        """As ``datasets``, but a bad input surfaces as the project's own error, not ``DatasetGenerationError``."""
        try:
            return super().download_and_prepare(*args, **kwargs)
        except DatasetGenerationError as exc:
            cause = exc.__cause__
            if isinstance(cause, (ValueError, OSError, KeyError)):
                raise cause from None
            raise

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
            raise SimspineDataError(message + " (to build without it: on_missing='skip' or 'warn'; "
                                    "CLI: --on-missing skip)")
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
        features = self.info.features
        for shard, columns in enumerate(self.sequence_columns(jobs, rel_path)):
            if self.config.name != "views2d":
                yield _Key(shard, 0), to_table(columns, len(columns["frame"]), features)
                continue
            for view, batch in enumerate(self._view_columns(columns)):
                yield _Key(shard, view), to_table(batch, len(batch["frame"]), features)

    def sequence_columns(self, jobs, rel_path):
        """Yield one dict of columns per (subject, stem) job: the config's 3D columns on the kept frames.

        ``views2d`` gets the ``full37`` columns plus ``_data`` (the Human3.6M reader) for :meth:`_view_columns`.
        """
        cfg = self.config
        rel = release.open_release(rel_path)
        data = h36m.Human36M(cfg.h36m_root) if cfg.name != "spine15" else None
        models: dict[str, object] = {}
        for subject, stem in jobs:
            seq = rel.read(subject, stem)
            action, subaction = h36m.parse_sequence_name(stem)
            if cfg.name == "spine15":
                n = len(seq.markers)
                cols = {"keypoints_3d": joins.spine15_points(seq, rel.path)}
            else:
                if subject not in models:
                    models[subject] = joins.subject_model(rel, subject) if cfg.face_feet == "fk" else None
                pts, src = joins.join_full37(seq, data.read_3d(subject, stem), models[subject],
                                             joins.find_h3wb_sequence(self._h3wb(), subject, stem))
                n = len(pts)
                cols = {"keypoints_3d": pts, "keypoints_source": src}
            frames = np.arange(0, n, cfg.frame_stride)
            out = {"subject": subject, "action": action, "subaction": subaction, "sequence": stem, "frame": frames,
                   "timestamp": seq.timestamps[frames], "kinematics": seq.kinematics[frames],
                   **{k: np.asarray(v)[frames] for k, v in cols.items()}}
            if cfg.name == "views2d":
                out["_data"] = data
            yield out

    def _view_columns(self, columns: dict):
        """Yield the ``views2d`` columns of one sequence, one dict per usable camera."""
        cfg, data = self.config, columns["_data"]
        subject, stem, frames = columns["subject"], columns["sequence"], columns["frame"]
        cams = data.cameras(subject)
        meta = {k: columns[k] for k in ("subject", "action", "subaction", "sequence", "frame", "timestamp")}
        for cam_id in h36m.usable_cameras(subject, stem, cfg.cameras):
            if cam_id not in cams:
                raise SimspineDataError(f"{data.root}: no calibration of camera {cam_id} for {subject}; "
                                        "check camera-parameters.json or drop the camera (cameras=...)")
            names = h36m.image_names(subject, stem, cam_id, frames, cfg.image_naming)
            batch = {**meta, "camera": cam_id, **project_view(columns["keypoints_3d"], cams[cam_id], cfg.box_padding),
                     "image_path": names}
            if cfg.decode_frames:
                batch["image"] = decode_frames(data, subject, stem, cam_id, frames, names)
            yield batch

    def _h3wb(self):
        if self.config.h3wb_root is None:
            return None
        if getattr(self, "_h3wb_cache", None) is None:
            self._h3wb_cache = joins.read_h3wb(self.config.h3wb_root, self.config.h3wb_allow_pickle)
        return self._h3wb_cache


def load_dataset(path: str = "simspine", name: str | None = None, *, split: str | None = None,
                 streaming: bool = False, cache_dir: str | os.PathLike | None = None,
                 num_proc: int | None = None, **config_kwargs):
    """Build and load SIMSPINE, the way ``datasets.load_dataset`` would with a loading script.

    Args:
        path: ``"simspine"`` (or ``"simspine/<config>"``).
        name: ``"spine15"`` (default), ``"full37"`` or ``"views2d"``.
        split: ``"train"``/``"test"`` or None for the whole ``DatasetDict``.
        streaming: return an ``IterableDataset(Dict)`` that reads the files lazily.
        **config_kwargs: :class:`SimspineConfig` options, e.g. ``h36m_root=``, ``annotations=``; each is
            validated (one :class:`SimspineDataError` naming the option).

    Example::

        ds = load_dataset("simspine", "full37", h36m_root="/data/h36m", annotations="/data/simspine")
    """
    if path.startswith("simspine/") and name is None:
        path, name = "simspine", path.split("/", 1)[1]
    if path != "simspine":
        raise SimspineDataError(f"load_dataset: unknown dataset {path!r}; this package builds 'simspine'")
    name = name or "spine15"
    if name not in CONFIG_NAMES:
        raise SimspineDataError(f"config name {name!r} unknown; choose one of {CONFIG_NAMES}")
    unknown = sorted(set(config_kwargs) - set(OPTION_NAMES))
    if unknown:
        raise SimspineDataError(f"load_dataset: unknown option(s) {unknown}; options are {list(OPTION_NAMES)}")
    for key in ("h36m_root", "annotations", "h3wb_root"):
        if isinstance(config_kwargs.get(key), os.PathLike):
            config_kwargs[key] = os.fspath(config_kwargs[key])
    builder = SimspineBuilder(config_name=name, cache_dir=str(cache_dir) if cache_dir else None, **config_kwargs)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset(split=split)
