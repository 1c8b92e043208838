"""The study's tables: Table B2 (curvature by action and by subject), ROM, neck ranges, flags and QC.

Statistics are over frames, NaN frames (QC gaps) left out. The paper's "Avg" rows are the mean of the group
means +- the mean of the group SDs (that reproduces its Table B2: 36.20 +- 2.95 from the 17 action rows);
the pooled mean +- SD over all frames is given beside it.

Literature envelope for the flags: the paper's Table B2 average +- 2 SD (LLA 30.3-42.1 deg, TKA 24.7-41.1 deg),
i.e. the spread the paper reports for Human3.6M; the normative radiographic studies it cites for these
ranges (its refs. [16, 40]) could not be read here. A sequence is flagged when its mean marker-proxy LLA or
TKA leaves the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from simspine_hub.analysis.rom import LUMBAR_DOFS, LUMBAR_LEVELS, NECK_DOFS, NECK_NORMATIVE, robust_range
from simspine_hub.analysis.study import Study

__all__ = ["PAPER_B2_ACTIONS", "PAPER_B2_SUBJECTS", "PAPER_B2_AVG", "Envelope", "group_stats", "table_b2",
           "lumbar_rom_table", "neck_table", "sequence_table", "flag_sequences", "qc_summary"]

#: The paper's Table B2: (LLA mean, SD, TKA mean, SD), degrees, by action and by subject (Human3.6M).
PAPER_B2_ACTIONS = MappingProxyType({
    "Directions": (36.09, 2.10, 33.26, 4.34), "Discussion": (36.40, 2.69, 34.04, 3.52),
    "Eating": (36.86, 2.53, 32.34, 3.90), "Greeting": (36.42, 2.59, 31.00, 3.89),
    "Phoning": (35.41, 3.28, 35.46, 4.56), "Photo": (36.97, 2.86, 32.10, 3.61),
    "Posing": (36.78, 2.87, 32.27, 5.22), "Purchases": (37.60, 2.95, 33.29, 3.93),
    "Sitting": (34.53, 4.38, 35.56, 3.95), "SittingDown": (35.41, 4.75, 35.34, 6.21),
    "Smoking": (34.94, 3.24, 35.07, 4.11), "TakingPhoto": (36.67, 1.79, 31.41, 2.84),
    "Waiting": (36.48, 2.81, 32.37, 3.73), "WalkDog": (36.68, 3.30, 31.82, 4.49),
    "WalkTogether": (35.98, 2.22, 31.03, 3.77), "Walking": (36.08, 2.43, 32.05, 3.92),
    "WalkingDog": (36.13, 3.34, 30.68, 3.75)})
PAPER_B2_SUBJECTS = MappingProxyType({
    "S1": (35.21, 2.88, 32.38, 3.86), "S5": (38.14, 2.71, 31.89, 3.95), "S6": (37.50, 3.15, 37.17, 4.23),
    "S7": (36.77, 3.12, 32.85, 4.83), "S8": (34.51, 2.46, 33.65, 4.02), "S9": (33.94, 2.53, 32.84, 4.83),
    "S11": (35.08, 2.90, 34.28, 3.52)})
#: The paper's averages: by action (the reference rows the issue asks for) and by subject.
PAPER_B2_AVG = MappingProxyType({"action": (36.20, 2.95, 32.89, 4.10), "subject": (35.88, 2.82, 33.58, 4.18)})


@dataclass(frozen=True)
class Envelope:
    """Curvature bounds (degrees) outside which a sequence's mean marker-proxy LLA / TKA is flagged."""

    lla: tuple[float, float] = (36.20 - 2 * 2.95, 36.20 + 2 * 2.95)
    tka: tuple[float, float] = (32.89 - 2 * 4.10, 32.89 + 2 * 4.10)
    source: str = "the paper's Table B2 average +- 2 SD"


def group_stats(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group mean, SD (population, ddof 0) and count of the finite ``values``; (n_groups,) each."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    g, v = groups[ok], v[ok]
    n = np.bincount(g, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, v, minlength=n_groups) / n
        var = np.bincount(g, (v - mean[g]) ** 2, minlength=n_groups) / n
    return mean, np.sqrt(var), n.astype(np.int64)


def table_b2(study: Study, by: str = "action") -> list[dict]:
    """Rows of Table B2 ``by`` "action" or "subject": ours (LLA, TKA proxies, Cobb dLLA), the paper's beside."""
    names, idx = (study.actions, study.action_idx) if by == "action" else (study.subjects, study.subject_idx)
    paper = PAPER_B2_ACTIONS if by == "action" else PAPER_B2_SUBJECTS
    stats = {k: group_stats(getattr(study, k), idx, len(names)) for k in ("lla", "tka", "cobb")}
    rows = []
    for i, name in enumerate(names):
        row = {by: name, "frames": int(stats["lla"][2][i])}
        for k in ("lla", "tka", "cobb"):
            row[f"{k}_mean"], row[f"{k}_sd"] = float(stats[k][0][i]), float(stats[k][1][i])
        ref = paper.get(name)
        row.update(dict(zip(("paper_lla_mean", "paper_lla_sd", "paper_tka_mean", "paper_tka_sd"),
                            ref if ref else (np.nan,) * 4)))
        rows.append(row)
    avg = {by: "Avg (mean of rows)", "frames": int(sum(r["frames"] for r in rows))}
    pooled = {by: "All frames (pooled)", "frames": avg["frames"]}
    for k in ("lla", "tka", "cobb"):
        avg[f"{k}_mean"] = float(np.nanmean([r[f"{k}_mean"] for r in rows]))
        avg[f"{k}_sd"] = float(np.nanmean([r[f"{k}_sd"] for r in rows]))
        m, s, _ = group_stats(getattr(study, k), np.zeros(study.frames, np.int64), 1)
        pooled[f"{k}_mean"], pooled[f"{k}_sd"] = float(m[0]), float(s[0])
    ref = PAPER_B2_AVG[by]
    for r in (avg, pooled):
        r.update(dict(zip(("paper_lla_mean", "paper_lla_sd", "paper_tka_mean", "paper_tka_sd"), ref)))
    return rows + [avg, pooled]


def lumbar_rom_table(study: Study) -> list[dict]:
    """Robust ROM (p99 - p1, degrees) per lumbar level and DOF, over all frames."""
    rom = robust_range(study.lumbar)                              # (6, 3)
    return [{"level": lvl, "dof": dof, "rom_deg": float(rom[i, j])}
            for i, lvl in enumerate(LUMBAR_LEVELS) for j, dof in enumerate(LUMBAR_DOFS)]


def neck_table(study: Study) -> list[dict]:
    """Per action and neck DOF: percentiles 1 / 50 / 99 (degrees) and the share of the normative range covered."""
    rows = []
    for a, action in enumerate(study.actions):
        vals = study.neck[study.action_idx == a]
        p1, p50, p99 = np.nanpercentile(vals, [1, 50, 99], axis=0)
        for j, dof in enumerate(NECK_DOFS):
            lo, hi = NECK_NORMATIVE[dof]
            rows.append({"action": action, "dof": dof, "p1": float(p1[j]), "median": float(p50[j]),
                         "p99": float(p99[j]), "normative_lo": lo, "normative_hi": hi,
                         "coverage": float((p99[j] - p1[j]) / (hi - lo))})
    return rows


def sequence_table(study: Study, envelope: Envelope | None = None) -> list[dict]:
    """One row per sequence: frames, mean proxies and Cobb dLLA, and whether it leaves the envelope."""
    env = envelope or Envelope()
    rows = []
    for s in study.sequences:
        sl = slice(s.start, s.start + s.frames)
        with np.errstate(all="ignore"):
            lla, tka, cobb = (float(np.nanmean(getattr(study, k)[sl])) for k in ("lla", "tka", "cobb"))
        reasons = [f"{name} {v:.1f} outside {lo:.1f}-{hi:.1f}" for name, v, (lo, hi)
                   in (("LLA", lla, env.lla), ("TKA", tka, env.tka)) if not lo <= v <= hi]
        rows.append({"subject": s.subject, "sequence": s.stem, "action": s.action, "frames": s.frames,
                     "lla_mean": lla, "tka_mean": tka, "cobb_mean": cobb, "plane": s.plane,
                     "flag": "; ".join(reasons)})
    return rows


def flag_sequences(study: Study, envelope: Envelope | None = None) -> list[dict]:
    """The rows of :func:`sequence_table` whose curvature leaves the envelope."""
    return [r for r in sequence_table(study, envelope) if r["flag"]]


def qc_summary(study: Study) -> dict | None:
    """QC rejection share of a simulation output over all its QC reports, sequences rejected whole included
    (None when the source has no ``qc/`` reports)."""
    if not study.qc:
        return None
    frames = sum(int(r["frames"]) for r in study.qc)
    rejected = sum(int(r["rejected"]) for r in study.qc)
    whole = [(r["key"], r.get("reason", "")) for r in study.qc if r.get("status") == "rejected"]
    return {"sequences": len(study.qc), "frames": frames, "rejected": rejected, "sequences_rejected": whole,
            "refilled": sum(int(r.get("refilled", 0)) for r in study.qc),
            "left_nan": sum(int(r.get("left_nan", 0)) for r in study.qc),
            "rejected_share": rejected / frames if frames else float("nan"),
            "worst": max(study.qc, key=lambda r: int(r["rejected"]) / max(int(r["frames"]), 1))["key"]}
