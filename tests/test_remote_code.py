"""Hub checkpoints load with transformers alone: save_pretrained writes auto_map and the modelling code, and a
Python that cannot import simspine_hub loads the folder with trust_remote_code=True and computes the same outputs."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

import simspine_hub.models  # noqa: F401  (registers the Auto classes)
from simspine_hub.models import create_model

ROOT = Path(__file__).resolve().parents[1]

#: run with ``python -I`` (no PYTHONPATH, no user site, no script folder) from an empty folder; a meta-path
#: finder refuses simspine_hub too, in case the environment has it installed (e.g. editable)
_LOADER = textwrap.dedent("""
    import sys

    class _Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "simspine_hub" or name.startswith("simspine_hub."):
                raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)")

    sys.meta_path.insert(0, _Refuse())
    try:
        import simspine_hub  # noqa: F401
        raise SystemExit("simspine_hub is importable: the test proves nothing")
    except ImportError:
        pass
    import json

    import numpy as np
    import torch
    from transformers import AutoModel

    out = {}
    for folder, arg, npy in json.loads(sys.argv[1]):
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            res = model(**{arg: torch.from_numpy(np.load(npy))})
        first = next(v for v in res.values() if isinstance(v, torch.Tensor))
        np.save(npy.replace(".npy", ".out.npy"), first.numpy())
        out[folder] = type(model).__module__
    assert not [m for m in sys.modules if m.startswith("simspine_hub")]
    print(json.dumps(out))
""")


def test_saved_folders_load_where_simspine_hub_is_not_installed(tmp_path):
    cases = {"spinepose-s": ("pixel_values", (1, 3, 256, 192)), "lifter-spine15": ("keypoints_2d", (2, 15, 2))}
    jobs, refs = [], {}
    for name, (arg, shape) in cases.items():
        folder = tmp_path / name
        model = create_model(name).eval()
        model.save_pretrained(folder)
        files = sorted(p.name for p in folder.iterdir())
        family = type(model).__module__.rsplit(".", 1)[-1]
        assert f"{family}.py" in files and "_base.py" in files and "_registry.py" in files, files
        cfg = json.loads((folder / "config.json").read_text())
        assert cfg["auto_map"] == {"AutoConfig": f"{family}.{type(model.config).__name__}",
                                   "AutoModel": f"{family}.{type(model).__name__}"}
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        np.save(tmp_path / f"{name}.npy", x.numpy())
        with torch.no_grad():
            refs[name] = next(v for v in model(**{arg: x}).values() if isinstance(v, torch.Tensor)).numpy()
        jobs.append((str(folder), arg, str(tmp_path / f"{name}.npy")))
    empty = tmp_path / "cwd"
    empty.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HF_HUB_OFFLINE": "1",
           "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HOME": str(tmp_path / "hf")}
    res = subprocess.run([sys.executable, "-I", "-c", _LOADER, json.dumps(jobs)], cwd=empty, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    modules = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(m.startswith("transformers_modules.") for m in modules.values()), modules
    for name in cases:
        assert np.array_equal(np.load(tmp_path / f"{name}.out.npy"), refs[name]), name


def test_remote_code_does_not_replace_the_installed_classes(tmp_path):
    """Loading a folder as remote code in a process that has simspine_hub keeps AutoModel on the package's class
    (the registry's global registrations are skipped in the remote copy)."""
    create_model("lifter-spine15").save_pretrained(tmp_path / "m")
    code = textwrap.dedent(f"""
        from transformers import AutoModel
        from transformers.dynamic_module_utils import get_class_from_dynamic_module
        import simspine_hub.models
        from simspine_hub.models.lifter import SimpleBaseline3D
        # import the folder's copy of lifter.py (runs its registration lines, as remote code)
        remote = get_class_from_dynamic_module("lifter.SimpleBaseline3D", {str(tmp_path / "m")!r})
        assert remote.__module__.startswith("transformers_modules.") and remote is not SimpleBaseline3D
        for trust in (False, True):
            got = AutoModel.from_pretrained({str(tmp_path / "m")!r}, trust_remote_code=trust)
            assert type(got) is SimpleBaseline3D, (trust, type(got).__module__)
        assert "lifter-spine15" in simspine_hub.models.list_models()
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def test_push_to_hub_stages_the_modelling_code(tmp_path):
    create_model("spinepose-s").save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "rtmpose.py").unlink()            # a folder saved before the code was written
    res = subprocess.run([sys.executable, "tools/push_to_hub.py", "--model-dir", str(tmp_path / "m"), "--card",
                          "spinepose-s", "--repo-id", "someone/spinepose-s", "--dry-run"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("rtmpose.py", "_base.py", "_registry.py", "_constants.py", "config.json", "model.safetensors",
                 "README.md"):
        assert f"  {name}  " in res.stdout, (name, res.stdout)
