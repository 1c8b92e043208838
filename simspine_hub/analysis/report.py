"""``simspine analyze``: the validity study as ``report.md``, one self-contained ``report.html`` and CSVs.

Written under ``out``::

    report.md  report.html            the study (the HTML embeds its PNGs as base64: one file to share)
    figures/fig3_curvature.png  fig3_lumbar_rom.png  fig4_neck.png  figB1_density.png
    table_b2_by_action.csv  table_b2_by_subject.csv  lumbar_rom.csv  neck_rom.csv  sequences.csv  flags.csv
    qc.csv                            (a simulation output only: its per-sequence QC reports)

Every file is written atomically. Numbers are labelled with the data label (e.g. "twin" for the synthetic
twin) so that no twin result can pass for a Human3.6M one.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from simspine_hub.analysis import plots, rom, tables
from simspine_hub.analysis.curvature import __doc__ as _CURVATURE_DOC
from simspine_hub.analysis.study import Study, run_study
from simspine_hub.io.files import atomic_path, write_text

log = logging.getLogger(__name__)

__all__ = ["AnalysisReport", "analyze", "write_report"]


@dataclass
class AnalysisReport:
    """What :func:`analyze` wrote and measured."""

    out: Path
    study: Study
    table_action: list[dict]
    table_subject: list[dict]
    flags: list[dict]
    qc: dict | None
    files: list[Path]


def analyze(source: str | os.PathLike, out: str | os.PathLike, h36m_root: str | os.PathLike | None = None,
            subjects: list[str] | None = None, actions: list[str] | None = None, label: str | None = None,
            rom_reference: str | os.PathLike | None = None, envelope: tables.Envelope | None = None,
            progress: bool = True) -> AnalysisReport:
    """Run the study on ``source`` and write the report under ``out`` (see module docstring).

    ``label`` names the data in every heading; by default "twin" when ``source`` lies in a synthetic twin
    (a ``twin.json`` beside it), else the source's name.
    """
    reference = rom.read_rom_reference(rom_reference) if rom_reference is not None else None
    study = run_study(source, h36m_root, subjects, actions, label or _default_label(source), progress)
    return write_report(study, out, reference, envelope)


def _default_label(source) -> str:
    p = Path(str(source))
    for parent in (p, *p.parents[:3]):
        if (parent / "twin.json").is_file():
            return "twin"
    return p.name or str(source)


def _csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text(path, buf.getvalue())
    return path


def write_report(study: Study, out: str | os.PathLike, reference: dict | None = None,
                 envelope: tables.Envelope | None = None) -> AnalysisReport:
    """Tables, figures, report.md and report.html of ``study`` under ``out``."""
    out = Path(out)
    env = envelope or tables.Envelope()
    t_act, t_sub = tables.table_b2(study, "action"), tables.table_b2(study, "subject")
    rom_rows, neck_rows = tables.lumbar_rom_table(study), tables.neck_table(study)
    seq_rows = tables.sequence_table(study, env)
    flags = [r for r in seq_rows if r["flag"]]
    qc = tables.qc_summary(study)
    files = [_csv(out / "table_b2_by_action.csv", t_act), _csv(out / "table_b2_by_subject.csv", t_sub),
             _csv(out / "lumbar_rom.csv", rom_rows), _csv(out / "neck_rom.csv", neck_rows),
             _csv(out / "sequences.csv", seq_rows), _csv(out / "flags.csv", flags)]
    if study.qc:
        flat = [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in study.qc]
        files.append(_csv(out / "qc.csv", flat))
    tag = f"{study.label} results" if study.label else "results"
    figures = {
        "fig3_curvature": ("Fig. 3 (left): thoracolumbar curvature per action",
                           plots.fig3_curvature(study, f"Thoracolumbar curvature per action ({tag})")),
        "fig3_lumbar_rom": ("Fig. 3 (right): lumbar range of motion per level",
                            plots.fig3_rom(rom_rows, reference, f"Lumbar ROM per level ({tag})")),
        "fig4_neck": ("Fig. 4: cervical spine per action", plots.fig4_neck(study, f"Neck angles per action ({tag})")),
        "figB1_density": ("Fig. B1: upper-body positions per action",
                          plots.figb1_density(study, f"Root-relative upper-body positions ({tag}); body frame: "
                                                     "X right, Y forward, Z up")),
    }
    for name, (_, png) in figures.items():
        path = out / "figures" / f"{name}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
        files.append(path)
    sections = _sections(study, t_act, t_sub, rom_rows, neck_rows, flags, qc, reference, env)
    write_text(out / "report.md", _markdown(study, sections, figures))
    write_text(out / "report.html", _html(study, sections, figures))
    files += [out / "report.md", out / "report.html"]
    return AnalysisReport(out, study, t_act, t_sub, flags, qc, files)


def _fmt(m: float, s: float) -> str:
    return "n/a" if m != m else f"{m:.2f} ± {s:.2f}"


def _b2_rows(rows: list[dict], by: str) -> tuple[list[str], list[list[str]]]:
    head = [by.capitalize(), "frames", "LLA proxy", "TKA proxy", "dLLA Cobb (FK)", "paper LLA", "paper TKA"]
    body = [[str(r[by]), str(r["frames"]), _fmt(r["lla_mean"], r["lla_sd"]), _fmt(r["tka_mean"], r["tka_sd"]),
             _fmt(r["cobb_mean"], r["cobb_sd"]), _fmt(r["paper_lla_mean"], r["paper_lla_sd"]),
             _fmt(r["paper_tka_mean"], r["paper_tka_sd"])] for r in rows]
    return head, body


def _sections(study, t_act, t_sub, rom_rows, neck_rows, flags, qc, reference, env) -> list[tuple]:
    """[(title, paragraphs, (head, rows) or None)] shared by the Markdown and HTML writers."""
    planes = sorted({s.plane for s in study.sequences})
    models = sorted({Path(s.model).name for s in study.sequences})     # segment orientations do not depend on scaling
    intro = [f"Source: `{study.source}` ({study.form}); {len(study.sequences)} sequences, {study.frames:,} frames, "
             f"subjects {', '.join(study.subjects)}. Data label: **{study.label or 'unlabelled'}** -- every number "
             "below is measured on this data; the paper's columns are its Human3.6M values (Table B2).",
             f"Sagittal plane of the marker proxies: {', '.join(planes)}. Forward kinematics on: {', '.join(models)}."
             + ("" if study.arms else " No arm joints in the input (pass a Human3.6M root for them).")]
    out = [("Summary", intro, None)]
    defs = [_rst(p) for p in _CURVATURE_DOC.split("\n\n")[1:] if p.strip()]
    out.append(("Definitions", defs, None))
    out.append(("Table B2: curvature by action (degrees, mean ± SD over frames)",
                ["'Avg' is the paper's convention (mean of the rows' means ± mean of their SDs); 'All frames' pools "
                 "every frame."], _b2_rows(t_act, "action")))
    out.append(("Table B2: curvature by subject", [], _b2_rows(t_sub, "subject")))
    ref_note = ("Reference values (dashed) from the CSV given with --rom-reference." if reference else
                "White & Panjabi's (1978) representative values are not drawn: no readable source for them was "
                "found, and they are not typed in from memory; pass them with --rom-reference CSV.")
    out.append(("Lumbar range of motion per level (Fig. 3 right)",
                [ref_note, "In this model every level above L5_S1 is a fixed multiple of L5_S1 (its coupler "
                 "constraints), so the profile over levels is the model's coupler profile."],
                (["level", "DOF", "ROM p99-p1 (deg)"], [[r["level"], r["dof"], f"{r['rom_deg']:.2f}"] for r in rom_rows])))
    out.append(("Neck (Fig. 4)", [f"Normative range: {rom.NECK_NORMATIVE_SOURCE}. Coverage = (p99 - p1) / "
                                  "normative range."],
                (["action", "DOF", "p1", "median", "p99", "coverage"],
                 [[r["action"], r["dof"], f"{r['p1']:.1f}", f"{r['median']:.1f}", f"{r['p99']:.1f}",
                   f"{100 * r['coverage']:.0f} %"] for r in neck_rows])))
    flag_txt = [f"Envelope: LLA {env.lla[0]:.1f}-{env.lla[1]:.1f} deg, TKA {env.tka[0]:.1f}-{env.tka[1]:.1f} deg "
                f"({env.source}; the normative studies the paper cites could not be read). "
                f"{len(flags)} of {len(study.sequences)} sequences leave it."]
    out.append(("Flags: sequences outside the literature envelope", flag_txt,
                (["subject", "sequence", "mean LLA", "mean TKA", "why"],
                 [[f["subject"], f["sequence"], f"{f['lla_mean']:.1f}", f"{f['tka_mean']:.1f}", f["flag"]]
                  for f in flags]) if flags else None))
    if qc is not None:
        out.append(("Quality control of the simulation", [
            f"QC rejected {qc['rejected']:,} of {qc['frames']:,} frames ({100 * qc['rejected_share']:.2f} %) in "
            f"{qc['sequences']} sequences; {qc['refilled']:,} refilled by interpolation, {qc['left_nan']:,} left as "
            f"gaps; most rejected: {qc['worst']}. Sequences rejected whole (no kinematics written): "
            f"{len(qc['sequences_rejected'])}."],
            (["sequence", "why rejected"], [list(r) for r in qc["sequences_rejected"]]) if qc["sequences_rejected"]
            else None))
    return out


def _rst(text: str) -> str:
    """A docstring paragraph -> one Markdown line (Sphinx roles and double backticks to plain code)."""
    import re

    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text.strip().replace("\n", " "))
    return text.replace("``", "`")


def _markdown(study: Study, sections, figures) -> str:
    lines = [f"# SIMSPINE biomechanical validity study ({study.label or 'unlabelled'} results)", ""]
    for title, paras, table in sections:
        lines += [f"## {title}", ""] + [p + "\n" for p in paras]
        if table:
            head, rows = table
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    lines += ["## Figures", ""]
    for name, (caption, _) in figures.items():
        lines += [f"**{caption}**", "", f"![{caption}](figures/{name}.png)", ""]
    return "\n".join(lines)


def _html(study: Study, sections, figures) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>SIMSPINE validity study ({e(study.label)})</title><style>",
             "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}",
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px}",
             "th{background:#f0f0f0}img{max-width:100%}code{background:#f4f4f4}</style></head><body>",
             f"<h1>SIMSPINE biomechanical validity study ({e(study.label or 'unlabelled')} results)</h1>"]
    for title, paras, table in sections:
        parts.append(f"<h2>{e(title)}</h2>")
        parts += [f"<p>{_inline(p)}</p>" for p in paras]
        if table:
            head, rows = table
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
            parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for caption, png in figures.values():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _inline(text: str) -> str:
    """Markdown ``code`` and **bold** -> HTML, everything else escaped."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
