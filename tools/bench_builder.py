"""Benchmark: the Arrow-table builder against a per-example generator builder, same twin, same run.

    python tools/bench_builder.py                          # small twin made on the fly
    python tools/bench_builder.py --twin /tmp/full/twin    # e.g. a full-size twin (simspine twin --no-videos)
    python tools/bench_builder.py --twin T --full-only     # only the full37 timing and peak memory

Prints frames/s of both ways and the ratio (goal >= 20x), and the full37 build time and peak memory.
The per-example builder is the anchor: the same inputs, the same features, one Python dict per frame.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import datasets

from simspine_hub.dataset.builder import SimspineBuilder, SimspineConfig, load_dataset
from simspine_hub.io import h36m, release


class PerExampleBuilder(datasets.GeneratorBasedBuilder):
    """The anchor: same config, features and join as SimspineBuilder, but one dict per frame."""

    BUILDER_CONFIG_CLASS = SimspineConfig
    BUILDER_CONFIGS = SimspineBuilder.BUILDER_CONFIGS
    _info = SimspineBuilder._info
    _split_generators = SimspineBuilder._split_generators
    _plan_subject = SimspineBuilder._plan_subject
    _mismatch = SimspineBuilder._mismatch
    _join = SimspineBuilder._join
    _model = staticmethod(SimspineBuilder._model)

    def _generate_examples(self, jobs, rel_path):
        rel = release.open_release(rel_path)
        data = h36m.Human36M(self.config.h36m_root) if self.config.name != "spine15" else None
        models = {}
        for subject, stem in jobs:
            seq = rel.read(subject, stem)
            action, subaction = h36m.parse_sequence_name(stem)
            if self.config.name == "spine15":
                pts, n, src = seq.markers, len(seq.markers), None
            else:
                pts, src, n = self._join(rel, data, seq, models)
            for i in range(n):
                ex = {"subject": subject, "action": action, "subaction": subaction, "sequence": stem,
                      "frame": i, "timestamp": float(seq.timestamps[i]), "keypoints_3d": pts[i].tolist(),
                      "kinematics": seq.kinematics[i].tolist()}
                if src is not None:
                    ex["keypoints_source"] = src[i].tolist()
                yield f"{subject}/{stem}/{i}", ex


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
    args = p.parse_args(argv)
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="bench_builder_") as tmp:   # Arrow caches are large: removed after
        return _run(args, Path(tmp))


def _run(args, tmp: Path) -> int:
    if args.twin is None:
        from simspine_hub.twin.generator import TwinConfig, generate_twin
        args.twin = generate_twin(tmp / "twin", TwinConfig(seconds=20.0, videos=False), progress=False)
    kw = {"h36m_root": str(args.twin / "h36m"), "annotations": str(args.twin / "simspine.h5")}
    if not args.full_only:
        print(f"twin: {args.twin}")
        print(f"{'annotations':<13}{'config':<25}{'rows':>10}{'per-example f/s':>17}{'arrow f/s':>12}{'ratio':>8}")
        for form in ("simspine.h5", "simspine"):
            for name, extra in (("spine15", {}), ("full37 (face_feet=mask)", {"face_feet": "mask"})):
                cfg = name.split()[0]
                kw_form = {**kw, "annotations": str(args.twin / form), **extra}
                rows, slow = _time(PerExampleBuilder, cfg, tmp / f"slow_{cfg}_{form}", **kw_form)
                rows2, fast = _time(SimspineBuilder, cfg, tmp / f"fast_{cfg}_{form}", **kw_form)
                assert rows == rows2
                label = "HDF5" if form.endswith(".h5") else "raw TRC/MOT"
                print(f"{label:<13}{name:<25}{rows:>10}{rows / slow:>17,.0f}{rows / fast:>12,.0f}{slow / fast:>7.1f}x")
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
