"""The SIMSPINE release on disk: TRC / MOT / STO, Pose2Sim calibration TOML, and the HDF5 form.

Raw layout (dfki-av/simspine ``docs/dataset.md``)::

    cameras/Calib_S1.toml                  Pose2Sim calibration (translation in metres)
    models/S1.osim                         subject-scaled OpenSim model
    positions/S1/S1_<ACTION>.trc           markers, metres, OpenSim ground frame (Y-up)
    kinematics/S1/S1_<ACTION>/S1_<ACTION>.mot          62 coordinates (degrees / metres)
    kinematics/S1/S1_<ACTION>/_ik_marker_errors.sto
    kinematics/S1/S1_<ACTION>/_ik_model_marker_locations.sto

``<ACTION>`` is the Human3.6M sequence stem with spaces as underscores (``Walking 1`` -> ``Walking_1``),
the MMPose image naming. HDF5 form: ``metadata/{markers_names, kinematic_axes}``,
``<S>/calibration/{names, K, dist, R, t, size}``, ``<S>/<ACTION>/{markers, kinematics, timestamps}``.

The public release holds the 15 spine points only; readers accept any subset of the 37 names and
return them in SpineTrack order. :class:`Release` converts markers to Human3.6M world millimetres (Z-up).
"""

from __future__ import annotations

import io
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.geometry import Camera
from simspine_hub.io.files import atomic_path, write_text
from simspine_hub.units import yup_m_to_zup_mm, zup_mm_to_yup_m

__all__ = [
    "ReleaseFormatError", "read_trc", "write_trc", "read_mot", "write_mot", "write_sto",
    "read_calibration_toml", "write_calibration_toml", "action_key", "stem_from_key",
    "ReleaseSequence", "Release", "write_release_hdf5",
]


class ReleaseFormatError(ValueError):
    """A SIMSPINE release file is missing or malformed; the message names the path and the fix."""


def action_key(stem: str) -> str:
    """Human3.6M stem -> release action key (``"Walking 1"`` -> ``"Walking_1"``)."""
    return stem.replace(" ", "_")


def stem_from_key(key: str) -> str:
    """Release action key -> Human3.6M stem (inverse of :func:`action_key`)."""
    return key.replace("_", " ")


# --- TRC -------------------------------------------------------------------------------------------------
def write_trc(path: str | os.PathLike, names: list[str] | tuple[str, ...], positions: np.ndarray,
              rate: float, start_time: float = 0.0, units: str = "m") -> None:
    """Write an OpenSim TRC file.

    Args:
        names: K marker names.
        positions: (T, K, 3) marker positions in ``units`` (OpenSim ground frame, Y-up).
        rate: frames per second (Hz).
    """
    positions = np.asarray(positions, dtype=np.float64)
    T, K, _ = positions.shape
    if K != len(names):
        raise ValueError(f"{path}: {len(names)} names for {K} markers")
    head = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:g}\t{rate:g}\t{T}\t{K}\t{units}\t{rate:g}\t1\t{T}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, K + 1)),
    ]
    table = np.column_stack([np.arange(1, T + 1), start_time + np.arange(T) / rate, positions.reshape(T, -1)])
    buf = io.StringIO()
    np.savetxt(buf, table, fmt=["%d", "%.6f"] + ["%.8f"] * (3 * K), delimiter="\t")
    write_text(path, "\n".join(head) + "\n" + buf.getvalue())


def read_trc(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """Read a TRC file -> (names, timestamps (T,) s, positions (T, K, 3), units)."""
    path = Path(path)
    if not path.is_file():
        raise ReleaseFormatError(f"{path}: TRC file not found")
    try:
        with open(path) as f:
            lines = [f.readline() for _ in range(5)]
        header_values = lines[2].rstrip("\n").split("\t")
        units, num_frames = header_values[4], int(header_values[2])
        names = [n for n in lines[3].rstrip("\n").split("\t")[2:] if n]
        data = _read_tsv(path, skip_rows=5)
    except Exception as exc:
        raise ReleaseFormatError(f"{path}: not a readable TRC file ({exc}); re-export it or "
                                 "re-download the release") from exc
    data = data[:, : 2 + 3 * len(names)]
    if data.shape[1] != 2 + 3 * len(names) or len(data) != num_frames or np.isnan(data[-1]).any():
        raise ReleaseFormatError(f"{path}: {len(data)} of {num_frames} frames, {data.shape[1]} columns for "
                                 f"{len(names)} markers; the file is truncated, re-download it")
    return names, data[:, 1], data[:, 2:].reshape(len(data), len(names), 3), units


def _read_tsv(path: Path, skip_rows: int) -> np.ndarray:
    """Numeric tab-separated rows after ``skip_rows`` header lines -> (rows, cols) float64 (pyarrow's reader).

    Short rows (a truncated file) come back padded with NaN so that callers can report them.
    """
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(skip_rows=skip_rows, autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(delimiter="\t", invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types=None))
    cols = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) for c in table.columns
            if not (c.null_count == len(c) and len(c) > 0)]
    out = np.column_stack(cols) if cols else np.empty((0, 0))
    with open(path, "rb") as f:  # rows the parser skipped as malformed mean a truncated file
        f.seek(max(0, path.stat().st_size - 1))
        last_char = f.read(1)
    if last_char not in (b"\n", b""):
        out = np.vstack([out, np.full((1, out.shape[1]), np.nan)])
    return out


# --- MOT / STO -------------------------------------------------------------------------------------------
def _write_storage(path: str | os.PathLike, title: str, columns: list[str], time: np.ndarray,
                   values: np.ndarray, in_degrees: bool | None) -> None:
    values = np.asarray(values, dtype=np.float64)
    head = [title, "version=1", f"nRows={len(time)}", f"nColumns={len(columns) + 1}"]
    if in_degrees is not None:
        head.append(f"inDegrees={'yes' if in_degrees else 'no'}")
    head += ["endheader", "time\t" + "\t".join(columns)]
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([time, values]), fmt="%.8f", delimiter="\t")
    write_text(path, "\n".join(head) + "\n" + buf.getvalue())


def write_mot(path: str | os.PathLike, time: np.ndarray, coordinates: np.ndarray,
              axes: tuple[str, ...] = skeleton.KINEMATIC_AXES) -> None:
    """Write an OpenSim ``.mot``: time (T,) s, coordinates (T, 62) in degrees (rotations) and metres."""
    _write_storage(path, "Coordinates", list(axes), time, coordinates, in_degrees=True)


def write_sto(path: str | os.PathLike, title: str, columns: list[str], time: np.ndarray,
              values: np.ndarray) -> None:
    """Write a generic OpenSim ``.sto`` table (time (T,) s, values (T, C))."""
    _write_storage(path, title, columns, time, values, in_degrees=None)


def read_mot(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a ``.mot``/``.sto`` -> (column names, time (T,) s, values (T, C)).

    Rotational kinematic axes of a file with ``inDegrees=no`` are converted to degrees, so coordinates
    are always degrees for rotations and metres for translations; other columns are returned as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise ReleaseFormatError(f"{path}: MOT/STO file not found")
    in_degrees, n_rows = True, None
    with open(path) as f:
        for n_head, line in enumerate(f, 1):  # noqa: B007  (n_head is used after the loop)
            if line.strip().lower().startswith("nrows="):
                n_rows = int(line.strip().split("=")[1])
            if line.strip().lower().startswith("indegrees="):
                in_degrees = line.strip().split("=")[1].lower() == "yes"
            if line.strip().lower() == "endheader":
                break
        else:
            raise ReleaseFormatError(f"{path}: no 'endheader' line; not an OpenSim storage file")
    try:
        with open(path) as f:
            for _ in range(n_head):
                f.readline()
            columns = [c.strip() for c in f.readline().rstrip("\n").split("\t")[1:]]
        values = _read_tsv(path, skip_rows=n_head + 1)
    except Exception as exc:
        raise ReleaseFormatError(f"{path}: unreadable table ({exc}); re-download the file") from exc
    if np.isnan(values[-1:]).any() or (n_rows is not None and len(values) != n_rows):
        raise ReleaseFormatError(f"{path}: {len(values)} rows (header says {n_rows}) or an incomplete last row; "
                                 "the file is truncated, re-download it")
    if not in_degrees:
        rot = [i for i, c in enumerate(columns) if c in skeleton.KINEMATIC_AXES and c not in skeleton.TRANSLATION_AXES]
        values[:, 1:][:, rot] = np.rad2deg(values[:, 1:][:, rot])
    return columns, values[:, 0], values[:, 1:]


# --- calibration TOML (Pose2Sim format) ------------------------------------------------------------------
def write_calibration_toml(path: str | os.PathLike, cameras: dict[str, Camera], unit_scale: float = 1e-3) -> None:
    """Write cameras as a Pose2Sim calibration TOML.

    Args:
        cameras: {name: Camera}; ``t`` is multiplied by ``unit_scale`` (default mm -> m, as Pose2Sim).
        unit_scale: factor from the cameras' world unit to metres.

    Non-OpenCV distortion is recorded with an extra ``distortion_model`` key (Pose2Sim ignores it).
    """
    def vec(v) -> str:
        return "[ " + ", ".join(repr(float(x)) for x in v) + "]"

    parts = []
    for name, c in cameras.items():
        dist = c.dist if c.dist[4] != 0 else c.dist[:4]
        lines = [f"[{name}]", f'name = "{name}"', f"size = [ {c.size[0]}, {c.size[1]}]",
                 "matrix = [ " + ", ".join(vec(r) for r in c.K) + "]",
                 f"distortions = {vec(dist)}", f"rotation = {vec(c.rvec)}",
                 f"translation = {vec(c.t * unit_scale)}", "fisheye = false"]
        if c.distortion_model != "opencv":
            lines.append(f'distortion_model = "{c.distortion_model}"')
        parts.append("\n".join(lines) + "\n")
    parts.append("[metadata]\nadjusted = false\nerror = 0.0\n")
    write_text(path, "\n".join(parts))


def read_calibration_toml(path: str | os.PathLike, unit_scale: float = 1e3) -> dict[str, Camera]:
    """Read a Pose2Sim calibration TOML -> {name: Camera}, ``t`` multiplied by ``unit_scale`` (m -> mm)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
        cams = {}
        for key, c in data.items():
            if not isinstance(c, dict) or key in ("metadata", "capture_volume", "charuco", "checkerboard"):
                continue
            name = str(c.get("name", key))
            cams[name] = Camera.from_rvec(name, c["matrix"], c["distortions"], c["rotation"],
                                          np.asarray(c["translation"], dtype=np.float64) * unit_scale,
                                          tuple(int(round(s)) for s in c["size"]),
                                          c.get("distortion_model", "opencv"))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ReleaseFormatError(f"{path}: not a Pose2Sim calibration TOML ({exc}); each camera needs "
                                 "size, matrix, distortions, rotation, translation") from exc
    if not cams:
        raise ReleaseFormatError(f"{path}: no camera sections found")
    return cams


# --- the release as a whole ------------------------------------------------------------------------------
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


def _order(names: list[str], where: Path) -> tuple[list[int], tuple[int, ...]]:
    """Column order that sorts release marker names into SPINE15-then-SpineTrack order."""
    try:
        ids = [skeleton.index_of(n) for n in names]
    except KeyError as exc:
        raise ReleaseFormatError(f"{where}: {exc.args[0]}") from exc
    rank = {k: i for i, k in enumerate(skeleton.SPINE15 + tuple(
        i for i in range(skeleton.NUM_KEYPOINTS) if i not in skeleton.SPINE15))}
    perm = sorted(range(len(ids)), key=lambda j: rank[ids[j]])
    return perm, tuple(ids[j] for j in perm)


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

    def subjects(self) -> list[str]:
        if self.kind == "hdf5":
            import h5py
            with h5py.File(self.path, "r") as f:
                names = [k for k in f.keys() if k != "metadata"]
        else:
            names = [p.name for p in (self.path / "positions").iterdir() if p.is_dir()]
        return sorted(names, key=lambda s: int(s[1:]) if s[1:].isdigit() else 10**6)

    def sequences(self, subject: str) -> list[str]:
        """Human3.6M stems of ``subject``'s released sequences, sorted."""
        if self.kind == "hdf5":
            import h5py
            with h5py.File(self.path, "r") as f:
                keys = [k for k in f[subject].keys() if k != "calibration"]
        else:
            keys = [p.stem[len(subject) + 1:] for p in (self.path / "positions" / subject).glob(f"{subject}_*.trc")]
        return sorted(stem_from_key(k) for k in keys)

    def cameras(self, subject: str) -> dict[str, Camera]:
        """{camera name: Camera} with translations in world millimetres."""
        if self.kind == "raw":
            return read_calibration_toml(self.path / "cameras" / f"Calib_{subject}.toml")
        import h5py
        with h5py.File(self.path, "r") as f:
            g = f[subject]["calibration"]
            model = g.attrs.get("distortion_model", "opencv")
            return {n.decode(): Camera.from_rvec(n.decode(), K, d, r, t * 1e3, tuple(s), model)
                    for n, K, d, r, t, s in zip(g["names"][()], g["K"][()], g["dist"][()],
                                                g["rvec"][()], g["t"][()], g["size"][()])}

    def model_path(self, subject: str) -> Path:
        """Path of the subject's scaled .osim (raw layout: models/S*.osim; HDF5: stored attribute)."""
        if self.kind == "raw":
            return self.path / "models" / f"{subject}.osim"
        import h5py
        with h5py.File(self.path, "r") as f:
            return (self.path.parent / str(f[subject].attrs["model_file"])).resolve()

    def read(self, subject: str, stem: str) -> ReleaseSequence:
        """Read one sequence (markers converted to world mm, Z-up; see :class:`ReleaseSequence`)."""
        key = action_key(stem)
        if self.kind == "hdf5":
            import h5py
            try:
                with h5py.File(self.path, "r") as f:
                    names = [n.decode() for n in f["metadata/markers_names"][()]]
                    g = f[subject][key]
                    markers, kin, ts = g["markers"][()], g["kinematics"][()], g["timestamps"][()]
            except KeyError as exc:
                raise ReleaseFormatError(f"{self.path}: no sequence {subject}/{key} ({exc})") from exc
            where = self.path
        else:
            trc = self.path / "positions" / subject / f"{subject}_{key}.trc"
            mot = self.path / "kinematics" / subject / f"{subject}_{key}" / f"{subject}_{key}.mot"
            names, ts, markers, units = read_trc(trc)
            scale = {"m": 1.0, "mm": 1e-3}.get(units)
            if scale is None:
                raise ReleaseFormatError(f"{trc}: units {units!r}; expected m or mm")
            markers = markers * scale
            axes, t_mot, kin = read_mot(mot)
            if tuple(axes) != skeleton.KINEMATIC_AXES:
                raise ReleaseFormatError(f"{mot}: columns are not the 62 kinematic axes of the model")
            n = min(len(ts), len(t_mot))
            markers, kin, ts = markers[:n], kin[:n], ts[:n]
            where = trc
        perm, ids = _order(names, where)
        world_mm = yup_m_to_zup_mm(markers[:, perm])
        return ReleaseSequence(subject, stem, ids, world_mm, np.asarray(kin, np.float64), np.asarray(ts))


def write_release_hdf5(path: str | os.PathLike, release: Release) -> None:
    """Serialise a raw-layout :class:`Release` to the HDF5 form (values as in TRC/MOT: m, Y-up, degrees)."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        names_written = None
        for subject in release.subjects():
            g = f.create_group(subject)
            cams = release.cameras(subject)
            c = g.create_group("calibration")
            c.create_dataset("names", data=np.array(list(cams), dtype="S"))
            c.create_dataset("K", data=np.stack([x.K for x in cams.values()]))
            c.create_dataset("dist", data=np.stack([x.dist for x in cams.values()]))
            c.create_dataset("R", data=np.stack([x.R for x in cams.values()]))
            c.create_dataset("rvec", data=np.stack([x.rvec for x in cams.values()]))
            c.create_dataset("t", data=np.stack([x.t * 1e-3 for x in cams.values()]))
            c.create_dataset("size", data=np.array([x.size for x in cams.values()], dtype=np.int32))
            c.attrs["distortion_model"] = next(iter(cams.values())).distortion_model
            g.attrs["model_file"] = os.path.relpath(release.model_path(subject), Path(path).parent)
            for stem in release.sequences(subject):
                seq = release.read(subject, stem)
                names_written = names_written or [skeleton.KEYPOINT_NAMES[i] for i in seq.keypoints]
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
        except Exception as exc:
            raise ReleaseFormatError(f"{self.path}: parquet files are unreadable or lack the spine15 columns "
                                     f"({exc}); export them with tools/export_parquet.py") from exc
        subj = table.column("subject").to_numpy(zero_copy_only=False)
        seq = table.column("sequence").to_numpy(zero_copy_only=False)
        frame = table.column("frame").to_numpy()
        kp = np.asarray(table.column("keypoints_3d").combine_chunks().flatten().flatten(), np.float64)
        kin = np.asarray(table.column("kinematics").combine_chunks().flatten(), np.float64)
        ts = table.column("timestamp").to_numpy().astype(np.float64)
        order = np.lexsort((frame, seq, subj))
        kp, kin = kp.reshape(-1, 15, 3)[order], kin.reshape(-1, 62)[order]
        subj, seq, ts = subj[order], seq[order], ts[order]
        self._data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        keys = np.char.add(np.char.add(subj.astype(str), "/"), seq.astype(str))
        uniq, start = np.unique(keys, return_index=True)
        bounds = list(np.sort(start)) + [len(keys)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            s, q = str(subj[a]), str(seq[a])
            self._data[(s, q)] = (kp[a:b], kin[a:b], ts[a:b])

    def subjects(self) -> list[str]:
        return sorted({s for s, _ in self._data}, key=lambda s: int(s[1:]) if s[1:].isdigit() else 10**6)

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
