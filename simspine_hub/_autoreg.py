"""Register simspine_hub's models with transformers' Auto classes as soon as transformers is imported.

``import simspine_hub`` must stay cheap (the CLI and the dataset builder never need torch), yet
``AutoModel.from_pretrained(folder)`` must resolve our model types afterwards. So: if transformers is
already imported we register now; otherwise a one-shot import hook registers right after the first
``import transformers`` completes.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys

log = logging.getLogger(__name__)


def _register() -> None:
    try:
        from .models import register_auto

        register_auto()
    except Exception as exc:  # torch/timm missing: the models are simply unavailable
        log.debug("simspine_hub models not registered with transformers: %s", exc)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "transformers":
            return None
        sys.meta_path.remove(self)                      # one shot; find the real spec without us
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if "transformers" in sys.modules:
        _register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
