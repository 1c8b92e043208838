"""The SIMSPINE release on disk: the raw folder, the HDF5 file and the hub's parquet form.

Raw layout (dfki-av/simspine ``docs/dataset.md``)::

    cameras/Calib_S1.toml                  Pose2Sim calibration (translation in metres)
    models/S1.osim                         subject-scaled OpenSim model
    positions/S1/S1_<ACTION>.trc           markers, metres, OpenSim ground frame (Y-up)
    kinematics/S1/S1_<ACTION>/S1_<ACTION>.mot          62 coordinates (degrees / metres)
    kinematics/S1/S1_<ACTION>/_ik_marker_errors.sto
    kinematics/S1/S1_<ACTION>/_ik_model_marker_locations.sto

``<ACTION>`` is the Human3.6M sequence stem with spaces as underscores (``Walking 1`` -> ``Walking_1``).
HDF5 form (the authors' ``serialize_dataset.py``): ``metadata/{markers_names (K,), kinematic_axes (62,)}``,
``<S>/calibration/...`` (see :mod:`simspine_hub.io.calibration`), attribute ``<S>.model_file`` (the
subject's .osim), ``<S>/<ACTION>/{markers (T, K, 3) m Y-up, kinematics (T, 62), timestamps (T,)}``.

The public release holds the 15 spine points only; readers accept any subset of the 37 names and
return them in SpineTrack order. :class:`Release` converts markers to Human3.6M world millimetres (Z-up).
File formats live in :mod:`~simspine_hub.io.tables` (TRC/MOT/STO) and :mod:`~simspine_hub.io.calibration`
(TOML, HDF5 cameras); their functions are re-exported here for callers that read a release.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.geometry import Camera
from simspine_hub.io.calibration import (
    read_calibration_h5,
    read_calibration_toml,
    write_calibration_h5,
    write_calibration_toml,
)
from simspine_hub.io.errors import ReleaseFormatError
from simspine_hub.io.files import atomic_path
from simspine_hub.io.tables import read_mot, read_trc, write_mot, write_sto, write_trc
from simspine_hub.units import yup_m_to_zup_mm, zup_mm_to_yup_m

log = logging.getLogger(__name__)

__all__ = [
    "ReleaseFormatError", "ReleaseSequence", "Release", "ParquetRelease", "open_release", "write_release_hdf5",
    "action_key", "stem_from_key", "input_files",
    # re-exported from io.tables and io.calibration
    "read_trc", "write_trc", "read_mot", "write_mot", "write_sto", "read_calibration_toml", "write_calibration_toml",
]


def action_key(stem: str) -> str:
    """Human3.6M stem -> release action key (``"Walking 1"`` -> ``"Walking_1"``)."""
    return stem.replace(" ", "_")


def stem_from_key(key: str) -> str:
    """Release action key -> Human3.6M stem (inverse of :func:`action_key`)."""
    return key.replace("_", " ")


@dataclass
class ReleaseSequence:
    """One released sequence, converted to Human3.6M conventions.

    Attributes:
        subject, stem: Human3.6M subject and sequence stem (``"Walking 1"``).
        keypoints: SpineTrack ids of the K released markers (sorted as :data:`skeleton.SPINE15` when
            those are the 15 spine points).
        markers: (T, K, 3) world millimetres, Z-up (Human3.6M frame).
        kinematics: (T, 62) coordinates, degrees for rotations, metres for translations.
        timestamps: (T,) seconds.
    """

    subject: str
    stem: str
    keypoints: tuple[int, ...]
    markers: np.ndarray
    kinematics: np.ndarray
    timestamps: np.ndarray


def _order(names: list[str], where: str | Path) -> tuple[list[int], tuple[int, ...]]:
    """Column order that sorts release marker names into SPINE15-then-SpineTrack order."""
    try:
        ids = [skeleton.index_of(n) for n in names]
    except KeyError as exc:
        raise ReleaseFormatError(f"{where}: {exc.args[0]}") from exc
    if len(set(ids)) != len(ids):
        raise ReleaseFormatError(f"{where}: marker names repeat ({names})")
    rank = {k: i for i, k in enumerate(skeleton.SPINE15 + tuple(
        i for i in range(skeleton.NUM_KEYPOINTS) if i not in skeleton.SPINE15))}
    perm = sorted(range(len(ids)), key=lambda j: rank[ids[j]])
    return perm, tuple(ids[j] for j in perm)


def _subject_order(names) -> list[str]:
    return sorted(names, key=lambda s: int(s[1:]) if s[1:].isdigit() else 10**6)


class Release:
    """Reader for a SIMSPINE release: a raw-layout folder or the HDF5 file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.is_file() and self.path.suffix in (".h5", ".hdf5"):
            self.kind = "hdf5"
        elif (self.path / "positions").is_dir() and (self.path / "kinematics").is_dir():
            self.kind = "raw"
        else:
            raise ReleaseFormatError(
                f"{self.path}: not a SIMSPINE release; pass the folder holding positions/, kinematics/, "
                "cameras/ and models/, or the simspine .h5 file (annotations=...)")

    def _h5(self):
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise ReleaseFormatError(f"{self.path}: not a readable HDF5 file ({exc}); re-download it") from exc

    def _group(self, f, name: str):
        if name not in f:
            raise ReleaseFormatError(f"{self.path}:/{name}: group missing")
        return f[name]

    def subjects(self) -> list[str]:
        if self.kind == "hdf5":
            with self._h5() as f:
                return _subject_order(k for k in f.keys() if k != "metadata")
        return _subject_order(p.name for p in (self.path / "positions").iterdir() if p.is_dir())

    def sequences(self, subject: str) -> list[str]:
        """Human3.6M stems of ``subject``'s released sequences, sorted."""
        if self.kind == "hdf5":
            with self._h5() as f:
                keys = [k for k in self._group(f, subject).keys() if k != "calibration"]
        else:
            keys = [p.stem[len(subject) + 1:] for p in (self.path / "positions" / subject).glob(f"{subject}_*.trc")]
        return sorted(stem_from_key(k) for k in keys)

    def cameras(self, subject: str) -> dict[str, Camera]:
        """{camera name: Camera} with translations in world millimetres."""
        if self.kind == "raw":
            return read_calibration_toml(self.path / "cameras" / f"Calib_{subject}.toml")
        with self._h5() as f:
            return read_calibration_h5(self._group(f, f"{subject}/calibration"))

    def model_path(self, subject: str) -> Path:
        """Path of the subject's scaled .osim.

        Raw layout: ``models/<S>.osim``. HDF5: the subject's ``model_file`` attribute, resolved against the
        folder holding the .h5 (the release root): ``<root>/<model_file>`` as this project writes it, else
        ``<root>/models/<file name>`` (the authors store the path they serialised from), else the attribute
        itself when absolute. When none exists, ``<root>/models/<file name>`` is returned (put it there).
        """
        if self.kind == "raw":
            return self.path / "models" / f"{subject}.osim"
        with self._h5() as f:
            attrs = self._group(f, subject).attrs
            if "model_file" not in attrs:
                raise ReleaseFormatError(f"{self.path}:/{subject}: attribute 'model_file' missing; the HDF5 "
                                         "release names each subject's scaled .osim there")
            value = attrs["model_file"]
        stored = Path(value.decode() if isinstance(value, bytes) else str(value))
        root = self.path.parent
        candidates = [root / stored, root / "models" / stored.name] + ([stored] if stored.is_absolute() else [])
        found = next((c for c in candidates if c.is_file()), candidates[1])
        return found.resolve()

    def read(self, subject: str, stem: str) -> ReleaseSequence:
        """Read one sequence (markers converted to world mm, Z-up; see :class:`ReleaseSequence`)."""
        if self.kind == "hdf5":
            names, markers, kin, ts, where = self._read_h5(subject, action_key(stem))
        else:
            names, markers, kin, ts, where = self._read_raw(subject, action_key(stem))
        perm, ids = _order(names, where)
        world_mm = yup_m_to_zup_mm(markers[:, perm])
        return ReleaseSequence(subject, stem, ids, world_mm, np.asarray(kin, np.float64), np.asarray(ts, np.float64))

    def _read_raw(self, subject: str, key: str):
        trc = self.path / "positions" / subject / f"{subject}_{key}.trc"
        mot = self.path / "kinematics" / subject / f"{subject}_{key}" / f"{subject}_{key}.mot"
        names, ts, markers, units = read_trc(trc)
        scale = {"m": 1.0, "mm": 1e-3}.get(units)
        if scale is None:
            raise ReleaseFormatError(f"{trc}: units {units!r}; expected m or mm")
        axes, _, kin = read_mot(mot)
        if tuple(axes) != skeleton.KINEMATIC_AXES:
            raise ReleaseFormatError(f"{mot}: columns are not the {skeleton.NUM_AXES} kinematic axes of the model")
        n = min(len(ts), len(kin))
        if len(ts) != len(kin):   # the authors' serializer synchronises the same way
            log.warning("%s: %d frames, %s: %d; both trimmed to %d", trc, len(ts), mot.name, len(kin), n)
        return names, markers[:n] * scale, kin[:n], ts[:n], trc

    def _read_h5(self, subject: str, key: str):
        where = f"{self.path}:/{subject}/{key}"
        with self._h5() as f:
            names = _names(f, "metadata/markers_names", self.path)
            axes = _names(f, "metadata/kinematic_axes", self.path)
            if tuple(axes) != skeleton.KINEMATIC_AXES:
                raise ReleaseFormatError(f"{self.path}:/metadata/kinematic_axes: {len(axes)} names that are not the "
                                         f"{skeleton.NUM_AXES} kinematic axes of the model")
            g = self._group(f, f"{subject}/{key}")
            for name in ("markers", "kinematics", "timestamps"):
                if name not in g:
                    raise ReleaseFormatError(f"{where}/{name}: dataset missing")
            markers, kin, ts = g["markers"][()], g["kinematics"][()], g["timestamps"][()]
        T = len(markers)
        _check_shape(markers, (T, len(names), 3), f"{where}/markers", f"K = {len(names)} metadata/markers_names")
        _check_shape(kin, (T, skeleton.NUM_AXES), f"{where}/kinematics", "T as markers")
        _check_shape(ts, (T,), f"{where}/timestamps", "T as markers")
        return names, np.asarray(markers, np.float64), kin, ts, where


def _names(f, path: str, file: Path) -> list[str]:
    if path not in f:
        raise ReleaseFormatError(f"{file}:/{path}: dataset missing")
    values = f[path][()]
    if values.ndim != 1:
        raise ReleaseFormatError(f"{file}:/{path}: shape {values.shape}; expected a 1-D list of names")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _check_shape(array: np.ndarray, shape: tuple[int, ...], where: str, note: str) -> None:
    if array.shape != shape:
        raise ReleaseFormatError(f"{where}: shape {array.shape}; expected {shape} ({note})")


def write_release_hdf5(path: str | os.PathLike, release: Release) -> None:
    """Serialise a raw-layout :class:`Release` to the HDF5 form (values as in TRC/MOT: m, Y-up, degrees).

    Layout as the authors' serializer (see module docstring); ``model_file`` is stored relative to the .h5's
    folder. Every sequence must hold the same markers (one ``metadata/markers_names`` for the file).
    """
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        names_written = None
        for subject in release.subjects():
            g = f.create_group(subject)
            write_calibration_h5(g.create_group("calibration"), release.cameras(subject))
            g.attrs["model_file"] = os.path.relpath(release.model_path(subject), Path(path).parent)
            for stem in release.sequences(subject):
                seq = release.read(subject, stem)
                names = [skeleton.KEYPOINT_NAMES[i] for i in seq.keypoints]
                if names_written is not None and names != names_written:
                    raise ReleaseFormatError(f"{release.path}: {subject}/{stem} holds markers {names}, earlier "
                                             f"sequences {names_written}; one HDF5 file needs one marker list")
                names_written = names
                a = g.create_group(action_key(stem))
                a.create_dataset("markers", data=zup_mm_to_yup_m(seq.markers), compression="gzip")
                a.create_dataset("kinematics", data=seq.kinematics, compression="gzip")
                a.create_dataset("timestamps", data=seq.timestamps)
        m = f.create_group("metadata")
        m.create_dataset("markers_names", data=np.array(names_written or [], dtype="S"))
        m.create_dataset("kinematic_axes", data=np.array(skeleton.KINEMATIC_AXES, dtype="S"))


class ParquetRelease:
    """Reader for the hub's parquet form: rows of the ``spine15`` config (see ``tools/export_parquet.py``).

    Columns used: subject, sequence, frame, timestamp, keypoints_3d (15, 3) world mm, kinematics (62,).
    Parquet carries no cameras or models, so :meth:`cameras` and :meth:`model_path` raise.
    """

    kind = "parquet"

    def __init__(self, path: str | os.PathLike) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        files = sorted(self.path.rglob("*.parquet"))
        if not files:
            raise ReleaseFormatError(f"{self.path}: no .parquet files found")
        try:
            table = pq.read_table(files, columns=["subject", "sequence", "frame", "timestamp",
                                                   "keypoints_3d", "kinematics"])
            kp = np.asarray(table.column("keypoints_3d").combine_chunks().flatten().flatten(), np.float64)
            kin = np.asarray(table.column("kinematics").combine_chunks().flatten(), np.float64)
            kp = kp.reshape(table.num_rows, len(skeleton.SPINE15), 3)
            kin = kin.reshape(table.num_rows, skeleton.NUM_AXES)
        except Exception as exc:
            raise ReleaseFormatError(f"{self.path}: parquet files are unreadable or lack the spine15 columns "
                                     f"({exc}); export them with tools/export_parquet.py") from exc
        subj = table.column("subject").to_numpy(zero_copy_only=False)
        seq = table.column("sequence").to_numpy(zero_copy_only=False)
        frame = table.column("frame").to_numpy()
        ts = table.column("timestamp").to_numpy().astype(np.float64)
        order = np.lexsort((frame, seq, subj))
        kp, kin, subj, seq, ts = kp[order], kin[order], subj[order], seq[order], ts[order]
        self._data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        keys = np.char.add(np.char.add(subj.astype(str), "/"), seq.astype(str))
        _, start = np.unique(keys, return_index=True)
        bounds = list(np.sort(start)) + [len(keys)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            self._data[(str(subj[a]), str(seq[a]))] = (kp[a:b], kin[a:b], ts[a:b])

    def subjects(self) -> list[str]:
        return _subject_order({s for s, _ in self._data})

    def sequences(self, subject: str) -> list[str]:
        return sorted(q for s, q in self._data if s == subject)

    def cameras(self, subject: str) -> dict[str, Camera]:
        raise ReleaseFormatError(f"{self.path}: the parquet form has no calibration; use the raw layout or .h5")

    def model_path(self, subject: str) -> Path:
        raise ReleaseFormatError(f"{self.path}: the parquet form has no OpenSim models; use the raw layout or .h5")

    def read(self, subject: str, stem: str) -> ReleaseSequence:
        try:
            kp, kin, ts = self._data[(subject, stem)]
        except KeyError as exc:
            raise ReleaseFormatError(f"{self.path}: no sequence {subject}/{stem}") from exc
        return ReleaseSequence(subject, stem, skeleton.SPINE15, kp, kin, ts)


def open_release(path: str | os.PathLike) -> Release | ParquetRelease:
    """Open a release in any local form: raw folder, ``.h5`` file, or a folder of parquet files."""
    path = Path(path)
    if not path.exists():
        raise ReleaseFormatError(f"{path}: SIMSPINE annotations not found; pass annotations= a raw release "
                                 "folder, the simspine .h5 file, a parquet folder or a hub dataset id")
    if path.is_dir() and not (path / "positions").is_dir() and any(path.rglob("*.parquet")):
        return ParquetRelease(path)
    if path.is_dir() and not (path / "positions").is_dir():
        h5 = sorted(path.glob("*.h5"))
        if len(h5) == 1:
            return Release(h5[0])
    return Release(path)


def input_files(path: str | os.PathLike) -> list[Path]:
    """Every file a release at ``path`` is read from (for fingerprints of a build's inputs), sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
