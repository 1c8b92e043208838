"""`simspine analyze`: the paper's biomechanical validity study (Table B2, Figs. 3, 4, B1) of a release."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("analyze", help="curvature, range of motion and posture study of a release or simulation "
                                       "output -> report.md, report.html, CSVs")
    p.add_argument("source", help="SIMSPINE release: raw folder, .h5 file, parquet folder, hub dataset id, or a "
                                  "`simspine simulate` output folder")
    p.add_argument("--out", type=Path, required=True, help="folder for the report")
    p.add_argument("--h36m-root", type=Path, help="Human3.6M root: adds its arms (and hips) to the spine points")
    p.add_argument("--subjects", nargs="+", help="only these subjects (default: all)")
    p.add_argument("--actions", nargs="+", help="only these actions, e.g. Walking Phoning (default: all)")
    p.add_argument("--label", help="data label in every heading (default: 'twin' inside a synthetic twin, "
                                   "else the source's name)")
    p.add_argument("--rom-reference", type=Path, help="CSV level,dof,rom_deg of reference lumbar ROM to draw dashed")
    p.add_argument("--envelope-lla", type=float, nargs=2, metavar=("LO", "HI"),
                   help="curvature envelope for the flags, degrees (default: the paper's Table B2 mean +- 2 SD)")
    p.add_argument("--envelope-tka", type=float, nargs=2, metavar=("LO", "HI"))
    return p


def run(args: argparse.Namespace) -> int:
    from simspine_hub.analysis.report import analyze
    from simspine_hub.analysis.tables import Envelope

    env = Envelope()
    if args.envelope_lla or args.envelope_tka:
        env = Envelope(lla=tuple(args.envelope_lla or env.lla), tka=tuple(args.envelope_tka or env.tka),
                       source="given on the command line")
    rep = analyze(args.source, args.out, args.h36m_root, args.subjects, args.actions, args.label,
                  args.rom_reference, env, progress=not args.quiet)
    print(format_summary(rep))
    return 0


def format_summary(rep) -> str:
    """A few lines on what the analysis found and wrote (also printed by the demo)."""
    s = rep.study
    avg = next(r for r in rep.table_action if r["action"].startswith("Avg"))
    lines = [f"validity study of {s.source} ({s.label} results): {len(s.sequences)} sequences, {s.frames:,} frames",
             f"  LLA proxy {avg['lla_mean']:.2f} ± {avg['lla_sd']:.2f} deg, TKA proxy {avg['tka_mean']:.2f} ± "
             f"{avg['tka_sd']:.2f} deg, dLLA Cobb {avg['cobb_mean']:.2f} ± {avg['cobb_sd']:.2f} deg (mean of actions)"
             f"   paper (Human3.6M): LLA 36.20 ± 2.95, TKA 32.89 ± 4.10",
             f"  flagged sequences (curvature outside the envelope): {len(rep.flags)} of {len(s.sequences)}"]
    if rep.qc is not None:
        lines.append(f"  QC rejected {rep.qc['rejected']} of {rep.qc['frames']} frames "
                     f"({100 * rep.qc['rejected_share']:.2f} %); sequences rejected whole: "
                     f"{len(rep.qc['sequences_rejected'])} of {rep.qc['sequences']}")
    lines.append(f"  report: {rep.out / 'report.html'} (self-contained), {rep.out / 'report.md'}, CSVs beside")
    return "\n".join(lines)
