"""simspine-hub: the Hugging Face-native way to use SIMSPINE (dataset, simulation, models, benchmark).

Importing the package is cheap (numpy only); ``import simspine_hub.models`` registers the models with
transformers' Auto classes.
"""

__version__ = "0.1.0"
__all__ = ["load_dataset", "__version__"]


def __getattr__(name: str):  # lazy: importing the package stays cheap
    if name == "load_dataset":
        from simspine_hub.dataset.builder import load_dataset

        return load_dataset
    raise AttributeError(f"module 'simspine_hub' has no attribute {name!r}")
