"""The error raised for a missing or malformed SIMSPINE release file (TRC, MOT/STO, TOML, HDF5, parquet).

It derives from ``ValueError`` so that callers (and the ``simspine`` CLI, which prints one line and exits 2)
can catch it with the other input errors; its message names the file (and dataset path) and the fix.
"""

from __future__ import annotations

__all__ = ["ReleaseFormatError"]


class ReleaseFormatError(ValueError):
    """A SIMSPINE release file is missing or malformed; the message names the path and the fix."""
