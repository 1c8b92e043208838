"""The one door to the OpenSim Python API, which is optional (``pip install "simspine-hub[opensim]"``).

Forward kinematics, couplers and markers are read from the ``.osim`` XML and need no OpenSim; OpenSim's own
scaling (``Model.scale``) and its ``InverseKinematicsTool`` do. :func:`require_opensim` imports it, silences
its log file, and otherwise raises :class:`OpenSimMissingError` with the one message naming the extra.
"""

from __future__ import annotations

from types import ModuleType

from simspine_hub.io.files import quiet_stdout

__all__ = ["MissingExtraError", "OpenSimMissingError", "require_opensim", "quiet_stdout", "OPENSIM_EXTRA"]

OPENSIM_EXTRA = 'pip install "simspine-hub[opensim]"'


class MissingExtraError(ImportError):
    """An optional dependency of the step asked for is not installed; the message names the extra."""


class OpenSimMissingError(MissingExtraError):
    """OpenSim's Python package is not installed (it is the ``opensim`` extra)."""


def require_opensim(what: str = "this step") -> ModuleType:
    """``import opensim`` (logging to the console only, errors only) or raise :class:`OpenSimMissingError`."""
    try:
        import opensim
    except ImportError as exc:
        raise OpenSimMissingError(
            f"{what} needs OpenSim's Python package, which is not installed: {OPENSIM_EXTRA} "
            "(wheels for CPython 3.11-3.13 on Linux x86_64 and Windows), or use conda's opensim-org::opensim. "
            "Forward kinematics, the dataset builder and the batched IK need no OpenSim.") from exc
    opensim.Logger.setLevelString("error")
    opensim.Logger.removeFileSink()           # no opensim.log in the user's working directory
    return opensim
