"""The report's plots (matplotlib, Agg, PNG). Each returns None when drawn, or the reason
it was skipped when the run lacks the figure it shows."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from mobius_core.outputs import write_bytes_atomic
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM
from mobius_core.report.tables import memory_figure

GIB = 2**30
COLOURS = {"serial": "tab:blue", "serial-ckpt": "tab:orange", "mobius": "tab:green"}
REGION_COLOURS = {
    "spatial": "tab:blue",
    "temporal": "tab:green",
    "bridges+fusion": "tab:purple",
    "other": "tab:gray",
}


def save_figure(fig: plt.Figure, path: Path) -> None:
    """The figure as a PNG at `path`, written atomically, and closed."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def _colour(variant: str) -> str:
    return COLOURS.get(variant, "tab:red")


def savings(claims: pd.DataFrame, path: Path) -> str | None:
    """1. Mobius's memory and time saving per case, with the claims and the time interval."""
    if claims.empty:
        return "no case has both serial and mobius measured"
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(claims)), 4))
    x = range(len(claims))
    ax.bar(
        [i - 0.2 for i in x], 100 * claims["memory_saving"], 0.4, label="memory", color="tab:blue"
    )
    err = [
        100 * (claims["time_saving"] - claims["time_low"]),
        100 * (claims["time_high"] - claims["time_saving"]),
    ]
    ax.bar(
        [i + 0.2 for i in x],
        100 * claims["time_saving"],
        0.4,
        yerr=err,
        capsize=4,
        label="time (95% CI)",
        color="tab:green",
    )
    ax.axhline(100 * MEMORY_CLAIM, color="tab:blue", ls="--", lw=1, label="claim: 24% memory")
    ax.axhline(100 * TIME_CLAIM, color="tab:green", ls=":", lw=1, label="claim: 12% time")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(list(x), claims["case"], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("saving of mobius over serial (%)")
    ax.set_title(f"Savings per case ({claims['memory_label'].iloc[0]} for memory)", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return None


def _sweeps(rows: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Rows of the largest group of cases that differ only along `axis`."""
    fixed = [c for c in ("preset", "batch", "frames", "resolution", "dtype") if c != axis]
    groups = [g for _, g in rows.groupby(fixed) if g[axis].nunique() > 1]
    return max(groups, key=lambda g: g[axis].nunique()) if groups else rows.iloc[0:0]


def memory_sweeps(rows: pd.DataFrame, path: Path) -> str | None:
    """2. Peak memory against frames and resolution, a line per variant, OOMs marked."""
    if "peak_allocated" not in rows or rows["peak_allocated"].isna().all():
        return "no allocator peak in this run (CPU): peak memory against frames and resolution"
    sweeps = {a: _sweeps(rows, a) for a in ("frames", "resolution")}
    sweeps = {a: s for a, s in sweeps.items() if not s.empty}
    if not sweeps:
        return "no frame or resolution sweep in this run"
    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.5 * len(sweeps), 4), squeeze=False)
    for ax, (axis, sweep) in zip(axes[0], sweeps.items(), strict=True):
        for variant, group in sweep.groupby("variant", sort=False):
            group = group.sort_values(axis)
            ok = group[group["status"] == "ok"]
            ax.plot(
                ok[axis], ok["peak_allocated"] / GIB, "o-", color=_colour(variant), label=variant
            )
            if "nvml_peak" in ok:
                ax.plot(ok[axis], ok["nvml_peak"] / GIB, "--", color=_colour(variant), lw=0.8)
            oom = group[group["status"] == "oom"]
            if not oom.empty:
                top = rows["peak_allocated"].max() / GIB
                ax.plot(
                    oom[axis],
                    [top] * len(oom),
                    "x",
                    ms=10,
                    color=_colour(variant),
                    label=f"{variant}: out of memory",
                )
        ax.set_xlabel("frames" if axis == "frames" else "resolution (px)")
        ax.set_ylabel("peak memory (GiB; solid: allocator, dashed: NVML)")
        ax.legend(fontsize=7)
    save_figure(fig, path)
    return None


def time_vs_batch(rows: pd.DataFrame, path: Path) -> str | None:
    """3. Step time against batch, a line per variant with its IQR band."""
    sweep = _sweeps(rows[rows["status"] == "ok"], "batch")
    if sweep.empty:
        return "no batch sweep in this run: step time against batch"
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, group in sweep.groupby("variant", sort=False):
        group = group.sort_values("batch")
        ax.plot(
            group["batch"], group["time_median_ms"], "o-", color=_colour(variant), label=variant
        )
        ax.fill_between(
            group["batch"],
            group["time_q1_ms"],
            group["time_q3_ms"],
            color=_colour(variant),
            alpha=0.2,
        )
    ax.set_xlabel("batch (clips per step)")
    ax.set_ylabel("step time (ms; median, IQR band)")
    ax.set_xticks(sorted(sweep["batch"].unique()))
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return None


def memory_breakdown(case: pd.DataFrame, path: Path) -> str | None:
    """4. The memory breakdown of one case per variant, stacked."""
    names = ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved", "mem_rest")
    parts = [c for c in names if c in case and case[c].notna().any()]
    if not parts:
        return "no memory breakdown in this run"
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = pd.Series(0.0, index=case.index)
    for part in parts:
        values = case[part].fillna(0) / GIB
        ax.bar(case["variant"], values, bottom=bottom, label=part.removeprefix("mem_"))
        bottom += values
    _, label = memory_figure(case)
    ax.set_ylabel("memory (GiB)")
    ax.set_title(f"{case['case'].iloc[0]}: parts of the {label}", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return None


def flops_by_region(case: pd.DataFrame, path: Path) -> str | None:
    """5. FLOPs of one case by phase and region per variant."""
    columns = [c for c in case if c.startswith(("flops_forward_", "flops_backward_"))]
    if not columns:
        return "no FLOP counts in this run"
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.38
    peak = max(
        case[[c for c in columns if c.startswith("flops_backward_")]].sum(axis=1).max(),
        case[[c for c in columns if c.startswith("flops_forward_")]].sum(axis=1).max(),
    )
    scale, unit = (1e12, "TFLOP") if peak >= 1e12 else (1e9, "GFLOP")
    for offset, phase in ((-width / 2, "forward"), (width / 2, "backward")):
        bottom = pd.Series(0.0, index=case.index)
        for region, colour in REGION_COLOURS.items():
            column = f"flops_{phase}_{region}"
            if column not in case:
                continue
            values = case[column].fillna(0) / scale
            ax.bar(
                [i + offset for i in range(len(case))],
                values,
                width,
                bottom=bottom,
                color=colour,
                hatch="" if phase == "forward" else "//",
                label=f"{phase}: {region}",
            )
            bottom += values
    ax.set_xticks(range(len(case)), case["variant"])
    ax.set_ylabel(f"{unit} per step (left bar: forward, right: backward)")
    ax.set_title(f"{case['case'].iloc[0]}: FLOPs by phase and region", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    save_figure(fig, path)
    return None


def time_distribution(samples: dict[str, list[float]], title: str, path: Path) -> str | None:
    """6. The distribution of step times per variant of one case."""
    if not samples:
        return "no step times in this run"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot(list(samples.values()), showmeans=True)
    ax.set_xticks(range(1, len(samples) + 1), list(samples))
    ax.set_ylabel("step time (ms)")
    ax.set_title(f"{title}: step times of the interleaved rounds", fontsize=9)
    save_figure(fig, path)
    return None
