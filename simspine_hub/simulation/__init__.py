"""The paper's simulation stages on the real OpenSim model (issue 4 grows this package)."""

from simspine_hub.osim.model import SpineModel, model_file

__all__ = ["SpineModel", "model_file"]
