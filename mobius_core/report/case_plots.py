"""The plots of one case (matplotlib, Agg): its memory by part, its FLOPs by phase and
region, and its step times, a bar or box per variant. Parts and regions are shades of grey,
so that colour always means a variant: its bars' edges and its tick label take its colour."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.patches import Patch

from mobius_core.report.plots import Drawn
from mobius_core.report.plotstyle import (
    LABEL_SIZE,
    label_bars,
    label_tops,
    legend_below,
    new_figure,
    title,
    variant_ticks,
)
from mobius_core.report.tables import memory_figure
from mobius_core.report.units import byte_unit, flop_unit, short

PART_SHADES = ("0.35", "0.55", "0.75", "0.92", "0.98")
PART_HATCHES = ("", "..", "", "//", "xx")
REGION_SHADES = {"spatial": "0.35", "temporal": "0.6", "bridges+fusion": "0.85", "other": "1.0"}
INSIDE = 0.07  # a part is labelled inside its bar when at least this share of the tallest


def memory_breakdown(case: pd.DataFrame, colours: dict[str, str]) -> Drawn:
    """4. The memory of one case by part, stacked, a bar per variant, labelled."""
    # the breakdown's parts, in the record's order; what was resident before is not a part
    parts = [
        c
        for c in case
        if c.startswith("mem_") and c != "mem_resident_before" and case[c].notna().any()
    ]
    if not parts:
        return "no memory breakdown in this run"
    case, held = at_peak(case)
    totals = case[parts].fillna(0).sum(axis=1)
    divisor, unit = byte_unit(totals.max())
    fig, (ax,) = new_figure(6.5, 4.6)
    names = list(case["variant"])
    edges = [colours.get(n, "black") for n in names]
    bottom = pd.Series(0.0, index=case.index)
    for i, part in enumerate(parts):
        values = case[part].fillna(0) / divisor
        bars = ax.bar(
            range(len(case)),
            values,
            0.6,
            bottom=bottom,
            color=PART_SHADES[i % len(PART_SHADES)],
            hatch=PART_HATCHES[i % len(PART_HATCHES)],
            edgecolor=edges,
            linewidth=1.5,
        )
        big = values >= INSIDE * totals.max() / divisor
        label_bars(
            ax, bars, [short(v) if b else "" for v, b in zip(values, big, strict=True)], inside=True
        )
        bottom += values
    label_tops(ax, range(len(case)), bottom, [f"{short(t)} {unit}" for t in totals / divisor])
    variant_ticks(ax, names, colours)
    _, label = memory_figure(case)
    ax.set_ylabel(f"memory ({unit})")
    title(ax, "Memory by part", f"{case['case'].iloc[0]}; memory: the {label}{held}")
    legend_below(fig, _keys(parts, PART_SHADES, PART_HATCHES))
    return fig


def at_peak(case: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The parts alive at the allocator's peak, and a note saying so. Backward frees the
    saved tensors as it makes the gradients, so the peak holds the larger of the two, not
    both: the smaller is taken out of its column and left in `rest` (the peak less the
    parts), which stacking both would make negative. A breakdown without a peak (the CPU
    proxy, which is the sum of its parts) is kept whole."""
    needed = ("mem_rest", "mem_saved", "mem_gradients")
    if not all(c in case and case[c].notna().any() for c in needed):
        return case, ""
    case = case.copy()
    saved, grads = case["mem_saved"].fillna(0), case["mem_gradients"].fillna(0)
    case["mem_rest"] = case["mem_rest"] + saved.where(saved < grads, grads)  # + the smaller
    case["mem_saved"] = saved.where(saved >= grads, 0)
    case["mem_gradients"] = grads.where(grads > saved, 0)
    return case, " (at the peak: saved tensors or gradients, whichever is larger)"


def flops_by_region(case: pd.DataFrame, colours: dict[str, str]) -> Drawn:
    """5. FLOPs of one case by phase and region: a forward and a backward bar per variant."""
    columns = [c for c in case if c.startswith(("flops_forward_", "flops_backward_"))]
    if not columns:
        return "no FLOP counts in this run"
    sums = {
        p: case[[c for c in columns if c.startswith(f"flops_{p}_")]].fillna(0).sum(axis=1)
        for p in ("forward", "backward")
    }
    divisor, unit = flop_unit(max(s.max() for s in sums.values()))
    fig, (ax,) = new_figure(8, 4.6)
    width = 0.38
    names = list(case["variant"])
    edges = [colours.get(n, "black") for n in names]
    for offset, phase in ((-width / 2, "forward"), (width / 2, "backward")):
        x = [i + offset for i in range(len(case))]
        bottom = pd.Series(0.0, index=case.index)
        for region, shade in REGION_SHADES.items():
            column = f"flops_{phase}_{region}"
            if column not in case:
                continue
            values = case[column].fillna(0) / divisor
            ax.bar(
                x,
                values,
                width,
                bottom=bottom,
                color=shade,
                edgecolor=edges,
                linewidth=1.5,
                hatch="" if phase == "forward" else "//",
            )
            bottom += values
        label_tops(ax, x, bottom, [short(v) for v in sums[phase] / divisor])
    variant_ticks(ax, names, colours)
    ax.set_ylabel(f"{unit} per step")
    subtitle = f"{case['case'].iloc[0]}; left bar: forward, right: backward"
    title(ax, "FLOPs by phase and region", subtitle)
    legend_below(fig, _regions(case), columns=5)
    return fig


def time_distribution(samples: dict[str, list[float]], colours: dict[str, str], case: str) -> Drawn:
    """6. The step times of one case's interleaved rounds, a box per variant, its median
    labelled."""
    if not samples:
        return "no step times in this run"
    fig, (ax,) = new_figure(6.5, 4.6)
    boxes = ax.boxplot(
        list(samples.values()),
        positions=range(len(samples)),
        showmeans=True,
        patch_artist=True,
        widths=0.5,
        medianprops={"color": "black"},
        meanprops={"markerfacecolor": "white", "markeredgecolor": "black"},
    )
    for box, name in zip(boxes["boxes"], samples, strict=True):
        box.set(facecolor=colours.get(name, "tab:gray"), alpha=0.45)
    for i, values in enumerate(samples.values()):
        median = pd.Series(values).median()
        ax.annotate(
            f"median {short(median)} ms",
            (i, max(values)),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
        )
    ax.margins(y=0.15)
    variant_ticks(ax, list(samples), colours)
    ax.set_ylabel("step time (ms)")
    title(ax, "Step times of the interleaved rounds", f"{case}; line: median, triangle: mean")
    return fig


def _keys(names: list[str], shades: Sequence[str], hatches: Sequence[str]) -> list[Patch]:
    """Legend keys for the parts, edged in black: colour stays the variants'."""
    return [
        Patch(
            facecolor=shades[i % len(shades)],
            hatch=hatches[i % len(hatches)],
            edgecolor="black",
            label=name.removeprefix("mem_"),
        )
        for i, name in enumerate(names)
    ]


def _regions(case: pd.DataFrame) -> list[Patch]:
    """Legend keys: a shade per region present, and the backward bars' hatching."""
    present = [
        r for r in REGION_SHADES if any(f"flops_{p}_{r}" in case for p in ("forward", "backward"))
    ]
    return [
        *_keys(present, [REGION_SHADES[r] for r in present], [""]),
        Patch(facecolor="white", hatch="//", edgecolor="black", label="backward (hatched)"),
    ]
