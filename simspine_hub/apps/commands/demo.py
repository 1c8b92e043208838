"""`simspine demo`: the whole product on the synthetic twin."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the whole pipeline on the synthetic twin")
    p.add_argument("--out", type=Path, default=Path("outputs/demo"))
    return p


def run(args: argparse.Namespace) -> int:
    from simspine_hub.apps.demo import run_demo

    res = run_demo(args.out, progress=not args.quiet)
    rt = res["round_trip"]
    print(f"synthetic twin: {res['twin']}  ({rt.sequences} sequences, {rt.frames} frames)")
    print("round trip against ground truth (twin results):")
    print(f"  Human3.6M D3_Positions   max |err| = {rt.h36m_3d_max_abs_mm:.3g} mm   bit-exact: {rt.h36m_3d_bit_exact}")
    print(f"  Human3.6M D2_Positions   max err   = {rt.h36m_2d_max_px:.3g} px  (limit 0.01)")
    print(f"  Calib TOML cameras       max err   = {rt.camera_toml_max_px:.3g} px")
    print(f"  release TRC  (15 spine)  max |err| = {rt.release_spine15_max_mm:.3g} mm")
    print(f"  release HDF5 (15 spine)  max |err| = {rt.release_hdf5_max_mm:.3g} mm")
    print(f"  release MOT  (62 axes)   max |err| = {rt.release_kinematics_max_deg:.3g} deg")
    print(f"skeleton plot: {res['skeleton_png']}")
    ds = res["dataset"]
    print("dataset builder (datasets.ArrowBasedBuilder) on the twin:")
    for name in ("spine15", "full37"):
        print(f"  {name}: rows {ds[name + '_rows']}   max |err| vs ground truth = {ds[name + '_max_err_mm']:.3g} mm")
    print(f"  full37 sample: {ds['full37_sample']}")
    print()
    print(res["simulation"])
    print(res["leaderboard"])
    from simspine_hub.apps.commands.analyze import format_summary

    print(format_summary(res["analysis"]))
    ok = rt.h36m_3d_bit_exact and rt.h36m_2d_max_px < 0.01
    return 0 if ok else 1
