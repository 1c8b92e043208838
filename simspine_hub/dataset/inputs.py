"""Where a build's inputs are, and a fingerprint of them so that a cached build never outlives its inputs.

The fingerprint hashes (path, size, modification time) of every file a config reads: the release (every
file of a raw folder, or the .h5 with the models next to it), the Human3.6M ``D3_Positions`` of the chosen
subjects and ``camera-parameters.json`` (plus the videos with ``decode_frames``), and the H3WB file. The
builder puts it into its cache key: change an input file and the next ``load_dataset`` builds afresh.
A hub dataset id is fingerprinted by the id (hub snapshots are immutable per revision).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from simspine_hub.dataset.config import SimspineConfig, SimspineDataError
from simspine_hub.io import release

__all__ = ["resolve_annotations", "input_files", "input_fingerprint"]


def resolve_annotations(spec: str) -> Path:
    """Local path of the annotations: a local path as is, or a hub dataset id via ``huggingface_hub``."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if _is_hub_id(spec):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(spec, repo_type="dataset"))
        except Exception as exc:
            raise SimspineDataError(f"annotations={spec!r}: not a local path, and the hub dataset could not be "
                                    f"fetched ({type(exc).__name__}: {exc}); check the id, your access to the "
                                    "gated repo, or pass a local folder") from exc
    raise SimspineDataError(f"annotations={spec!r}: path not found; pass a SIMSPINE release folder, .h5 "
                            "file, parquet folder or hub dataset id")


def _is_hub_id(spec: str) -> bool:
    return spec.count("/") == 1 and not spec.startswith((".", "/", "~"))


def input_files(cfg: SimspineConfig) -> list[Path]:
    """Every local file the build of ``cfg`` reads (that exists now), sorted."""
    files: list[Path] = []
    if cfg.annotations is not None:
        ann = Path(cfg.annotations).expanduser()
        files += release.input_files(ann)
        if ann.is_file():                                     # the .h5 form: its models sit beside it
            files += sorted((ann.parent / "models").glob("*.osim"))
    if cfg.name != "spine15" and cfg.h36m_root is not None:
        root = Path(cfg.h36m_root).expanduser()
        files.append(root / "camera-parameters.json")
        for subject in cfg.train_subjects + cfg.test_subjects:
            files += sorted((root / subject / "MyPoseFeatures" / "D3_Positions").glob("*.cdf"))
            if cfg.decode_frames:
                files += sorted((root / subject / "Videos").glob("*.mp4"))
    if cfg.h3wb_root is not None:
        h3wb = Path(cfg.h3wb_root).expanduser()
        files.append(h3wb / "h3wb_train.npz" if h3wb.is_dir() else h3wb)
    return sorted({f for f in files if f.is_file()})


def input_fingerprint(cfg: SimspineConfig) -> str:
    """16 hex digits over (path, size, mtime) of :func:`input_files` (and a hub id as given)."""
    entries: list = []
    if cfg.annotations is not None and not Path(cfg.annotations).expanduser().exists() and _is_hub_id(cfg.annotations):
        entries.append(["hub", cfg.annotations])
    for f in input_files(cfg):
        st = f.stat()
        entries.append([str(f), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]
