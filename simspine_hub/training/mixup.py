"""Mixing the 2D training sources: per-batch mixup (the paper's default) or per-epoch alternation ("PE").

Per batch (``mode="batch"``, the paper's Sec. 4.1: "a balanced combination ... with equal samples per batch"):
every batch holds ``per_batch[s]`` samples of source ``s``, from the source ratio as mmpose's
``MultiSourceSampler`` splits it (``int(batch * r_s / sum r)`` per source, the remainder to source 0). Each
source is read from its own endless stream of shuffled passes (a new permutation per pass, seeded by
``(seed, source, pass)``), so a small source repeats and a large one is seen in part per epoch. An epoch has
``sum(sizes) // batch_size`` batches (as mmpose's sampler), at least one.

Per epoch (``mode="epoch"``, the paper's Sec. 4.4 "PE" ablation): epoch ``e`` draws every batch from source
``e mod S``, from the same streams.

Everything follows from ``(seed, epoch)``: the stream position at the start of an epoch is computed, not
carried, so a resumed run reads exactly the batches an uninterrupted run reads. Batches are lists of
:class:`~simspine_hub.training.data2d.SampleKey` carrying the epoch, the curriculum stage (set by
:class:`~simspine_hub.training.callbacks2d.CurriculumCallback`) and the draw index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from simspine_hub.training.data2d import Data2DError, SampleKey

__all__ = ["MixedBatchSampler", "split_batch", "MIXING_MODES"]

MIXING_MODES = ("batch", "epoch")


def split_batch(batch_size: int, ratio: Sequence[float]) -> list[int]:
    """Samples per source in a batch: ``int(batch * r / sum(r))`` each, source 0 takes the remainder (mmpose
    ``MultiSourceSampler``). Every source with a positive ratio must get at least one sample."""
    ratio = [float(r) for r in ratio]
    if batch_size < 1 or not ratio or any(r < 0 for r in ratio) or sum(ratio) <= 0:
        raise Data2DError(f"batch size {batch_size} and source ratio {ratio}: need a batch >= 1 and ratios >= 0 "
                          "with a positive sum")
    counts = [int(batch_size * r / sum(ratio)) for r in ratio]
    counts[0] = batch_size - sum(counts[1:])
    if any(c < 1 and r > 0 for c, r in zip(counts, ratio)):
        raise Data2DError(f"batch size {batch_size} cannot hold every source at ratio {ratio} (per batch: {counts}); "
                          "use a larger batch")
    return counts


class MixedBatchSampler:
    """Batches of :class:`SampleKey` over sources laid out one after another (see the module docstring).

    Args:
        sizes: rows per source (source s occupies global indices ``sum(sizes[:s]) ...``).
        batch_size: samples per batch; ratio: source ratio (default equal samples per source).
        mode: ``batch`` (per-batch mixup) or ``epoch`` (per-epoch alternation).
        seed: the run's seed.
    """

    def __init__(self, sizes: Sequence[int], batch_size: int, ratio: Sequence[float] | None = None,
                 mode: str = "batch", seed: int = 0):
        if mode not in MIXING_MODES:
            raise Data2DError(f"mixing mode {mode!r}; choose one of {MIXING_MODES}")
        self.sizes = [int(s) for s in sizes]
        if not self.sizes or any(s < 1 for s in self.sizes):
            raise Data2DError(f"every source needs at least one sample; got sizes {self.sizes}")
        self.batch_size, self.mode, self.seed = int(batch_size), mode, int(seed)
        ratio = [1.0] * len(self.sizes) if ratio is None else list(ratio)
        if len(ratio) != len(self.sizes):
            raise Data2DError(f"{len(ratio)} source ratios for {len(self.sizes)} sources")
        self.per_batch = split_batch(self.batch_size, ratio) if mode == "batch" else [self.batch_size] * len(sizes)
        self.offsets = np.cumsum([0] + self.sizes)[:-1]
        self.epoch, self.stage = 0, 0

    def __len__(self) -> int:
        return max(1, sum(self.sizes) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_stage(self, stage: int) -> None:
        self.stage = int(stage)

    def _stream(self, source: int, start: int, count: int) -> np.ndarray:
        """Positions ``start .. start + count`` of source ``source``'s endless shuffled stream (local rows)."""
        n = self.sizes[source]
        pos = np.arange(start, start + count, dtype=np.int64)
        passes = pos // n
        out = np.empty(count, dtype=np.int64)
        for p in np.unique(passes):
            perm = np.random.default_rng([self.seed, source, int(p)]).permutation(n)
            sel = passes == p
            out[sel] = perm[pos[sel] % n]
        return out

    def _epoch_sources(self, epoch: int) -> list[int]:
        """Samples each source gives per batch in ``epoch``."""
        if self.mode == "batch":
            return self.per_batch
        return [self.batch_size if s == epoch % len(self.sizes) else 0 for s in range(len(self.sizes))]

    def batches(self, epoch: int) -> list[list[int]]:
        """The global row indices of every batch of ``epoch`` (each batch: source 0's samples first)."""
        nb = len(self)
        starts = [0] * len(self.sizes)
        for e in range(epoch):                          # stream positions reached by earlier epochs
            for s, c in enumerate(self._epoch_sources(e)):
                starts[s] += c * nb
        per = self._epoch_sources(epoch)
        drawn = [self.offsets[s] + self._stream(s, starts[s], c * nb).reshape(nb, c) for s, c in enumerate(per) if c]
        return np.concatenate(drawn, axis=1).tolist()

    def __iter__(self) -> Iterator[list[SampleKey]]:
        epoch, stage = self.epoch, self.stage
        for b, batch in enumerate(self.batches(epoch)):
            yield [SampleKey(int(i), epoch, stage, b * self.batch_size + j) for j, i in enumerate(batch)]
