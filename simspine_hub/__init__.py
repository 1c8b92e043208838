"""simspine-hub: the Hugging Face-native way to use SIMSPINE (dataset, simulation, models, benchmark)."""

__version__ = "0.1.0"
__all__ = ["load_dataset", "__version__"]

from . import _autoreg

_autoreg.install()  # models reach transformers' Auto classes once transformers is imported (no torch here)


def __getattr__(name: str):  # lazy: importing the package stays cheap
    if name == "load_dataset":
        from .builder import load_dataset

        return load_dataset
    raise AttributeError(f"module 'simspine_hub' has no attribute {name!r}")
