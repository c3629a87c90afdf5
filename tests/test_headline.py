"""The headline case and its sentence, from the fixture run and small hand-made tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mobius_core.errors import BadInput
from mobius_core.report.headline import check_case, headline_case, ratio_text, sentence
from mobius_core.report.merge import merge
from mobius_core.report.runs import load
from mobius_core.report.tables import baseline_name, frame
from mobius_core.report.verdicts import claims_frame

RUN = Path(__file__).parent / "fixtures" / "tiny-run.json"


def _fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    records, _ = merge(load(RUN).records)
    rows = frame(records)
    return rows, claims_frame(rows, records, baseline_name(records))


def _case(preset: str, batch: int, frames: int, res: int, flops: float) -> list[dict]:
    key = f"{preset}-b{batch}-f{frames}-r{res}-bf16"
    shape = {"case": key, "preset": preset, "batch": batch, "frames": frames, "resolution": res}
    return [
        {**shape, "variant": "serial", "status": "ok", "flops": flops},
        {**shape, "variant": "mobius", "status": "ok", "flops": 0.7 * flops},
    ]


def test_the_headline_is_the_largest_case_by_serial_flops() -> None:
    rows, _ = _fixture()
    # serial does 371,404,800 FLOPs at b1 and 742,809,600 at b2
    assert headline_case(rows, "serial") == "tiny-b2-f2-r64-fp32"
    assert headline_case(rows, "serial", "tiny-b1-f2-r64-fp32") == "tiny-b1-f2-r64-fp32"


def test_the_claim_case_is_the_headline_even_when_smaller() -> None:
    rows = pd.DataFrame(
        _case("sd15", 2, 16, 256, 9e13)
        + _case("sd15", 1, 16, 256, 4.5e13)
        + _case("sd15", 1, 8, 512, 8e13)
    )
    assert headline_case(rows, "serial") == "sd15-b1-f16-r256-bf16"
    rows = rows[rows["case"] != "sd15-b1-f16-r256-bf16"]
    assert headline_case(rows, "serial") == "sd15-b2-f16-r256-bf16"  # 9e13 > 8e13


def test_a_case_the_runs_lack_is_refused_in_one_line() -> None:
    run = load(RUN)
    check_case([run], "tiny-b1-f2-r64-fp32")
    with pytest.raises(BadInput, match="--case: no case 'sd15' in the runs; they hold tiny-b1"):
        check_case([run], "sd15")


def test_the_sentence_states_both_claims_at_the_headline() -> None:
    rows, claims = _fixture()
    # memory (CPU proxy) 16,781,640 / 20,273,640 = 0.8278: a saving of 17.2%, below 24%;
    # time: ratio 0.7688 [0.6573, 1.1489], a saving straddling 12%
    assert sentence(claims, rows, "tiny-b2-f2-r64-fp32", "a CPU", "serial") == (
        "On a CPU, at tiny-b2-f2-r64-fp32, mobius used 0.83\u00d7 serial's peak memory"
        " (FAIL against 24%) and 0.77\u00d7 its step time [0.66, 1.15]"
        " (INCONCLUSIVE against 12%)."
    )


def test_the_sentence_says_why_a_case_cannot_be_judged() -> None:
    rows, claims = _fixture()
    rows.loc[(rows["case"] == "tiny-b2-f2-r64-fp32") & (rows["variant"] == "mobius"), "status"] = (
        "oom"
    )
    claims = claims[claims["case"] != "tiny-b2-f2-r64-fp32"]
    assert sentence(claims, rows, "tiny-b2-f2-r64-fp32", "a CPU", "serial") == (
        "On a CPU, at tiny-b2-f2-r64-fp32, the claims cannot be judged: mobius ended oom."
    )


@pytest.mark.parametrize(
    ("ratio", "claim", "text"),
    [
        (0.82776, 0.24, "0.83"),  # a saving of 17.2%: two decimals are on its side of 24%
        (0.76004, 0.24, "0.76004"),  # 23.996%: "0.76" would read as a 24% saving
        (0.7599, 0.24, "0.76"),  # 24.01%: "0.76" is a 24% saving, on the same side
        (0.88004, 0.12, "0.88004"),
    ],
)
def test_a_ratio_shows_the_digits_that_put_it_on_its_side_of_the_claim(
    ratio: float, claim: float, text: str
) -> None:
    assert ratio_text(ratio, claim) == text
