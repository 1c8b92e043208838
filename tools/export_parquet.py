"""Write a built SIMSPINE config to parquet shards in the layout the hub's dataset viewer reads.

    python tools/export_parquet.py --config spine15 --annotations outputs/demo/twin/simspine \
        --h36m-root outputs/demo/twin/h36m --out outputs/parquet/spine15

Writes ``<out>/<split>-00000-of-0000N.parquet`` (the hub's ``data/`` naming, one folder per config),
atomically: shards are written to a temporary folder that is renamed at the end.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from simspine_hub.dataset.builder import load_dataset
from simspine_hub.io.files import atomic_path


def export(config: str, out: Path, max_rows_per_shard: int = 500_000, **kwargs) -> list[Path]:
    """Build ``config`` and write its splits as parquet shards under ``out``; returns the files."""
    ds = load_dataset("simspine", config, **kwargs)
    written = []
    with atomic_path(out) as tmp:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for split, d in ds.items():
            n = max(1, -(-d.num_rows // max_rows_per_shard))
            for i in range(n):
                name = f"{split}-{i:05d}-of-{n:05d}.parquet"
                d.shard(num_shards=n, index=i, contiguous=True).to_parquet(str(tmp / name))
                written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="spine15", choices=["spine15", "full37", "views2d"])
    p.add_argument("--annotations", required=True)
    p.add_argument("--h36m-root")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache-dir")
    args = p.parse_args(argv)
    files = export(args.config, args.out, annotations=args.annotations, h36m_root=args.h36m_root,
                   cache_dir=args.cache_dir)
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
