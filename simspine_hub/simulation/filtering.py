"""Stage 3: zero-phase low-pass filtering that tolerates NaN gaps.

Gaps of at most ``max_gap`` frames are filled by linear interpolation first; longer gaps stay NaN and
split the signal into segments that are filtered separately (segments too short for ``filtfilt`` are
left as they are). Butterworth low-pass, applied forwards and backwards (zero phase).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, filtfilt

__all__ = ["runs", "fill_gaps", "butterworth_filter", "reject_spikes", "running_nanmedian"]


def running_nanmedian(x: np.ndarray, window: int, pad: str = "nan") -> np.ndarray:
    """(T, ...) -> running median over ``window`` frames along axis 0, ignoring NaN (NaN where no sample).

    ``window`` is odd (centred on the frame). ``pad``: "nan" (the edges see fewer samples) or "edge" (the
    first / last frame is repeated).
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd number of frames >= 1, got {window}")
    half = window // 2
    if pad == "edge":
        before, after = np.repeat(x[:1], half, 0), np.repeat(x[-1:], half, 0)
    else:
        before = after = np.full((half,) + x.shape[1:], np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([before, x, after]), window, axis=0)
    return _nanmedian_last_axis(windows)


def _nanmedian_last_axis(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=-1)`` (same values; NaN for all-NaN rows, no warning) by one sort of the short
    last axis: NaN sorts last, so the median of the k finite values sits at (k - 1) // 2 and k // 2."""
    s = np.sort(a, axis=-1)
    k = (~np.isnan(s)).sum(-1, keepdims=True)
    lo = np.take_along_axis(s, np.maximum(k - 1, 0) // 2, -1)[..., 0]
    hi = np.take_along_axis(s, np.minimum(k // 2, a.shape[-1] - 1), -1)[..., 0]
    return np.where(k[..., 0] > 0, (lo + hi) / 2, np.nan)


def reject_spikes(x: np.ndarray, max_dev: float, window: int = 7) -> np.ndarray:
    """(T, J, 3) trajectories -> copy with samples further than ``max_dev`` (same unit) from the running
    median of their ``window`` neighbours set to NaN (temporal consistency check)."""
    x = np.array(x, dtype=np.float64, copy=True)
    if len(x) < window:
        return x
    med = running_nanmedian(x, window, pad="edge")
    dev = np.linalg.norm(x - med, axis=-1)
    x[dev > max_dev] = np.nan
    return x


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) bool -> (starts, ends) of its runs of True, each ``mask[start:end]`` (the one run-length scan)."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    return np.where(edges == 1)[0], np.where(edges == -1)[0]


def fill_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """(T, ...) signal -> copy with interior NaN runs of length <= ``max_gap`` linearly interpolated."""
    x = np.array(x, dtype=np.float64, copy=True)
    flat = x.reshape(len(x), -1)
    t = np.arange(len(x))
    for c in np.where(np.isnan(flat).any(0) & np.isfinite(flat).any(0))[0]:
        col = flat[:, c]
        nan = np.isnan(col)
        good = ~nan
        for s, e in zip(*runs(nan)):
            if s > 0 and e < len(col) and e - s <= max_gap:
                col[s:e] = np.interp(t[s:e], t[good], col[good])
    return x


def butterworth_filter(x: np.ndarray, fs: float, cutoff: float = 6.0, order: int = 4, max_gap: int = 10) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0.

    Args:
        x: (T, ...) signal (e.g. (T, J, 3) mm); NaN marks missing samples.
        fs: sampling rate (Hz); cutoff: low-pass cutoff (Hz); order: filter order.
        max_gap: longest gap (frames) to interpolate before filtering.
    """
    if not 0 < cutoff < fs / 2:
        raise ValueError(f"cutoff {cutoff} Hz must be in (0, {fs / 2}) for fs={fs} Hz")
    x = fill_gaps(x, max_gap)
    b, a = butter(order, cutoff / (fs / 2))
    pad = 3 * max(len(a), len(b))
    flat = x.reshape(len(x), -1)
    out = flat.copy()
    complete = np.isfinite(flat).all(0)
    if complete.any() and len(flat) > pad:
        out[:, complete] = filtfilt(b, a, flat[:, complete], axis=0)
    for c in np.where(~complete)[0]:                       # columns with long gaps: per finite segment
        col = flat[:, c]
        for s, e in zip(*runs(np.isfinite(col))):
            if e - s > pad:
                out[s:e, c] = filtfilt(b, a, col[s:e])
    return out.reshape(x.shape)
