"""SIMSPINE loading script for ``datasets`` < 4 (which still runs loading scripts).

    datasets.load_dataset("path/to/loading_scripts/simspine", "full37",
                          h36m_root="/data/h36m", annotations="/data/simspine")

On ``datasets`` >= 4 loading scripts are refused; use ``simspine_hub.load_dataset("simspine", ...)``,
which instantiates the same builder class. This module only re-exports it (install simspine-hub first).
"""

from simspine_hub.dataset.builder import SimspineBuilder, SimspineConfig


class Simspine(SimspineBuilder):
    """The SIMSPINE builder (see ``simspine_hub.dataset.builder``)."""


__all__ = ["Simspine", "SimspineConfig"]
