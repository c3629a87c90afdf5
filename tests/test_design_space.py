"""The design space: savings per k worked by hand, the sweep's runs, its table and plot."""

from __future__ import annotations

import pytest
import torch

from mobius_core.errors import BadInput
from mobius_core.measure.results import (
    FlopsResult,
    MemoryResult,
    ParamCounts,
    RatioResult,
    RecordError,
    SavedResult,
    TimeResult,
)
from mobius_core.models.config import preset
from mobius_core.report.design_plot import plot
from mobius_core.report.design_space import (
    Panel,
    Point,
    Sweep,
    k_table,
    measured,
    panels,
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
    # the peak: parameters 60 + optimizer 40 + the larger of saved and gradients (20)
    # serial: saved 100: memory 200; 1000 FLOPs
    # k = 3: saved 50: memory 150 (25% less); 900 FLOPs (10% less)
    # k = 12: saved 90: memory 190 (5% less); 990 FLOPs (1% less)
    serial = _dry(SERIAL, (60, 20, 40), 100, 1000)
    return Sweep(
        [
            DryRun(
                {**SD15, "rejoin_positions": 3},
                "bf16",
                "fused",
                [serial, _dry(DOUBLE, (60, 20, 40), 50, 900)],
            ),
            DryRun(
                {**SD15, "rejoin_positions": 12},
                "bf16",
                "fused",
                [serial, _dry(DOUBLE, (60, 20, 40), 90, 990)],
            ),
        ]
    )


def test_rejoin_of_a_config_resolves_none_to_every_up_position() -> None:
    assert rejoin_of({**SD15, "rejoin_positions": 3}) == 3
    assert rejoin_of({**SD15, "rejoin_positions": None}) == 12  # 4 levels x 3 up layers
    assert rejoin_of({"block_channels": [32, 64], "layers_per_level": 1}) == 4


def test_predicted_savings_are_of_the_predicted_peak_and_flops() -> None:
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


def _record(
    variant: VariantInfo,
    peak: int,
    median: float,
    k: int | None = None,
    case: Case | None = None,
    ratio: RatioResult | None = None,
) -> Record:
    case = case or Case("sd15", 1, 16, 256, "bf16", "cuda", rounds=2)
    return Record(
        case,
        variant,
        "ok",
        config={**SD15, "rejoin_positions": k},
        memory=MemoryResult(peak_allocated=peak),
        time=TimeResult(median_ms=median),
        ratio_to_baseline=ratio,
    )


def test_measured_points_pair_each_mobius_with_the_baseline_of_its_case() -> None:
    at_k3 = Case("sd15", 1, 16, 256, "bf16", "cuda", rounds=2, rejoin=3)
    compiled = Case("sd15", 1, 16, 256, "bf16", "cuda", rounds=2, mode="compile")
    records = [
        _record(SERIAL, 1000, 100.0),
        _record(VariantInfo("mobius"), 600, 80.0, k=12),  # mobius is k = 0 whatever the config
        _record(DOUBLE, 700, 90.0, k=6),
        _record(VariantInfo("serial-ckpt"), 500, 130.0),
        # the k = 3 case runs its own serial: the point is set against it, not the plain one
        _record(SERIAL, 800, 50.0, k=3, case=at_k3),
        _record(DOUBLE, 600, 45.0, k=3, case=at_k3),
        # another mode is another cost: left out
        _record(SERIAL, 1000, 100.0, case=compiled),
        _record(VariantInfo("mobius"), 100, 10.0, case=compiled),
    ]
    points = sorted(measured(records), key=lambda p: p.k)
    assert [(p.k, p.case) for p in points] == [
        (0, "sd15-b1-f16-r256-bf16"),
        (3, "sd15-b1-f16-r256-bf16-k3"),
        (6, "sd15-b1-f16-r256-bf16"),
    ]
    assert {p.shape for p in points} == {"sd15-b1-f16-r256"}
    assert points[0].memory_saving == pytest.approx(0.4)
    assert points[0].time_saving == pytest.approx(0.2)
    assert points[1].memory_saving == pytest.approx(0.25)  # 1 - 600 / 800
    assert points[1].time_saving == pytest.approx(0.1)  # 1 - 45 / 50
    assert points[2].memory_saving == pytest.approx(0.3)
    assert points[2].time_saving == pytest.approx(0.1)


def test_a_paired_ratio_gives_the_time_saving_and_its_interval() -> None:
    records = [
        _record(SERIAL, 1000, 100.0),
        _record(DOUBLE, 700, 99.0, k=6, ratio=RatioResult(0.8, 0.75, 0.9)),
    ]
    (point,) = measured(records)
    assert point.time_saving == pytest.approx(0.2)  # the paired ratio, not 1 - 99 / 100
    assert (point.time_low, point.time_high) == (pytest.approx(0.1), pytest.approx(0.25))


def test_measured_points_join_the_sweep_of_their_preset() -> None:
    """sd15 points join the sd15 sweep (another batch is another shape of the preset); a
    small point has a panel of its own: k means another place in small's decoder."""
    points = [
        Point(3, 0.2, 0.1, True, "sd15-b2-f16-r256-bf16-k3", "sd15-b2-f16-r256"),
        Point(2, 0.2, 0.1, True, "small-b1-f8-r256-fp32-k2", "small-b1-f8-r256"),
    ]
    first, second = panels([_sweep()], points)
    assert (first.shape, first.measured_shapes) == ("sd15-b1-f16-r256", ["sd15-b2-f16-r256"])
    assert [p.k for p in first.predicted] == [3, 12]
    assert (second.shape, second.predicted, second.measured_shapes) == (
        "small-b1-f8-r256",
        [],
        ["small-b1-f8-r256"],
    )


def test_the_k_table_sets_measured_beside_predicted() -> None:
    """k = 3: predicted 25% and 10% (PASS, FAIL); measured 30% and 15% [13%, 17%] (PASS,
    PASS); k = 12 predicted only; k = 0 measured only, its interval straddling 12%."""
    panel = Panel(
        "sd15-b1-f16-r256",
        predicted(_sweep()),
        [
            Point(3, 0.30, 0.15, True, "sd15-b1-f16-r256-bf16-k3", "", 0.13, 0.17),
            Point(3, 0.01, 0.01, True, "sd15-b1-f16-r256-bf16", ""),  # not its own -k3 case
            Point(0, 0.40, 0.12, True, "sd15-b1-f16-r256-bf16", "", 0.10, 0.14),
        ],
    )
    lines = k_table(panel).splitlines()
    assert lines[0].startswith("| k | dry run: memory | dry run: vs 24% | dry run: time (FLOPs)")
    assert lines[2] == "| 0 |  |  |  |  |  | +40.0% | PASS | +12.0% | INCONCLUSIVE | no | " + (
        "sd15-b1-f16-r256-bf16 |"
    )
    assert lines[3] == (
        "| 3 | +25.0% | PASS | +10.0% | FAIL | no | +30.0% | PASS | +15.0% | PASS | yes"
        " | sd15-b1-f16-r256-bf16-k3 |"
    )
    assert lines[4].startswith("| 12 | +5.0% | FAIL | +1.0% | FAIL | no |  |")


def test_the_plot_draws_a_panel_per_preset_and_the_gain_per_k() -> None:
    from mobius_core.report.design_space import Gain

    points = [Point(3, 0.3, 0.15, True, "sd15-b1-f16-r256-bf16-k3", "sd15-b1-f16-r256")]
    found = [Gain(0, "mobius", 0.01, -0.01, 0.03, ""), Gain(2, "mobius-double-k2", 0.05, 0.02,
                                                             0.08, "")]  # fmt: skip
    fig = plot(panels([_sweep()], points), found, (0.12, 0.08, 0.16), "tiny-b2-f8-r64-fp32")
    savings, learned = fig.axes
    flat = {round(line.get_ydata()[0], 6) for line in savings.lines
            if len(set(line.get_ydata())) == 1}  # fmt: skip
    assert {24.0, 12.0} <= flat
    markers = [line for line in savings.lines if line.get_marker() == "D"]
    assert [list(m.get_ydata()) for m in markers] == [[30.0], [15.0]]  # memory, time
    bars = learned.containers[0]  # the errorbar: gains at k = 0 and 2, in percent
    assert list(bars.lines[0].get_xdata()) == [0, 2]
    assert list(bars.lines[0].get_ydata()) == pytest.approx([1.0, 5.0])
    assert 12.0 in {round(line.get_ydata()[0], 6) for line in learned.lines}  # serial's


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
