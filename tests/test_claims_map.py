"""The claims map from hand-made grids: where each claim holds, worked out by hand; the time
model fitted to hand-made step times; measured cases confirming or refuting; the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mobius_core.cli import main
from mobius_core.measure.results import (
    FlopsResult,
    ParamCounts,
    RecordError,
    SavedResult,
    TimeResult,
)
from mobius_core.report.claims_map import (
    CONFIRMS,
    REFUTES,
    UNSETTLED,
    map_points,
    measured_points,
    section,
    sentence,
)
from mobius_core.report.grid import Grid
from mobius_core.report.record import Case, DryRecord, DryRun, Record, StateBytes, VariantInfo
from mobius_core.report.time_model import TimeModel, fit

SERIAL = VariantInfo("serial", baseline=True)
MOBIUS = VariantInfo("mobius")
STATES = (60, 20, 40)  # parameters, gradients, optimizer, the same for both variants
FIXTURE_RUN = Path(__file__).parent / "fixtures" / "tiny-run.json"
# (batch, frames) -> serial saved, mobius saved, serial FLOPs, mobius FLOPs, at 64 px: with no
# simulated peak, the peak is parameters + optimizer + the larger of saved and gradients, which
# is 100 + saved here, so memory ratio = (100 + mobius saved) / (100 + serial saved);
# FLOP ratio = mobius / serial
HAND = {
    (1, 8): (100, 60, 1000, 700),  # memory 160/200 = 0.80 (no); time 0.70 (holds)
    (2, 8): (300, 180, 2000, 1400),  # memory 280/400 = 0.70 (holds); time 0.70 (holds)
    (1, 16): (200, 120, 2000, 1800),  # memory 220/300 = 0.733 (holds); time 0.90 (no)
    (2, 16): (400, 320, 4000, 3800),  # memory 420/500 = 0.84 (no); time 0.95 (no)
}


def test_the_predicted_peak_is_the_simulated_one_or_for_older_files_its_estimate() -> None:
    case = Case("tiny", 1, 8, 64, "bf16", "meta")
    simulated = _dry(SERIAL, case, 100, 1)
    simulated.peak = 345
    assert simulated.predicted_peak == 345
    # a file written before the simulated peak: the larger of saved and gradients
    assert _dry(SERIAL, case, 100, 1).predicted_peak == 60 + 40 + 100  # saved alive at the peak
    assert _dry(SERIAL, case, 10, 1).predicted_peak == 60 + 40 + 20  # the gradients outgrow it


def _dry(variant: VariantInfo, case: Case, saved: int, flops: int) -> DryRecord:
    return DryRecord(
        case,
        variant,
        "fused",
        ParamCounts(1, 1, 2),
        FlopsResult(total=flops),
        SavedResult(bytes=saved),
        StateBytes(*STATES),
    )


def _grid(preset: str = "tiny", dtype: str = "bf16", hand: dict | None = None) -> Grid:
    hand = HAND if hand is None else hand
    runs = []
    for (b, f), (s_saved, m_saved, s_flops, m_flops) in hand.items():
        case = Case(preset, b, f, 64, dtype, "meta")
        records = [_dry(SERIAL, case, s_saved, s_flops), _dry(MOBIUS, case, m_saved, m_flops)]
        runs.append(DryRun({"name": preset}, dtype, "fused", records))
    batches = sorted({b for b, _ in hand})
    frames = sorted({f for _, f in hand})
    return Grid(preset, dtype, "fused", batches, frames, [64], runs)


def test_the_claims_hold_where_the_hand_worked_ratios_are_below_076_and_088() -> None:
    points = {p.shape[:2]: p for p in map_points(_grid(), TimeModel(reason="none measured"))}
    assert points[(1, 8)].memory_ratio == pytest.approx(0.80)
    assert points[(1, 16)].memory_ratio == pytest.approx(220 / 300)
    assert points[(2, 16)].time_ratio == pytest.approx(0.95)  # the FLOP ratio stands for time
    assert {s for s, p in points.items() if p.memory_holds} == {(2, 8), (1, 16)}
    assert {s for s, p in points.items() if p.time_holds} == {(1, 8), (2, 8)}


def test_a_grid_reads_back_and_refuses_shapes_that_are_not_its_axes_product() -> None:
    grid = _grid()
    again = Grid.from_dict(json.loads(json.dumps(grid.to_dict())))
    assert [p.memory_ratio for p in map_points(again, TimeModel())] == [
        p.memory_ratio for p in map_points(grid, TimeModel())
    ]
    holed = {k: v for k, v in HAND.items() if k != (2, 16)}
    with pytest.raises(RecordError, match="not the axes' product"):
        _grid(hand=holed)
    data = grid.to_dict()
    data["schema"] = "mobius-bench-grid/0"
    with pytest.raises(RecordError, match="schema"):
        Grid.from_dict(data)


def _record(case: Case, variant: VariantInfo, flops: float, ms: float) -> Record:
    return Record(
        case,
        variant,
        "ok",
        flops=FlopsResult(total=int(flops)),
        time=TimeResult.from_samples([ms], "hand"),
    )


def _measured(times: dict[int, tuple[float, float, float, float]]) -> list[Record]:
    """batch -> serial TFLOP, serial ms, mobius TFLOP, mobius ms (sd15, 16 frames, 256 px)."""
    out = []
    for b, (s_flops, s_ms, m_flops, m_ms) in times.items():
        case = Case("sd15", b, 16, 256, "bf16", "cuda", 8, 2)
        out += [
            _record(case, SERIAL, s_flops * 1e12, s_ms),
            _record(case, MOBIUS, m_flops * 1e12, m_ms),
        ]
    return out


def test_the_time_model_recovers_a_launch_time_per_variant_and_a_shared_rate() -> None:
    # t = max(c, F / R) with R = 100 TFLOP/s (10 ms per TFLOP), c_serial 200 ms, c_mobius 180:
    # serial 10 TFLOP -> max(200, 100) = 200, 40 -> 400; mobius 7 -> max(180, 70) = 180, 28 -> 280
    records = _measured({1: (10, 200, 7, 180), 4: (40, 400, 28, 280)})
    model = fit(records, "sd15", "bf16")
    assert model.rate_tflops == pytest.approx(100)
    assert model.fixed_ms["serial"] == pytest.approx(200)
    assert model.fixed_ms["mobius"] == pytest.approx(180)
    assert model.worst_residual == pytest.approx(0, abs=1e-9)
    assert model.ratio(4e12, 2.8e12) == pytest.approx(180 / 200)  # both launch-bound
    assert model.ratio(100e12, 70e12) == pytest.approx(700 / 1000)  # both kernel-bound


def test_a_launch_bound_variant_keeps_its_launch_time_at_the_larger_case() -> None:
    # serial (1 TFLOP, 200 ms), (4, 240); mobius (0.7, 180), (2.8, 184). Best split: serial's
    # first point launch-bound (c 200) and its second kernel-bound (slope 240 / 4 = 60 ms per
    # TFLOP); both of mobius's launch-bound, c = (180 + 184) / 2 = 182 (2.8 x 60 = 168 < 182):
    # residual 2^2 + 2^2 = 8. Making mobius's second point kernel-bound instead gives the slope
    # (4 x 240 + 2.8 x 184) / (16 + 7.84) = 1475.2 / 23.84 = 61.879..., residual
    # (247.5 - 240)^2 + (173.3 - 184)^2 > 8.
    model = fit(_measured({1: (1, 200, 0.7, 180), 4: (4, 240, 2.8, 184)}), "sd15", "bf16")
    assert model.fixed_ms == pytest.approx({"serial": 200, "mobius": 182})
    assert model.rate_tflops == pytest.approx(1000 / 60)
    assert model.worst_residual == pytest.approx(2 / 180)


def test_when_every_case_is_launch_bound_the_flop_ratio_stands_for_time() -> None:
    model = fit(_measured({1: (1, 200, 0.7, 180), 4: (4, 200, 2.8, 180)}), "sd15", "bf16")
    assert model.rate_tflops is None and "launch-bound" in model.reason


def test_with_one_measured_case_the_flop_ratio_stands_for_time() -> None:
    records = _measured({1: (2, 30, 1.4, 44)})
    other_preset = _measured({4: (8, 90, 5.6, 86)})
    other_preset = [
        Record(
            Case("tiny", 4, 16, 256, "bf16", "cuda", 8, 2),
            r.variant,
            "ok",
            flops=r.flops,
            time=r.time,
        )
        for r in other_preset
    ]
    model = fit(records + other_preset, "sd15", "bf16")
    assert model.rate_tflops is None and "1 measured case(s)" in model.reason
    assert model.ratio(1000, 700) == pytest.approx(0.7)
    assert "the FLOP ratio stands for the time ratio" in model.describe()


def _claims(verdicts: dict[int, tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """batch -> (memory verdict, time verdict) at tiny, 8 frames, 64 px."""
    rows, claims = [], []
    for b, (memory, time) in verdicts.items():
        key = f"tiny-b{b}-f8-r64-bf16"
        rows.append(
            {"case": key, "preset": "tiny", "batch": b, "frames": 8, "resolution": 64}
            | {"dtype": "bf16", "mode": "eager", "world_size": 1}
        )
        claims.append(
            {"case": key, "memory_saving": 0.3, "memory_verdict": memory}
            | {"time_saving": 0.2, "time_verdict": time}
        )
    return pd.DataFrame(rows), pd.DataFrame(claims)


def test_measured_cases_confirm_or_refute_the_map() -> None:
    grid = _grid()
    points = map_points(grid, TimeModel())
    # b1 f8: memory predicted not to hold, time to hold; b2 f8: both predicted to hold
    rows, claims = _claims({1: ("PASS", "PASS"), 2: ("FAIL", "INCONCLUSIVE"), 4: ("PASS", "PASS")})
    measured = {m.shape[0]: m for m in measured_points(grid, points, rows, claims)}
    assert (measured[1].memory_agrees, measured[1].time_agrees) == (REFUTES, CONFIRMS)
    assert (measured[2].memory_agrees, measured[2].time_agrees) == (REFUTES, UNSETTLED)
    assert measured[4].memory_agrees == "off the grid"
    text = sentence(grid, points, list(measured.values()), TimeModel())
    assert "the 24% memory saving at 2 (mobius/serial from 0.84 at b2 f16 r64" in text
    assert "the 12% time saving at 2 (by the FLOP ratio" in text and "both at 1." in text
    assert "2 measured case(s) on the grid: memory 0 confirms, 2 refutes, 0 inconclusive" in text
    table = "\n".join(section(grid, points, list(measured.values()), TimeModel()))
    assert "| 1 | 8 | 0.800 / 0.700 T |" in table and "| 2 | 8 | 0.700 M / 0.700 T |" in table


def test_the_report_opens_with_the_map_sentence_and_draws_the_map(tmp_path: Path) -> None:
    # the fixture run: tiny fp32 at 2 frames, 64 px; both cases' memory verdicts are FAIL.
    # The grid predicts 0.80 at batch 1 (confirmed) and 0.70 at batch 2 (refuted).
    hand = {(1, 2): HAND[(1, 8)], (2, 2): HAND[(2, 8)]}
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(_grid("tiny", "fp32", hand).to_dict()))
    out = tmp_path / "report"
    assert main(["report", str(FIXTURE_RUN), str(grid), "--out", str(out)]) == 0
    first_screen = (out / "summary.md").read_text().split("Runs:")[0]
    assert "Where the claims hold ([claims_map.png](claims_map.png)): over 2 shapes" in first_screen
    assert "memory 1 confirms, 1 refutes, 0 inconclusive" in first_screen
    assert "fitted on 2 measured cases" in first_screen  # both cases timed serial and mobius
    assert (out / "claims_map.png").stat().st_size > 0
    assert "## Where the claims hold: the claims map" in (out / "summary.md").read_text()
