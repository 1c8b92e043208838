"""Training recipes as data: YAML files in ``simspine_hub/training/recipes/``, every value with its source.

A recipe file holds a few sections of ``key: {value: ..., source: "..."}`` leaves::

    name: lifter-full37
    task: lifting
    description: ...
    model:     {variant, hidden, ...}          the model family's config fields
    data:      {sample_hz, ...}                what the data loader reads
    schedule:  {type, step_size, gamma}        the learning-rate schedule (``step``, or a transformers name)
    training:  {learning_rate, ...}            transformers.TrainingArguments fields, passed through

``source`` names where a default comes from: the SIMSPINE paper (a section), Martinez et al.'s
SimpleBaseline3D, or "own choice". Overrides (command-line flags) are recorded with the source
``"command line"``, so the recipe saved next to a trained model says what was actually run.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Recipe", "RecipeError", "load_recipe", "list_recipes", "RECIPE_DIR", "SECTIONS"]

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
SECTIONS = ("model", "data", "schedule", "training")
_HEADER = ("name", "task", "description")


class RecipeError(ValueError):
    """A recipe file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: ``values[section][key]`` and ``sources[section][key]``."""

    name: str
    task: str
    description: str
    values: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, str]]
    path: str = ""

    def section(self, name: str) -> dict[str, Any]:
        """A copy of one section's values."""
        return dict(self.values.get(name, {}))

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.values.get(section, {}).get(key, default)

    def override(self, section: str, source: str = "command line", **values: Any) -> Recipe:
        """A new recipe with ``values`` set in ``section`` (None values are skipped), sourced as ``source``."""
        if section not in SECTIONS:
            raise RecipeError(f"recipe {self.name}: unknown section {section!r}; sections are {SECTIONS}")
        new_values, new_sources = copy.deepcopy(self.values), copy.deepcopy(self.sources)
        for key, value in values.items():
            if value is None:
                continue
            new_values.setdefault(section, {})[key] = value
            new_sources.setdefault(section, {})[key] = source
        return Recipe(self.name, self.task, self.description, new_values, new_sources, self.path)

    def rows(self) -> list[tuple[str, Any, str]]:
        """(``section.key``, value, source) for every entry, for tables in model cards."""
        return [(f"{s}.{k}", v, self.sources[s][k]) for s in SECTIONS for k, v in self.values.get(s, {}).items()]

    def to_yaml(self) -> str:
        """The recipe in its file format (values with their sources)."""
        import yaml

        doc: dict[str, Any] = {"name": self.name, "task": self.task, "description": self.description}
        for s in SECTIONS:
            if s in self.values:
                doc[s] = {k: {"value": v, "source": self.sources[s][k]} for k, v in self.values[s].items()}
        return yaml.safe_dump(doc, sort_keys=False, width=110)


def list_recipes() -> list[str]:
    """Names of the recipes shipped with the package."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """Load a shipped recipe by name (``lifter-full37``) or any recipe file by path."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise RecipeError(f"recipe {str(name_or_path)!r} not found (looked for {path}); shipped recipes: "
                          f"{list_recipes()}, or pass a .yaml path")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise RecipeError(f"{path}: expected a mapping with {_HEADER} and sections {SECTIONS}")
    missing = [k for k in _HEADER if not isinstance(doc.get(k), str)]
    unknown = sorted(set(doc) - set(_HEADER) - set(SECTIONS))
    if missing or unknown:
        raise RecipeError(f"{path}: " + "; ".join(
            ([f"missing {missing}"] if missing else []) + ([f"unknown keys {unknown}"] if unknown else []))
            + f"; a recipe has {_HEADER} and the sections {SECTIONS}")
    values: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, str]] = {}
    for section in SECTIONS:
        for key, leaf in (doc.get(section) or {}).items():
            if not (isinstance(leaf, dict) and set(leaf) == {"value", "source"} and isinstance(leaf["source"], str)
                    and leaf["source"].strip()):
                raise RecipeError(f"{path}: {section}.{key} must be {{value: ..., source: \"where it comes from\"}}; "
                                  f"got {leaf!r}")
            values.setdefault(section, {})[key] = leaf["value"]
            sources.setdefault(section, {})[key] = leaf["source"]
    return Recipe(doc["name"], doc["task"], doc["description"], values, sources, str(path))
