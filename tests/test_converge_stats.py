"""converge's statistics: the t-interval, gains and the verdict's outcomes, worked by hand."""

from __future__ import annotations

import pytest

from mobius_core.measure.results import RecordError
from mobius_core.report import converge_stats as stats
from mobius_core.report.converge_record import verdict


def test_t_quantiles() -> None:
    assert stats.t975(2) == 4.303  # tables of Student's t
    assert stats.t975(40) == pytest.approx(2.021, abs=1e-3)
    assert stats.t975(10_000) == pytest.approx(1.960, abs=1e-3)


def test_interval_by_hand() -> None:
    """[1, 2, 3]: mean 2, sd 1, half width 4.303 / sqrt(3) = 2.4843."""
    mean, low, high, sd = stats.interval([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert low == pytest.approx(-0.4843, abs=1e-4)
    assert high == pytest.approx(4.4843, abs=1e-4)
    with pytest.raises(RecordError, match="two seeds"):
        stats.interval([1.0])


def test_gain() -> None:
    assert stats.gain(2.0, 1.5) == 0.25
    assert stats.gain(2.0, 2.5) == -0.25


SERIAL = [0.10, 0.10, 0.10]  # serial's gain per seed: the band is +-0.01


def test_learns_as_much() -> None:
    """Differences 0.001, 0.002, 0.003: 0.002 +- 0.00248, inside +-0.01."""
    v = verdict("mobius", "serial", "overall", [0.101, 0.102, 0.103], SERIAL)
    assert v.band == pytest.approx(0.01)
    assert v.difference.low == pytest.approx(-0.00048, abs=1e-5)
    assert (v.outcome, v.text) == ("same", "mobius learns as much as serial")


def test_learns_less_and_more() -> None:
    """Differences -0.04, -0.05, -0.06: -0.05 +- 0.0248, wholly below -0.01; mirrored above."""
    less = verdict("mobius", "serial", "overall", [0.06, 0.05, 0.04], SERIAL)
    assert less.difference.high == pytest.approx(-0.0252, abs=1e-4)
    assert (less.outcome, less.text) == ("less", "mobius learns less than serial")
    more = verdict("mobius", "serial", "overall", [0.14, 0.15, 0.16], SERIAL)
    assert more.outcome == "more"


def test_inconclusive_names_the_seeds_that_settle_it() -> None:
    """Differences 0, 0.02, -0.02: mean 0, sd 0.02; settled when t(m-1) * 0.02 / sqrt(m)
    < 0.01: m = 17 gives 2.120 / 4.123 = 0.514, m = 18 gives 2.110 / 4.243 = 0.497."""
    v = verdict("mobius", "serial", "overall", [0.10, 0.12, 0.08], SERIAL)
    assert (v.outcome, v.seeds_needed) == ("inconclusive", 18)
    assert v.text == "inconclusive: about 18 seeds would settle it"


def test_seeds_needed_by_hand() -> None:
    """sd 0.01, gap 0.012: t(m-1) * 0.01 / sqrt(m) < 0.012 first at m = 6 (2.571 / 2.449 =
    1.050 < 1.2; m = 5 gives 2.776 / 2.236 = 1.241)."""
    assert stats.seeds_needed(mean=0.0, sd=0.01, band=0.012, n=3) == 6


def test_no_seed_count_settles_a_difference_on_the_band_edge() -> None:
    assert stats.seeds_needed(mean=0.01, sd=0.005, band=0.01, n=3) is None


def test_no_verdict_where_the_baseline_learned_nothing() -> None:
    # serial's gains -0.01, +0.01: mean 0, so its own interval holds zero: nothing to match
    v = verdict("mobius", "serial", "high-noise", [0.0, 0.0], [-0.01, 0.01])
    assert v.outcome == stats.NOTHING_TO_MATCH
    assert v.text == "no verdict: serial's own high-noise temporal gain is not above zero"
    assert v.seeds_needed is None
