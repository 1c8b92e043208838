"""The package's layers point one way along the data flow (README, "How the code is organised")."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "simspine_hub"

#: Bottom to top. A module may import from its own layer and from layers listed before it.
LAYERS = ("skeleton", "units", "geometry", "io", "osim", "simulation", "dataset", "models", "benchmark",
          "training", "analysis", "twin", "apps")


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "simspine_hub" else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every simspine_hub module a file imports (at any depth: lazy imports count too; relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return [(ln, m) for ln, m in found if m.startswith("simspine_hub")]


def test_every_top_level_module_belongs_to_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and not p.name.startswith("__")}
    assert names <= set(LAYERS), f"modules outside the layer list: {sorted(names - set(LAYERS))}"


def test_imports_point_one_way():
    bad = []
    for path in PKG.rglob("*.py"):
        own = _layer(_module_name(path))
        if own not in LAYERS:         # simspine_hub/__init__.py, __main__.py
            continue
        for line, target in _imports(path):
            other = _layer(target)
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(own):
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({own}) imports {target} ({other})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_importing_the_package_stays_cheap():
    code = ("import sys, simspine_hub, simspine_hub.dataset.builder, simspine_hub.simulation.pipeline; "
            "print(sorted(m for m in ('torch', 'transformers', 'opensim', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"heavy modules imported by the data/simulation layers: {out}"


def test_every_public_name_exists():
    """``__all__`` lists names the module defines (an out-of-date ``__all__`` breaks ``from m import *``)."""
    stale = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        defined = set()
        exported = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            defined.add(n.id)
                            if n.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                                exported = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        stale += [f"{path.relative_to(PKG.parent)}: {name}" for name in exported if name not in defined]
    assert not stale, "names in __all__ that the module does not define:\n" + "\n".join(stale)
