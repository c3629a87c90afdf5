"""Verdicts against the paper's claims, at the edges."""

from __future__ import annotations

import pytest

from mobius_core.report.claims import (
    FAIL,
    INCONCLUSIVE,
    NA,
    PASS,
    Saving,
    decisive,
    verdict_interval,
    verdict_value,
)


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.12, 0.20, PASS),  # the whole interval reaches the claim: its edge counts
        (0.13, 0.14, PASS),
        (0.05, 0.1199, FAIL),  # wholly below
        (-0.10, -0.01, FAIL),
        (0.10, 0.12, INCONCLUSIVE),  # reaches the claim only at its top
        (0.1199, 0.30, INCONCLUSIVE),
    ],
)
def test_time_verdict_at_the_edges(low: float, high: float, verdict: str) -> None:
    assert verdict_interval(low, high, 0.12) == verdict


def test_memory_verdict_uses_the_value() -> None:
    assert verdict_value(0.24, 0.24) == PASS
    assert verdict_value(0.2399, 0.24) == FAIL


def test_saving_from_a_ratio_flips_the_interval() -> None:
    saving = Saving.from_ratio(0.88, low=0.80, high=0.90)
    assert saving.value == pytest.approx(0.12)
    assert (saving.low, saving.high) == (pytest.approx(0.10), pytest.approx(0.20))
    assert saving.verdict(0.12) == INCONCLUSIVE
    assert Saving.from_ratio(0.70, 0.65, 0.75).verdict(0.12) == PASS
    assert Saving.from_ratio(0.70).verdict(0.24) == PASS  # no interval: the value decides
    assert Saving.from_ratio(0.80).verdict(0.24) == FAIL
    assert Saving.from_ratio(0.70, 0.65, 0.75).text(0.12) == "+30.0% [+25.0%, +35.0%]"
    assert Saving(float("nan")).verdict(0.12) == NA  # not timed: no verdict


def test_an_inverted_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^interval: low 0\.3 is above high 0\.1$"):
        verdict_interval(0.3, 0.1, 0.12)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.23996, "+23.996%"),  # not "+24.0%": that would be on the claim's other side
        (0.2399, "+23.99%"),
        (0.24, "+24.0%"),  # the claim itself counts as reaching it
        (0.24004, "+24.0%"),  # rounds down to the claim, still on its side
        (0.2351, "+23.5%"),
        (-0.10, "-10.0%"),
    ],
)
def test_a_saving_is_shown_with_the_digits_that_decide_it(value: float, shown: str) -> None:
    assert decisive(value, 0.24) == shown


def test_each_end_of_an_interval_is_shown_on_its_side_of_the_claim() -> None:
    # a saving of 15% [11.996%, 20%] against 12%: INCONCLUSIVE would read as PASS at 12.0%
    saving = Saving(0.15, 0.11996, 0.20)
    assert saving.verdict(0.12) == INCONCLUSIVE
    assert saving.text(0.12) == "+15.0% [+11.996%, +20.0%]"
