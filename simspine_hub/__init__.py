"""simspine-hub: the Hugging Face-native way to use SIMSPINE (dataset, simulation, models, benchmark)."""

__version__ = "0.1.0"
