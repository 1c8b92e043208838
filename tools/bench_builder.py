"""Benchmark: the Arrow-table builder against a per-example generator builder, same twin, same run.

    python tools/bench_builder.py                          # small twin made on the fly
    python tools/bench_builder.py --twin /tmp/full/twin    # e.g. a full-size twin (simspine twin --no-videos)
    python tools/bench_builder.py --twin T --full-only     # only the full37 timing and peak memory
    python tools/bench_builder.py --smoke                  # tiny twin, HDF5 only (< 30 s; CI runs this)

Prints frames/s of both ways and the ratio (goal >= 20x), and the full37 build time and peak memory.
The per-example builder is the anchor: the same inputs, the same features and the same joins
(``SimspineBuilder.sequence_columns``), but one Python dict per frame. Timings are twin results.
Temporary files go to ``$SIMSPINE_BENCH_TMP`` when set (else a temporary folder), removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import datasets

from simspine_hub.dataset.builder import SimspineBuilder, SimspineConfig, load_dataset


class PerExampleBuilder(datasets.GeneratorBasedBuilder):
    """The anchor: same config, features, validation and joins as SimspineBuilder, but one dict per frame."""

    BUILDER_CONFIG_CLASS = SimspineConfig
    BUILDER_CONFIGS = SimspineBuilder.BUILDER_CONFIGS
    _create_builder_config = SimspineBuilder._create_builder_config
    _info = SimspineBuilder._info
    _split_generators = SimspineBuilder._split_generators
    _plan_subject = SimspineBuilder._plan_subject
    _mismatch = SimspineBuilder._mismatch
    _h3wb = SimspineBuilder._h3wb
    sequence_columns = SimspineBuilder.sequence_columns

    def _generate_examples(self, jobs, rel_path):
        fields = [k for k in self.info.features if k not in ("subject", "action", "subaction", "sequence")]
        for cols in self.sequence_columns(jobs, rel_path):
            meta = {k: cols[k] for k in ("subject", "action", "subaction", "sequence")}
            for i in range(len(cols["frame"])):
                ex = {**meta, **{k: cols[k][i].tolist() for k in fields}}
                yield f"{meta['subject']}/{meta['sequence']}/{ex['frame']}", ex


def _time(builder_cls, name, cache, **kw):
    b = builder_cls(config_name=name, cache_dir=str(cache), hash="bench", **kw)
    t = time.perf_counter()
    b.download_and_prepare()
    dt = time.perf_counter() - t
    rows = sum(s.num_examples for s in b.info.splits.values())
    return rows, dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--twin", type=Path, help="twin root (default: a small one made now)")
    p.add_argument("--full-only", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny twin, HDF5 annotations only (< 30 s)")
    args = p.parse_args(argv)
    datasets.disable_progress_bars()
    base = os.environ.get("SIMSPINE_BENCH_TMP")
    with tempfile.TemporaryDirectory(prefix="bench_builder_", dir=base) as tmp:   # Arrow caches: removed after
        return _run(args, Path(tmp))


def _run(args, tmp: Path) -> int:
    if args.twin is None:
        from simspine_hub.twin.generator import TwinConfig, generate_twin
        small = TwinConfig(motions=("walking",), seconds=2.0, videos=False) if args.smoke else \
            TwinConfig(seconds=20.0, videos=False)
        args.twin = generate_twin(tmp / "twin", small, progress=False)
    kw = {"h36m_root": str(args.twin / "h36m"), "annotations": str(args.twin / "simspine.h5")}
    if not args.full_only:
        print(f"twin: {args.twin}  (all timings are twin results)")
        print(f"{'annotations':<13}{'config':<25}{'rows':>10}{'per-example f/s':>17}{'arrow f/s':>12}{'ratio':>8}")
        for form in ("simspine.h5",) if args.smoke else ("simspine.h5", "simspine"):
            for name, extra in (("spine15", {}), ("full37 (face_feet=mask)", {"face_feet": "mask"})):
                cfg = name.split()[0]
                kw_form = {**kw, "annotations": str(args.twin / form), **extra}
                rows, slow = _time(PerExampleBuilder, cfg, tmp / f"slow_{cfg}_{form}", **kw_form)
                rows2, fast = _time(SimspineBuilder, cfg, tmp / f"fast_{cfg}_{form}", **kw_form)
                if rows != rows2:
                    raise SystemExit(f"row counts differ: per-example {rows}, arrow {rows2}")
                label = "HDF5" if form.endswith(".h5") else "raw TRC/MOT"
                print(f"{label:<13}{name:<25}{rows:>10}{rows / slow:>17,.0f}{rows / fast:>12,.0f}{slow / fast:>7.1f}x")
    if args.smoke:
        return 0
    for face_feet in ("mask", "fk"):
        t = time.perf_counter()
        ds = load_dataset("simspine", "full37", cache_dir=tmp / f"full37_{face_feet}", face_feet=face_feet, **kw)
        dt = time.perf_counter() - t
        rows = sum(d.num_rows for d in ds.values())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"full37 face_feet={face_feet}: {rows:,} frames in {dt:.1f} s ({rows / dt:,.0f} frames/s), "
              f"peak RSS so far {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
