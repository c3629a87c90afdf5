"""Every report plot, drawn from the fixture run: its text lies inside the figure, its axis
is in a unit the data reaches, and a variant keeps one colour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from mobius_core.report import case_plots, plots, plotstyle
from mobius_core.report.figures import case_figures, run_figures
from mobius_core.report.merge import merge
from mobius_core.report.record import VariantInfo
from mobius_core.report.runs import load
from mobius_core.report.tables import baseline_name, frame, variants
from mobius_core.report.verdicts import claims_frame

RUN = Path(__file__).parent / "fixtures" / "tiny-run.json"
GIB = 2**30
HEADLINE = "tiny-b2-f2-r64-fp32"  # the fixture's larger case (742,809,600 serial FLOPs)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _drawn() -> dict[str, Figure | str]:
    records, _ = merge(load(RUN).records)
    rows, baseline = frame(records), baseline_name(records)
    colours = {name: v.colour for name, v in variants(records).items()}
    claims = claims_frame(rows, records, baseline)
    return {
        **run_figures(rows, claims, colours, baseline),
        **case_figures(rows, records, HEADLINE, colours),
        "memory_sweeps.png": plots.memory_sweeps(_sweep(), colours),  # the fixture is CPU
    }


def _sweep() -> pd.DataFrame:
    """A GPU-like frame sweep at sd15: serial 1 GiB a frame, mobius 0.7 GiB."""
    return pd.DataFrame(
        [
            {
                "preset": "sd15",
                "batch": 1,
                "frames": f,
                "resolution": 256,
                "dtype": "bf16",
                "variant": v,
                "status": "ok",
                "peak_allocated": f * gib * GIB,
                "nvml_peak": (f * gib + 1) * GIB,
            }
            for f in (8, 16, 32)
            for v, gib in (("serial", 1.0), ("mobius", 0.7))
        ]
    )


def _shown(ticks: list[Text], limits: tuple[float, float], axis: int) -> list[Text]:
    """The tick labels within the axis's view (matplotlib lists some beyond it, undrawn)."""
    low, high = sorted(limits)
    return [t for t in ticks if low <= t.get_position()[axis] <= high]


def _texts(fig: Figure) -> list[Text]:
    """The figure's titles, axis labels, tick labels and legend entries that show text."""
    texts = [fig._suptitle] if fig._suptitle else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        texts += _shown(ax.get_xticklabels(), ax.get_xlim(), 0)
        texts += _shown(ax.get_yticklabels(), ax.get_ylim(), 1)
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        texts += legend.get_texts() if legend else []
    return [t for t in texts if t.get_visible() and t.get_text()]


def test_every_title_label_and_tick_lies_inside_its_figure() -> None:
    drawn = _drawn()
    assert sorted(name for name, f in drawn.items() if isinstance(f, Figure)) == [
        "flops_by_region.png",
        "memory_breakdown.png",
        "memory_sweeps.png",
        "savings.png",
        "time_distribution.png",
        "time_vs_batch.png",
    ]
    for name, fig in drawn.items():
        fig.canvas.draw()
        renderer, frame_box = fig.canvas.get_renderer(), fig.bbox
        for text in _texts(fig):
            box = text.get_window_extent(renderer)
            inside = (
                box.x0 >= frame_box.x0 - 1
                and box.y0 >= frame_box.y0 - 1
                and box.x1 <= frame_box.x1 + 1
                and box.y1 <= frame_box.y1 + 1
            )
            assert inside, f"{name}: {text.get_text()!r} at {box} outside {frame_box}"


def test_a_long_title_is_wrapped_to_the_figure() -> None:
    fig, (ax,) = plotstyle.new_figure(4, 3)
    plotstyle.title(ax, "memory " * 30, "sd15-b1-f16-r256-bf16 " * 4)
    assert fig._suptitle.get_text().count("\n") >= 3  # 210 characters on a 4-inch figure
    assert "\n" in ax.title.get_text()


def _breakdown(total: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "case": "c",
                "variant": "serial",
                "mem_parameters": total // 2,
                "mem_saved": total // 2,
                "mem_resident_before": 10 * GIB,  # not a part: it does not set the scale
            }
        ]
    )


@pytest.mark.parametrize(
    ("total", "unit", "label"),
    [
        (18 * 2**20, "MiB", "18.0 MiB"),
        (1023 * 2**20, "MiB", "1,023 MiB"),
        (2 * GIB, "GiB", "2.00 GiB"),
    ],
)
def test_the_breakdown_is_drawn_in_the_unit_its_tallest_bar_reaches(
    total: int, unit: str, label: str
) -> None:
    fig = case_plots.memory_breakdown(_breakdown(total), {"serial": "tab:blue"})
    assert fig.axes[0].get_ylabel() == f"memory ({unit})"
    assert fig.axes[0].texts[-1].get_text() == label  # the total above the bar


def test_the_breakdown_at_the_peak_holds_the_larger_of_saved_and_gradients() -> None:
    """Hand-worked: a peak of 15 = 3 parameters + 3 optimizer + 8 saved + 1 of the rest;
    stacking the 2 of gradients too would leave a rest of -1. With gradients of 9 (more than
    the 8 saved) the peak holds them instead: 3 + 3 + 9 + a rest of 0."""
    case = pd.DataFrame(
        [
            {"variant": "serial", "mem_parameters": 3, "mem_optimizer": 3, "mem_gradients": 2,
             "mem_saved": 8, "mem_rest": -1},
            {"variant": "ckpt", "mem_parameters": 3, "mem_optimizer": 3, "mem_gradients": 9,
             "mem_saved": 8, "mem_rest": -8},
        ]
    )  # fmt: skip
    held, note = case_plots.at_peak(case)
    assert held.loc[0, ["mem_gradients", "mem_saved", "mem_rest"]].tolist() == [0, 8, 1]
    assert held.loc[1, ["mem_gradients", "mem_saved", "mem_rest"]].tolist() == [9, 0, 0]
    assert "at the peak" in note


def test_a_proxy_breakdown_without_a_peak_is_kept_whole() -> None:
    case = pd.DataFrame([{"variant": "serial", "mem_gradients": 2, "mem_saved": 8}])
    held, note = case_plots.at_peak(case)
    assert held.equals(case) and note == ""


def test_a_variant_keeps_its_colour_in_every_plot() -> None:
    records, _ = merge(load(RUN).records)
    for record in records:  # mobius in purple instead of its spec's green
        if record.variant.name == "mobius":
            record.variant = VariantInfo("mobius", colour="tab:purple")
    colours = {name: v.colour for name, v in variants(records).items()}
    redrawn = case_figures(frame(records), records, HEADLINE, colours)
    for name in ("memory_breakdown.png", "flops_by_region.png", "time_distribution.png"):
        ticks = {t.get_text(): t.get_color() for t in redrawn[name].axes[0].get_xticklabels()}
        assert mcolors.to_rgba(ticks["mobius"]) == mcolors.to_rgba("tab:purple"), name
        assert mcolors.to_rgba(ticks["serial"]) == mcolors.to_rgba("tab:blue"), name
    breakdown = redrawn["memory_breakdown.png"].axes[0].patches
    mobius_bars = [p for p in breakdown if round(p.get_x() + p.get_width() / 2) == 2]
    assert {mcolors.to_rgba(p.get_edgecolor()) for p in mobius_bars} == {
        mcolors.to_rgba("tab:purple")
    }


def test_memory_sweeps_mark_out_of_memory() -> None:
    rows = [
        {
            "preset": "sd15",
            "batch": 1,
            "frames": f,
            "resolution": 256,
            "dtype": "bf16",
            "variant": v,
            "status": "oom" if (v, f) == ("serial", 32) else "ok",
            "peak_allocated": None if (v, f) == ("serial", 32) else f * gib * GIB,
            "nvml_peak": None if (v, f) == ("serial", 32) else (f * gib + 1) * GIB,
        }
        for f in (8, 16, 32)
        for v, gib in (("serial", 1.0), ("mobius", 0.7))
    ]
    colours = {"serial": "tab:blue", "mobius": "tab:green"}
    fig = plots.memory_sweeps(pd.DataFrame(rows), colours)
    (ax,) = fig.axes  # frames only: there is no resolution sweep
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["serial", "serial: out of memory", "mobius"]
    assert plots.memory_sweeps(pd.DataFrame(rows[:2]), colours) == (
        "no frame or resolution sweep in this run"
    )
