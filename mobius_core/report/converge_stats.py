"""Gains over the 2D baseline, 95% intervals over seeds, and the equivalence verdict.

Torch-free and scipy-free: the t quantiles are a table (to 30 degrees of freedom) and an
expansion beyond it.
"""

from __future__ import annotations

import math
import statistics

from mobius_core.measure.results import RecordError

# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z975 = 1.959964
MARGIN = 0.10  # "as much as serial": the difference within +-10% of serial's gain
MAX_SEEDS = 1000
SAME, LESS, MORE, INCONCLUSIVE = "same", "less", "more", "inconclusive"
NOTHING_TO_MATCH = "no verdict"  # the baseline's own gain is not above zero


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"t quantile: needs at least 1 degree of freedom, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975  # Cornish-Fisher expansion, within 1e-4 beyond 30 degrees of freedom
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def gain(baseline: float, loss: float) -> float:
    """How far `loss` fell below the baseline, as a fraction of the baseline."""
    return (baseline - loss) / baseline


def interval(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, 95% t-interval (low, high) and standard deviation of `values` (two at least)."""
    if len(values) < 2:
        raise RecordError(f"interval: needs two seeds at least, got {len(values)}")
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = t975(len(values) - 1) * sd / math.sqrt(len(values))
    return mean, mean - half, mean + half, sd


def outcome(low: float, high: float, band: float) -> str:
    """The difference's interval against +-band: same, less, more or inconclusive."""
    if -band <= low and high <= band:
        return SAME
    if high < -band:
        return LESS
    if low > band:
        return MORE
    return INCONCLUSIVE


def seeds_needed(mean: float, sd: float, band: float, n: int) -> int | None:
    """The fewest seeds whose interval (at this mean and spread) would settle the verdict:
    lie wholly inside +-band, or wholly outside it. None when none up to 1000 would."""
    gap = band - abs(mean) if abs(mean) < band else abs(mean) - band  # <= 0: never settled
    for m in range(max(n, 1) + 1, MAX_SEEDS + 1):
        if t975(m - 1) * sd / math.sqrt(m) < gap:
            return m
    return None


def sentence(result: str, variant: str, against: str, needed: int | None) -> str:
    """The verdict in words."""
    if result == SAME:
        return f"{variant} learns as much as {against}"
    if result in (LESS, MORE):
        return f"{variant} learns {result} than {against}"
    more = f"about {needed} seeds would settle it" if needed else "no number of seeds settles it"
    return f"inconclusive: {more}"
