"""Bootstrap confidence interval for the ratio of two medians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
METHOD = (
    "ratio of medians; 95% percentile bootstrap over paired interleaved rounds"
    f" ({RESAMPLES} resamples)"
)


@dataclass(frozen=True)
class RatioCI:
    ratio: float
    low: float
    high: float
    method: str = METHOD

    def to_dict(self) -> dict[str, object]:
        return {"ratio": self.ratio, "low": self.low, "high": self.high, "method": self.method}


def ratio_of_medians(
    numerator: list[float], denominator: list[float], seed: int = 0, level: float = 0.95
) -> RatioCI:
    """median(numerator) / median(denominator) and its bootstrap interval.

    Samples are paired by round (variants run interleaved), so rounds are resampled
    together: a slow round slows both sides and cancels in the ratio.
    """
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    if a.size == 0 or a.size != b.size:
        raise ValueError(f"ratio: need paired samples, got {a.size} and {b.size}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(RESAMPLES, a.size))  # (resamples, rounds)
    ratios = np.median(a[idx], axis=1) / np.median(b[idx], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return RatioCI(float(np.median(a) / np.median(b)), float(low), float(high))
