"""The run-wide plots (matplotlib, Agg, PNG): the savings per case, peak memory against
frames and resolution, step time against batch. Each returns its figure, or the reason it
was skipped when the run lacks the figure it shows; `write` saves them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM
from mobius_core.report.plotstyle import (
    LABEL_SIZE,
    label_bars,
    legend_below,
    new_figure,
    save_figure,
    title,
)
from mobius_core.report.units import byte_unit

CANDIDATE = "mobius"
Drawn = Figure | str  # a figure, or why it was skipped


def write(figures: dict[str, Drawn], folder: Path) -> dict[str, str | None]:
    """Save each figure into `folder` under its name; name -> None if saved, else why not."""
    out: dict[str, str | None] = {}
    for name, drawn in figures.items():
        if isinstance(drawn, Figure):
            save_figure(drawn, folder / name)
        out[name] = drawn if isinstance(drawn, str) else None
    return out


def _percent(value: float, low: float | None = None, high: float | None = None) -> str:
    """`+32.3%`, with its interval on a second line where known."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{value:+.1%}"
    return f"{value:+.1%}\n[{low:+.1%}, {high:+.1%}]"


def savings(claims: pd.DataFrame, colours: dict[str, str], baseline: str | None) -> Drawn:
    """1. Mobius's memory and time saving per case, each labelled with its value and
    interval, against the claims."""
    if claims.empty:
        return f"no case has both {baseline or 'a baseline'} and {CANDIDATE} measured"
    fig, (ax,) = new_figure(max(6.5, 1.6 * len(claims)), 4.8)
    colour = colours.get(CANDIDATE, "tab:green")
    x = range(len(claims))
    memory = ax.bar(
        [i - 0.2 for i in x],
        100 * claims["memory_saving"],
        0.4,
        color=colour,
        label="memory saving",
    )
    ax.bar(
        [i + 0.2 for i in x],
        100 * claims["time_saving"].fillna(0),
        0.4,
        color="white",
        edgecolor=colour,
        hatch="//",
        label="time saving (95% interval)",
    )
    for i, r in zip(x, claims.itertuples(), strict=True):
        if pd.isna(r.time_saving):
            continue
        ax.errorbar(
            i + 0.2,
            100 * r.time_saving,
            fmt="none",
            ecolor="black",
            capsize=4,
            lw=1,
            yerr=[[100 * (r.time_saving - r.time_low)], [100 * (r.time_high - r.time_saving)]],
        )
        ax.annotate(
            _percent(r.time_saving, r.time_low, r.time_high),
            (i + 0.2, 100 * max(r.time_high, 0)),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
        )
    label_bars(
        ax,
        memory,
        [_percent(r.memory_saving, r.memory_low, r.memory_high) for r in claims.itertuples()],
    )
    ax.axhline(100 * MEMORY_CLAIM, color="black", ls="--", lw=1, label="claim: 24% less memory")
    ax.axhline(100 * TIME_CLAIM, color="0.4", ls=":", lw=1.2, label="claim: 12% less time")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(list(x), claims["case"], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"saving of {CANDIDATE} over {baseline} (%)")
    title(
        ax,
        f"Saving of {CANDIDATE} over {baseline} per case",
        f"memory: {claims['memory_label'].iloc[0]}; time: ratio of medians",
    )
    legend_below(fig)
    return fig


def _sweeps(rows: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Rows of the largest group of cases that differ only along `axis`."""
    fixed = [c for c in ("preset", "batch", "frames", "resolution", "dtype") if c != axis]
    groups = [g for _, g in rows.groupby(fixed) if g[axis].nunique() > 1]
    return max(groups, key=lambda g: g[axis].nunique()) if groups else rows.iloc[0:0]


def _held(sweep: pd.DataFrame, axis: str) -> str:
    """What a sweep holds fixed, e.g. `sd15, batch 1, 256 px, bf16`."""
    r = sweep.iloc[0]
    parts = {
        "batch": f"batch {r['batch']}",
        "frames": f"{r['frames']} frames",
        "resolution": f"{r['resolution']} px",
    }
    return ", ".join([r["preset"], *(v for k, v in parts.items() if k != axis), r["dtype"]])


def memory_sweeps(rows: pd.DataFrame, colours: dict[str, str]) -> Drawn:
    """2. Peak memory against frames and resolution, a line per variant, OOMs marked."""
    if "peak_allocated" not in rows or rows["peak_allocated"].isna().all():
        return "no allocator peak in this run (CPU): peak memory against frames and resolution"
    sweeps = {a: _sweeps(rows, a) for a in ("frames", "resolution")}
    sweeps = {a: s for a, s in sweeps.items() if not s.empty}
    if not sweeps:
        return "no frame or resolution sweep in this run"
    top = max(rows["peak_allocated"].max(), rows.get("nvml_peak", rows["peak_allocated"]).max())
    divisor, unit = byte_unit(top)
    fig, axes = new_figure(5.5 * len(sweeps), 4.4, len(sweeps))
    for ax, (axis, sweep) in zip(axes, sweeps.items(), strict=True):
        for variant, group in sweep.groupby("variant", sort=False):
            group = group.sort_values(axis)
            ok = group[group["status"] == "ok"]
            colour = colours.get(variant, "tab:gray")
            ax.plot(ok[axis], ok["peak_allocated"] / divisor, "o-", color=colour, label=variant)
            if "nvml_peak" in ok:
                ax.plot(ok[axis], ok["nvml_peak"] / divisor, "--", color=colour, lw=0.8)
            oom = group[group["status"] == "oom"]
            if not oom.empty:
                ax.plot(
                    oom[axis],
                    [top / divisor] * len(oom),
                    "x",
                    ms=10,
                    color=colour,
                    label=f"{variant}: out of memory",
                )
        ax.set_xlabel("frames" if axis == "frames" else "resolution (px)")
        ax.set_ylabel(f"peak memory ({unit})")
        ax.set_xticks(sorted(sweep[axis].unique()))
        title(ax, "Peak memory (solid: allocator; dashed: NVML)", _held(sweep, axis))
        ax.legend(fontsize=LABEL_SIZE)
    return fig


def time_vs_batch(rows: pd.DataFrame, colours: dict[str, str]) -> Drawn:
    """3. Step time against batch, a line per variant, with its IQR band."""
    sweep = _sweeps(rows[rows["status"] == "ok"], "batch")
    if sweep.empty:
        return "no batch sweep in this run: step time against batch"
    fig, (ax,) = new_figure(6, 4.4)
    for variant, group in sweep.groupby("variant", sort=False):
        group = group.sort_values("batch")
        colour = colours.get(variant, "tab:gray")
        ax.plot(group["batch"], group["time_median_ms"], "o-", color=colour, label=variant)
        ax.fill_between(
            group["batch"], group["time_q1_ms"], group["time_q3_ms"], color=colour, alpha=0.2
        )
    ax.set_xlabel("batch (clips per step)")
    ax.set_ylabel("step time (ms; median, IQR band)")
    ax.set_xticks(sorted(sweep["batch"].unique()))
    title(ax, "Step time against batch", _held(sweep, "batch"))
    ax.legend(fontsize=LABEL_SIZE)
    return fig
