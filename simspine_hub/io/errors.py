"""The errors raised for missing or malformed input files: the SIMSPINE release and Human3.6M.

They derive from ``ValueError`` so that callers (and the ``simspine`` CLI, which prints one line and exits 2)
can catch them with the other input errors; each message names the file (and dataset path) and the fix.
"""

from __future__ import annotations

__all__ = ["ReleaseFormatError", "H36MFormatError"]


class ReleaseFormatError(ValueError):
    """A SIMSPINE release file is missing or malformed; the message names the path and the fix."""


class H36MFormatError(ValueError):
    """A Human3.6M file or folder is missing or malformed; the message names the path and the fix."""
