"""What needs OpenSim itself: its ``Model.scale`` and loading a model into OpenSim (the ``opensim`` extra).

Models travel as .osim bytes (the XML :class:`~simspine_hub.osim.model.SpineModel` holds); OpenSim reads and
writes them through a temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from simspine_hub.osim.backend import require_opensim

__all__ = ["scale_uniformly", "load_opensim_model"]


def load_opensim_model(text: bytes):
    """.osim bytes -> (``opensim.Model``, its initialised ``State``). Needs the ``opensim`` extra."""
    osim = require_opensim("loading a model into OpenSim")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.osim"
        path.write_bytes(text)
        model = osim.Model(str(path))
    model.finalizeConnections()
    return model, model.initSystem()


def scale_uniformly(text: bytes, factor: float, mass_kg: float | None = None) -> bytes:
    """Scale every body of the .osim ``text`` by ``factor`` with OpenSim's ``Model.scale`` (joints, markers
    and translation functions follow) and set the total mass (kg; ``None`` keeps mass per volume as OpenSim
    does with ``preserveMassDist``). Returns the scaled model as OpenSim writes it."""
    if not factor > 0:
        raise ValueError(f"scale factor must be positive, got {factor}")
    osim = require_opensim("scaling a model (OpenSim's Model.scale)")
    model, state = load_opensim_model(text)
    scale_set = osim.ScaleSet()
    bodies = model.getBodySet()
    for i in range(bodies.getSize()):
        s = osim.Scale()
        s.setSegmentName(bodies.get(i).getName())
        s.setScaleFactors(osim.Vec3(factor, factor, factor))
        s.setApply(True)
        scale_set.cloneAndAppend(s)
    model.scale(state, scale_set, True, -1.0 if mass_kg is None else float(mass_kg))
    model.initSystem()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scaled.osim"
        model.printToXML(str(out))
        return out.read_bytes()
