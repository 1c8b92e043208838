"""Read a release (or a ``simspine simulate`` output) and compute the validity study's per-frame quantities.

:func:`run_study` walks every sequence once, vectorised over its frames: curvature (marker proxies and
the Cobb LLA, :mod:`simspine_hub.analysis.curvature`), the lumbar and neck coordinates (for ROM,
:mod:`simspine_hub.analysis.rom`) and the body-frame upper-body positions (densities,
:mod:`simspine_hub.analysis.density`). Per-frame values are kept as float32 arrays with action / subject /
sequence indices; :mod:`simspine_hub.analysis.tables` turns them into the paper's tables.

Sources: anything the dataset builder reads (raw release folder, ``.h5``, parquet folder, hub dataset id),
which includes a ``simspine simulate`` output folder (raw layout + ``qc/``). Optionally a Human3.6M root adds
the arms (and hips) of its ``D3_Positions`` to the 15 released spine points.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub import skeleton
from simspine_hub.analysis import curvature
from simspine_hub.analysis.density import UPPER_BODY, DensityMaps, heading_frame, to_body_frame
from simspine_hub.analysis.rom import LUMBAR_COLUMNS, neck_angles
from simspine_hub.io import h36m, release

log = logging.getLogger(__name__)

__all__ = ["AnalysisError", "SequenceInfo", "Study", "open_source", "run_study", "action_of"]

#: Action order of the paper's Table B2; other actions follow alphabetically.
PAPER_ACTION_ORDER = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
                      "Purchases", "Sitting", "SittingDown", "Smoking", "TakingPhoto", "Waiting", "WalkDog",
                      "WalkTogether", "Walking", "WalkingDog")


class AnalysisError(ValueError):
    """The analysis cannot run on this input; the message names the file or argument and the fix."""


@dataclass
class SequenceInfo:
    """One analysed sequence: where its frames sit in the :class:`Study` arrays and how it was measured."""

    subject: str
    stem: str
    action: str
    start: int
    frames: int
    plane: str                       # sagittal plane of the marker proxies: "LHip/RHip" or "pelvis orientation (FK)"
    model: str                       # the .osim used for forward kinematics


@dataclass
class Study:
    """Per-frame results of :func:`run_study` (N frames in all; degrees, float32)."""

    source: str
    label: str
    form: str                                     # raw / hdf5 / parquet
    sequences: list[SequenceInfo]
    actions: list[str]
    subjects: list[str]
    action_idx: np.ndarray                        # (N,) index into actions
    subject_idx: np.ndarray                       # (N,) index into subjects
    lla: np.ndarray                               # (N,) marker-proxy LLA
    tka: np.ndarray                               # (N,) marker-proxy TKA
    cobb: np.ndarray                              # (N,) Cobb dLLA (change from the model's neutral)
    neck: np.ndarray                              # (N, 3) flexion (+flex), bending, rotation
    lumbar: np.ndarray                            # (N, 6, 3) lumbar coordinates [level, dof]
    density: DensityMaps
    arms: bool                                    # whether shoulders/elbows/wrists were available
    qc: list[dict] = field(default_factory=list)  # QC reports of a simulation output (rejected sequences too)
    root: Path | None = None                      # the release folder (or the .h5's folder)

    @property
    def frames(self) -> int:
        return len(self.lla)


def action_of(stem: str) -> str:
    """Action of a sequence stem: the Human3.6M action name (``"TakingPhoto 1"`` -> ``"Photo"``) or the stem."""
    try:
        return h36m.parse_sequence_name(stem)[0]
    except ValueError:
        return stem


def open_source(source: str | os.PathLike):
    """A release reader for ``source`` (raw folder, .h5, parquet folder, hub id); checks it has kinematics."""
    from simspine_hub.dataset.inputs import resolve_annotations

    spec = str(source)
    if not Path(spec).expanduser().exists() and (spec.startswith((".", "/", "~")) or spec.count("/") != 1):
        raise AnalysisError(f"{spec}: no such release; pass a raw release folder, a .h5 file, a parquet folder, "
                            "a hub dataset id (owner/name) or a `simspine simulate` output folder")
    path = resolve_annotations(spec)
    if path.is_dir() and (path / "positions").is_dir() and not (path / "kinematics").is_dir():
        raise AnalysisError(f"{path}: this release has positions/ but no kinematics/ folder; the analysis needs "
                            "the 62 kinematic axes (<S>_<ACTION>.mot per sequence) of the release")
    return release.open_release(path)


def _read(rel, subject: str, stem: str):
    try:
        seq = rel.read(subject, stem)
    except (OSError, KeyError, release.ReleaseFormatError) as exc:
        raise AnalysisError(f"{rel.path}: cannot read sequence {subject}/{stem} (markers and the 62 kinematic "
                            f"axes): {exc}") from exc
    if len(seq.markers) == 0 or len(seq.kinematics) == 0:
        raise AnalysisError(f"{rel.path}: sequence {subject}/{stem} (action {action_of(stem)}) has no frames; "
                            "remove it or re-export it")
    if seq.kinematics.shape[1] != skeleton.NUM_AXES or not np.isfinite(seq.kinematics).any():
        raise AnalysisError(f"{rel.path}: sequence {subject}/{stem} has no kinematics ({seq.kinematics.shape}, "
                            "no finite value); the analysis needs the 62 kinematic axes")
    return seq


def _model(rel, subject: str, cache: dict):
    """(model, generic): the subject's scaled model when the release has it, else the paper's generic model."""
    from simspine_hub.osim.model import SpineModel

    try:
        path = Path(rel.model_path(subject))
        path = path if path.is_file() else None
    except (release.ReleaseFormatError, KeyError, OSError):          # parquet, or no model recorded
        path = None
    if path not in cache:
        cache[path] = SpineModel(path)
    return cache[path], path is None


def _join_limbs(seq, data, markers: np.ndarray, ids: list[int]) -> tuple[np.ndarray, list[int]]:
    """Add Human3.6M limb joints (world mm) missing from the release: (T, K', 3), ids."""
    try:
        j32 = data.read_3d(seq.subject, seq.stem)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s/%s: no Human3.6M limbs (%s); analysed with the released points only", seq.subject,
                    seq.stem, exc)
        return markers, ids
    n = min(len(markers), len(j32))
    add = [k for k in skeleton.H36M_TO_LIMB if k not in ids]
    limbs = j32[:n, [skeleton.H36M_TO_LIMB[k] for k in add]].astype(np.float64)
    joined = np.concatenate([markers[:n], limbs], axis=1)
    if n < len(markers):
        joined = np.concatenate([joined, np.full((len(markers) - n, *joined.shape[1:]), np.nan)])
    return joined, ids + add


def _plan(rel, subjects, actions) -> list[tuple[str, str]]:
    have = rel.subjects()
    if subjects:
        unknown = [s for s in subjects if s not in have]
        if unknown:
            raise AnalysisError(f"{rel.path}: subjects {unknown} not in the release (it has {have})")
    jobs = [(s, stem) for s in (subjects or have) for stem in rel.sequences(s)]
    if actions:
        jobs = [(s, stem) for s, stem in jobs if action_of(stem) in set(actions)]
    if not jobs:
        what = f" for actions {list(actions)}" if actions else ""
        raise AnalysisError(f"{rel.path}: no sequences to analyse{what} (subjects {subjects or have})")
    return jobs


def _sequence(seq, model, data, density: DensityMaps) -> tuple[dict, str, bool]:
    """Per-frame quantities of one sequence (see :class:`Study`)."""
    markers, ids = seq.markers, list(seq.keypoints)
    if data is not None:
        markers, ids = _join_limbs(seq, data, markers, ids)
    n = min(len(markers), len(seq.kinematics))
    markers, kin = markers[:n], seq.kinematics[:n]
    rot = curvature.segment_orientations(model, np.nan_to_num(kin))
    right, forward = curvature.pelvis_axes(rot["pelvis"])
    bad = ~np.isfinite(kin).all(1)                                   # QC gaps: NaN frames stay NaN
    lla, tka, plane = curvature.marker_proxies(markers, ids, right)
    cobb = curvature.cobb_lla(rot["sacrum"], rot["lumbar1"])
    cobb[bad] = np.nan
    pos = {k: i for i, k in enumerate(ids)}
    upper = [k for k in UPPER_BODY if k in pos]
    body = to_body_frame(markers[:, [pos[k] for k in upper]], markers[:, pos[skeleton.ROOT]],
                         heading_frame(right, forward))
    body[bad] = np.nan
    density.add(action_of(seq.stem), body, upper)
    out = {"lla": lla, "tka": tka, "cobb": cobb, "neck": neck_angles(kin),
           "lumbar": kin[:, LUMBAR_COLUMNS]}
    return {k: np.asarray(v, np.float32) for k, v in out.items()}, plane, skeleton.index_of("LWrist") in pos


def _ordered(names) -> list[str]:
    known = [a for a in PAPER_ACTION_ORDER if a in names]
    return known + sorted(set(names) - set(known))


def read_qc(root: Path | None, subjects: list[str], actions: list[str] | None = None) -> list[dict]:
    """QC reports ``<root>/qc/<S>_<ACTION>.json`` of a simulation output for the given subjects (and actions).

    Every report counts, also those of sequences the pipeline rejected whole (no TRC/MOT written, only the
    JSON). Returns [] when ``root`` has no ``qc/`` folder (a release).
    """
    if root is None or not (root / "qc").is_dir():
        return []
    out = []
    for path in sorted((root / "qc").glob("*.json")):
        subject, _, rest = path.stem.partition("_")
        if subject not in subjects or (actions and action_of(release.stem_from_key(rest)) not in actions):
            continue
        try:
            rep = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise AnalysisError(f"{path}: unreadable QC report ({exc})") from exc
        if "frames" not in rep or "rejected" not in rep:
            raise AnalysisError(f"{path}: not a QC report of `simspine simulate` (no frames/rejected counts)")
        out.append({"key": path.stem, **rep})
    return out


def run_study(source: str | os.PathLike, h36m_root: str | os.PathLike | None = None,
              subjects: list[str] | None = None, actions: list[str] | None = None, label: str = "",
              progress: bool = True) -> Study:
    """Compute the per-frame quantities of every sequence of ``source`` (see module docstring)."""
    rel = open_source(source)
    data = h36m.Human36M(h36m_root) if h36m_root is not None else None
    jobs = _plan(rel, subjects, actions)
    models: dict = {}
    density = DensityMaps()
    parts, infos, arms, start = [], [], False, 0
    for subject, stem in tqdm(jobs, desc="analyse", unit="seq", disable=not progress):
        seq = _read(rel, subject, stem)
        model, generic = _model(rel, subject, models)
        values, plane, has_arms = _sequence(seq, model, data, density)
        arms |= has_arms
        n = len(values["lla"])
        infos.append(SequenceInfo(subject, stem, action_of(stem), start, n, plane,
                                  str(model.path) + (" (generic: no subject model in the release)" if generic else "")))
        parts.append(values)
        start += n
    acts = _ordered({i.action for i in infos})
    subs = list(dict.fromkeys(s for s, _ in jobs))
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    a_idx = np.repeat([acts.index(i.action) for i in infos], [i.frames for i in infos]).astype(np.int32)
    s_idx = np.repeat([subs.index(i.subject) for i in infos], [i.frames for i in infos]).astype(np.int32)
    root = rel.path if rel.path.is_dir() else rel.path.parent
    qc = read_qc(root, subs, actions)
    return Study(source=str(source), label=label, form=rel.kind, sequences=infos, actions=acts, subjects=subs,
                 action_idx=a_idx, subject_idx=s_idx, density=density, arms=arms, qc=qc, root=root, **cat)
