"""Bootstrap confidence interval for the ratio of two medians. Imports no torch."""

from __future__ import annotations

import numpy as np

from mobius_core.measure.results import RatioResult

RESAMPLES = 2000
METHOD = f"ratio of medians; 95% percentile bootstrap ({RESAMPLES} resamples)"


def ratio_of_medians(
    numerator: list[float],
    denominator: list[float],
    paired: bool = True,
    seed: int = 0,
    level: float = 0.95,
) -> RatioResult:
    """median(numerator) / median(denominator) and its bootstrap interval.

    Paired samples (variants run interleaved) are resampled by round, together: a slow
    round slows both sides and cancels in the ratio. Unpaired samples (two separate runs)
    are resampled each on its own.
    """
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    if a.size == 0 or b.size == 0 or (paired and a.size != b.size):
        raise ValueError(f"ratio: need paired samples, got {a.size} and {b.size}")
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, a.size, size=(RESAMPLES, a.size))  # (resamples, rounds)
    idx_b = idx_a if paired else rng.integers(0, b.size, size=(RESAMPLES, b.size))
    ratios = np.median(a[idx_a], axis=1) / np.median(b[idx_b], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    ratio = float(np.median(a) / np.median(b))
    return RatioResult(ratio=ratio, low=float(low), high=float(high), method=METHOD)
