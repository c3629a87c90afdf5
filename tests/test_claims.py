"""Verdicts against the paper's claims, at the edges."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mobius_core.measure.results import RatioResult, TimeResult
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
from mobius_core.report.headline import sentence
from mobius_core.report.merge import merge
from mobius_core.report.record import Record
from mobius_core.report.runs import load
from mobius_core.report.tables import frame
from mobius_core.report.verdicts import PEER, claims_frame, versus_serials


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


RUN = Path(__file__).parent / "fixtures" / "tiny-run.json"
CASE = "tiny-b1-f2-r64-fp32"


def _serials(peer_ms: float, peer_bytes: int) -> list[Record]:
    """serial, mobius and diffusers-serial at one case, each step taking the same time
    every round: serial 100 ms, mobius 72 ms, the peer `peer_ms`. Memory (the CPU proxy)
    is set by hand: serial 1,000,000 B, mobius 720,000 B, the peer `peer_bytes`."""
    records, _ = merge(load(RUN).records)
    kept = {r.variant.name: r for r in records if r.case.key == CASE}

    def hand_made(name: str, ms: float, memory: int, ratio: RatioResult | None) -> Record:
        record = kept["mobius" if name == "mobius" else "serial"]
        parts = {"parameters": 1000, "gradients": 0, "optimizer": 0, "saved": memory - 1000}
        return replace(
            record,
            variant=replace(record.variant, name=name, baseline=name == "serial"),
            time=TimeResult.from_samples([ms] * 4, "hand-made"),
            memory=replace(record.memory, breakdown=parts),
            ratio_to_baseline=ratio,
        )

    return [
        hand_made("serial", 100.0, 1_000_000, None),
        hand_made("mobius", 72.0, 720_000, RatioResult(ratio=0.72, low=0.72, high=0.72)),
        hand_made(PEER, peer_ms, peer_bytes, RatioResult(ratio=peer_ms / 100)),
    ]


def _judged(records: list[Record]) -> tuple[pd.DataFrame, pd.Series, str]:
    rows = frame(records)
    claims = claims_frame(rows, records, "serial")
    return (
        claims,
        claims.set_index("case").loc[CASE],
        sentence(claims, rows, CASE, "a CPU", "serial"),
    )


def test_the_faster_and_leaner_serial_is_the_reference() -> None:
    # the peer: 80 ms and 900,000 B. Against it mobius takes 72/80 = 0.9 of the time (a 10%
    # saving, below 12%) and 720,000/900,000 = 0.8 of the memory (20%, below 24%); against
    # our serial it would pass both (28% each).
    records = _serials(80.0, 900_000)
    claims, c, text = _judged(records)
    assert (c["time_reference"], c["memory_reference"]) == (PEER, PEER)
    assert c["reference"] == "diffusers-serial (faster and leaner)"
    assert c["time_saving"] == pytest.approx(0.10) and c["time_verdict"] == FAIL
    assert (c["time_low"], c["time_high"]) == (pytest.approx(0.10), pytest.approx(0.10))
    assert c["memory_saving"] == pytest.approx(0.20) and c["memory_verdict"] == FAIL
    assert text == (
        "On a CPU, at tiny-b1-f2-r64-fp32, mobius used 0.80\u00d7 diffusers-serial's peak"
        " memory (FAIL against 24%) and 0.90\u00d7 its step time [0.90, 0.90] (FAIL against"
        " 12%); reference serial: diffusers-serial (faster and leaner)."
    )
    both = versus_serials(claims, frame(records), records, "serial")
    assert "| tiny-b1-f2-r64-fp32 | serial | +28.0% | +28.0% [+28.0%, +28.0%] |" in both
    assert "| tiny-b1-f2-r64-fp32 | diffusers-serial | +20.0% | +10.0% [+10.0%, +10.0%] |" in both
    assert both.count("time and memory") == 1


def test_a_faster_but_fatter_serial_is_the_reference_for_time_only() -> None:
    # the peer: 80 ms but 1,200,000 B. Time against the peer (0.9: FAIL), memory against
    # our serial, the leaner (720,000/1,000,000 = 0.72: a 28% saving, PASS).
    _, c, text = _judged(_serials(80.0, 1_200_000))
    assert (c["time_reference"], c["memory_reference"]) == (PEER, "serial")
    assert c["reference"] == "diffusers-serial (faster) for time, serial (leaner) for memory"
    assert c["memory_saving"] == pytest.approx(0.28) and c["memory_verdict"] == PASS
    assert c["time_verdict"] == FAIL
    assert text == (
        "On a CPU, at tiny-b1-f2-r64-fp32, mobius used 0.72\u00d7 serial's peak memory (PASS"
        " against 24%) and 0.90\u00d7 diffusers-serial's step time [0.90, 0.90] (FAIL against"
        " 12%); reference serial: diffusers-serial (faster) for time, serial (leaner) for memory."
    )


def test_our_serial_stays_the_reference_when_it_is_the_stronger() -> None:
    # the peer: 125 ms and 1,200,000 B: mobius is judged against our serial, 28% and 28%.
    claims, c, text = _judged(_serials(125.0, 1_200_000))
    assert c["reference"] == "serial (faster and leaner)"
    assert (c["time_verdict"], c["memory_verdict"]) == (PASS, PASS)
    assert text.endswith("; reference serial: serial (faster and leaner).")
    alone = [r for r in _serials(125.0, 1_200_000) if r.variant.name != PEER]
    claims, c, text = _judged(alone)
    assert c["reference"] == "" and text.endswith("(PASS against 12%).")  # one serial: no note
    assert versus_serials(claims, frame(alone), alone, "serial") == ""
