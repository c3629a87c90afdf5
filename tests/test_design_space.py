"""The design space: savings per k worked by hand, the sweep's runs, its table and plot."""

from __future__ import annotations

import pytest
import torch

from mobius_core.errors import BadInput
from mobius_core.measure.results import (
    FlopsResult,
    MemoryResult,
    ParamCounts,
    RecordError,
    SavedResult,
    TimeResult,
)
from mobius_core.models.config import preset
from mobius_core.report.design_space import (
    Point,
    Sweep,
    claims_table,
    measured,
    plot,
    predicted,
    rejoin_of,
)
from mobius_core.report.record import Case, DryRecord, DryRun, Record, StateBytes, VariantInfo
from mobius_core.run.dryrun import rejoin_sweep

SD15 = {"block_channels": [320, 640, 1280, 1280], "layers_per_level": 2}
CASE = Case("sd15", 1, 16, 256, "bf16", "meta")
SERIAL = VariantInfo("serial", baseline=True)
DOUBLE = VariantInfo("mobius-double")


def _dry(variant: VariantInfo, states: tuple[int, int, int], saved: int, flops: int) -> DryRecord:
    return DryRecord(
        CASE,
        variant,
        "fused",
        ParamCounts(1, 1, 2),
        FlopsResult(total=flops),
        SavedResult(bytes=saved),
        StateBytes(*states),
    )


def _sweep() -> Sweep:
    # serial: states 60 + 20 + 40 = 120, saved 80: memory 200; 1000 FLOPs
    # k = 3: states 120, saved 30: memory 150 (25% less); 900 FLOPs (10% less)
    # k = 12: states 120, saved 70: memory 190 (5% less); 990 FLOPs (1% less)
    serial = _dry(SERIAL, (60, 20, 40), 80, 1000)
    return Sweep(
        [
            DryRun(
                {**SD15, "rejoin_positions": 3},
                "bf16",
                "fused",
                [serial, _dry(DOUBLE, (60, 20, 40), 30, 900)],
            ),
            DryRun(
                {**SD15, "rejoin_positions": 12},
                "bf16",
                "fused",
                [serial, _dry(DOUBLE, (60, 20, 40), 70, 990)],
            ),
        ]
    )


def test_rejoin_of_a_config_resolves_none_to_every_up_position() -> None:
    assert rejoin_of({**SD15, "rejoin_positions": 3}) == 3
    assert rejoin_of({**SD15, "rejoin_positions": None}) == 12  # 4 levels x 3 up layers
    assert rejoin_of({"block_channels": [32, 64], "layers_per_level": 1}) == 4


def test_predicted_savings_are_states_plus_saved_and_flops() -> None:
    points = predicted(_sweep())
    assert [p.k for p in points] == [3, 12]
    assert points[0].memory_saving == pytest.approx(0.25)
    assert points[0].time_saving == pytest.approx(0.10)
    assert points[1].memory_saving == pytest.approx(0.05)
    assert points[1].time_saving == pytest.approx(0.01)


def test_the_sweep_reads_back_and_refuses_another_schema() -> None:
    sweep = _sweep()
    assert Sweep.from_dict(sweep.to_dict()) == sweep
    with pytest.raises(RecordError, match="schema"):
        Sweep.from_dict({**sweep.to_dict(), "schema": "mobius-bench-dryrun/2"})


def _record(variant: VariantInfo, peak: int, median: float, k: int | None = None) -> Record:
    case = Case("sd15", 1, 16, 256, "bf16", "cuda", rounds=2)
    return Record(
        case,
        variant,
        "ok",
        config={**SD15, "rejoin_positions": k},
        memory=MemoryResult(peak_allocated=peak),
        time=TimeResult(median_ms=median),
    )


def test_measured_points_pair_each_mobius_with_the_baseline_of_its_case() -> None:
    records = [
        _record(SERIAL, 1000, 100.0),
        _record(VariantInfo("mobius"), 600, 80.0, k=12),  # mobius is k = 0 whatever the config
        _record(DOUBLE, 700, 90.0, k=6),
        _record(VariantInfo("serial-ckpt"), 500, 130.0),
    ]
    points = sorted(measured(records), key=lambda p: p.k)
    assert [(p.k, p.measured) for p in points] == [(0, True), (6, True)]
    assert points[0].memory_saving == pytest.approx(0.4)
    assert points[0].time_saving == pytest.approx(0.2)
    assert points[1].memory_saving == pytest.approx(0.3)
    assert points[1].time_saving == pytest.approx(0.1)


def test_the_table_judges_each_claim_and_both() -> None:
    text = claims_table(
        [
            Point(3, 0.25, 0.10, False, "c"),
            Point(1, 0.30, 0.15, False, "c"),
        ]
    )
    lines = text.splitlines()
    assert lines[2].startswith("| 1 |") and lines[2].endswith("| PASS | +15.0% | PASS | yes |")
    assert lines[3].startswith("| 3 |") and lines[3].endswith("| PASS | +10.0% | FAIL | no |")


def test_the_plot_draws_both_claims_as_lines() -> None:
    fig = plot(predicted(_sweep()), "sd15-b1-f16-r256-bf16")
    flat = {
        round(line.get_ydata()[0], 6)
        for line in fig.axes[0].lines
        if len(set(line.get_ydata())) == 1
    }
    assert {24.0, 12.0} <= flat


def test_the_sweep_predicts_each_k_and_k0_is_mobius() -> None:
    config = preset("tiny")
    sweep = rejoin_sweep(config, ["serial", "mobius", "mobius-double"], torch.bfloat16, [0, 2])
    assert [run.config["rejoin_positions"] for run in sweep.runs] == [0, 2]
    at0 = {r.variant.name: r for r in sweep.runs[0].records}
    assert at0["mobius-double"].flops.total == at0["mobius"].flops.total
    assert at0["mobius-double"].saved.bytes == at0["mobius"].saved.bytes
    at2 = {r.variant.name: r for r in sweep.runs[1].records}
    assert at2["mobius-double"].saved.bytes > at2["mobius"].saved.bytes
    assert (
        at2["mobius-double"].saved.by_region["spatial"]
        > 0
        == at2["mobius"].saved.by_region["spatial"]
    )
    with pytest.raises(BadInput, match=r"outside 0\.\.4"):
        rejoin_sweep(config, ["serial", "mobius-double"], torch.bfloat16, [5])
    with pytest.raises(BadInput, match="add it to --variants"):
        rejoin_sweep(config, ["serial", "mobius"], torch.bfloat16, [1])
