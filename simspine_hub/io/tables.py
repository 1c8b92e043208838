"""OpenSim text tables: TRC marker files and MOT/STO storage files (tab-separated, header then numbers).

Reading checks every row's width against the header: a row with a value missing raises
:class:`ReleaseFormatError` naming the file, the line and the first missing column (never a shifted
table). Empty or ``nan`` fields are read as NaN in their own column, so a column of NaN round-trips
through the writers and readers. A file cut short (last line incomplete, or fewer rows than the header
promises) is reported as truncated.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.errors import ReleaseFormatError
from simspine_hub.io.files import write_text

__all__ = ["read_trc", "write_trc", "read_mot", "write_mot", "write_sto", "read_table"]


# --- the numeric table under a header ------------------------------------------------------------------
def read_table(path: str | os.PathLike, skip_rows: int, columns: list[str]) -> tuple[np.ndarray, bool]:
    """Numeric tab-separated rows after ``skip_rows`` header lines -> ((rows, len(columns)) float64, truncated).

    Args:
        path: the file.
        skip_rows: header lines before the first numeric row.
        columns: the name of every column the header declares (used for the width check and in errors).

    Empty and ``nan`` fields become NaN. ``truncated`` is True when the last line is incomplete (no final
    newline); that line is then left out. Raises :class:`ReleaseFormatError` when a row is narrower or
    wider than ``columns`` (trailing empty fields, as some exporters write, are allowed).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    bad: list = []

    def on_invalid(row) -> str:
        bad.append(row)
        return "skip"

    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(skip_rows=skip_rows, autogenerate_column_names=True, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter="\t", invalid_row_handler=on_invalid))
    truncated = _ends_without_newline(path)
    width = len(columns)
    if bad and not (truncated and len(bad) == 1 and bad[0].text == _last_line(path)):
        row = bad[0]
        _raise_width(path, row.number, row.actual_columns, row.expected_columns, columns)
    cols = [c.cast(pa.float64()).to_numpy(zero_copy_only=False) for c in table.columns]
    while len(cols) > width and table.column(len(cols) - 1).null_count == table.num_rows:
        cols.pop()                                                     # trailing empty fields
    if len(cols) != width and table.num_rows:
        _raise_width(path, skip_rows + 1, len(cols), width, columns)
    out = np.column_stack(cols) if cols else np.empty((table.num_rows, width))
    if truncated and not bad and len(out):                             # last row complete in width, cut in a number
        out = out[:-1]
    return np.asarray(out, dtype=np.float64).reshape(-1, width), truncated


def _raise_width(path: Path, line: int | None, got: int, expected_width: int, columns: list[str]) -> None:
    where = f"line {line}" if line else "a row"
    if got < len(columns):
        raise ReleaseFormatError(f"{path}: {where} has {got} values but the header names {len(columns)} columns; "
                                 f"column {columns[got]!r} (and any after it) is missing. Fix or re-export the file")
    raise ReleaseFormatError(f"{path}: {where} has {got} values but the header names {len(columns)} columns "
                             f"(first row: {expected_width}); re-export the file")


def _ends_without_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 1))
        return f.read(1) not in (b"\n", b"")


def _last_line(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 65536))
        return f.read().decode(errors="replace").rsplit("\n", 1)[-1].rstrip("\r")


# --- TRC -------------------------------------------------------------------------------------------------
def write_trc(path: str | os.PathLike, names: list[str] | tuple[str, ...], positions: np.ndarray,
              rate: float, start_time: float = 0.0, units: str = "m") -> None:
    """Write an OpenSim TRC file (NaN written as ``nan``).

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
    """Read a TRC file -> (names, timestamps (T,) s, positions (T, K, 3) in ``units``, units)."""
    path = Path(path)
    if not path.is_file():
        raise ReleaseFormatError(f"{path}: TRC file not found")
    try:
        with open(path) as f:
            lines = [f.readline() for _ in range(5)]
        header_values = lines[2].rstrip("\n").split("\t")
        units, num_frames = header_values[4].strip(), int(header_values[2])
        names = [n.strip() for n in lines[3].rstrip("\n").split("\t")[2:] if n.strip()]
    except (OSError, IndexError, ValueError) as exc:
        raise ReleaseFormatError(f"{path}: not a readable TRC header ({exc}); re-export it or "
                                 "re-download the release") from exc
    columns = ["Frame#", "Time"] + [f"{n} {axis}" for n in names for axis in "XYZ"]
    data, truncated = _read_or_raise(path, 5, columns, "TRC")
    if truncated or len(data) != num_frames:
        raise ReleaseFormatError(f"{path}: {len(data)} complete rows of {num_frames} frames (NumFrames); "
                                 "the file is truncated, re-download it")
    return names, data[:, 1], data[:, 2:].reshape(len(data), len(names), 3), units


def _read_or_raise(path: Path, skip_rows: int, columns: list[str], kind: str) -> tuple[np.ndarray, bool]:
    try:
        return read_table(path, skip_rows, columns)
    except ReleaseFormatError:
        raise
    except Exception as exc:  # pyarrow raises assorted errors on non-numeric or binary content
        raise ReleaseFormatError(f"{path}: not a readable {kind} table ({type(exc).__name__}: {exc}); "
                                 "re-export it or re-download the release") from exc


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


def _storage_header(path: Path) -> tuple[int, int | None, bool]:
    """(header lines before the column names, nRows or None, inDegrees) of an OpenSim storage file."""
    in_degrees, n_rows = True, None
    with open(path) as f:
        for n_head, line in enumerate(f, 1):
            key, _, value = line.strip().partition("=")
            if key.lower() == "nrows":
                n_rows = int(value)
            elif key.lower() == "indegrees":
                in_degrees = value.strip().lower() == "yes"
            elif line.strip().lower() == "endheader":
                return n_head, n_rows, in_degrees
    raise ReleaseFormatError(f"{path}: no 'endheader' line; not an OpenSim storage file")


def read_mot(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a ``.mot``/``.sto`` -> (column names, time (T,) s, values (T, C)).

    Rotational kinematic axes of a file with ``inDegrees=no`` are converted to degrees, so coordinates
    are always degrees for rotations and metres for translations; other columns are returned as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise ReleaseFormatError(f"{path}: MOT/STO file not found")
    try:
        n_head, n_rows, in_degrees = _storage_header(path)
        with open(path) as f:
            for _ in range(n_head):
                f.readline()
            header = [c.strip() for c in f.readline().rstrip("\n").split("\t")]
    except (OSError, ValueError) as exc:
        if isinstance(exc, ReleaseFormatError):
            raise
        raise ReleaseFormatError(f"{path}: unreadable header ({exc}); re-download the file") from exc
    while header and not header[-1]:
        header.pop()                                                   # a trailing tab after the last name
    values, truncated = _read_or_raise(path, n_head + 1, header, "MOT/STO")
    if truncated or (n_rows is not None and len(values) != n_rows):
        raise ReleaseFormatError(f"{path}: {len(values)} complete rows (header says nRows={n_rows}); "
                                 "the file is truncated, re-download it")
    columns = header[1:]
    if not in_degrees:
        rot = [i for i, c in enumerate(columns) if c in skeleton.KINEMATIC_AXES and c not in skeleton.TRANSLATION_AXES]
        values[:, 1:][:, rot] = np.rad2deg(values[:, 1:][:, rot])
    return columns, values[:, 0], values[:, 1:]
