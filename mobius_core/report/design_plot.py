"""The design-space figure: a panel per preset with the memory and time saving against k
(the dry run's lines, measured markers, the paper's claims as dashed lines) and, from a
converge run, a panel with the temporal gain per k beside serial's."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM
from mobius_core.report.design_space import Gain, Panel, Point
from mobius_core.report.plotstyle import LABEL_SIZE, SUBTITLE_SIZE, TITLE_SIZE, wrap

MEMORY_COLOUR, TIME_COLOUR = "tab:purple", "tab:olive"
GAIN_COLOUR, REFERENCE_COLOUR = "tab:red", "tab:blue"
FIGURES = (("memory", MEMORY_COLOUR, MEMORY_CLAIM), ("time", TIME_COLOUR, TIME_CLAIM))
MARKERS = ("D", "s", "^", "v")  # one per measured shape within a panel


def _savings(ax: Axes, panel: Panel) -> None:
    for figure, colour, claim in FIGURES:
        line = sorted(panel.predicted, key=lambda p: p.k)
        if line:
            proxy = " (FLOPs)" if figure == "time" else " (peak)"
            values = [100 * getattr(p, f"{figure}_saving") for p in line]
            ax.plot(
                [p.k for p in line],
                values,
                "-o",
                color=colour,
                markersize=4,
                label=f"{figure}, dry run{proxy}",
            )
        for shape, marker in zip(panel.measured_shapes, MARKERS, strict=False):
            seen = sorted((p for p in panel.measured if p.shape == shape), key=lambda p: p.k)
            _measured(ax, seen, figure, colour, marker, shape)
        ax.axhline(
            100 * claim,
            color=colour,
            linestyle="--",
            linewidth=1,
            label=f"paper: {claim:.0%} less {figure}",
        )
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylabel("saving against serial, %", fontsize=LABEL_SIZE)
    ks = sorted({p.k for p in panel.predicted + panel.measured})
    ax.set_xticks(ks)
    ax.set_xlabel(
        f"k: return bridges at the last k up positions of {panel.preset} (k = 0: mobius)",
        fontsize=LABEL_SIZE,
    )
    where = f"dry run at {panel.shape}" if panel.predicted else "measured only"
    if panel.measured_shapes:
        where += f"; measured at {', '.join(panel.measured_shapes)}"
    ax.set_title(wrap(where, ax.get_figure(), SUBTITLE_SIZE), fontsize=SUBTITLE_SIZE)
    ax.legend(fontsize=LABEL_SIZE - 1, ncols=2, loc="best")


def _measured(
    ax: Axes, points: list[Point], figure: str, colour: str, marker: str, shape: str
) -> None:
    values = [100 * getattr(p, f"{figure}_saving") for p in points]
    ax.plot(
        [p.k for p in points],
        values,
        marker,
        color=colour,
        markerfacecolor="white",
        markeredgewidth=1.5,
        linestyle="none",
        label=f"{figure}, measured ({shape})",
    )
    if figure != "time":
        return
    for p in points:  # the paired ratio's interval, where timed so
        if p.time_low is not None and p.time_high is not None:
            ax.plot([p.k, p.k], [100 * p.time_low, 100 * p.time_high], color=colour, lw=1)


def _gains(ax: Axes, found: list[Gain], reference: tuple[float, float, float], case: str) -> None:
    mean, low, high = reference
    ax.axhspan(100 * low, 100 * high, color=REFERENCE_COLOUR, alpha=0.12)
    ax.axhline(100 * mean, color=REFERENCE_COLOUR, linewidth=1, label="serial (95% interval)")
    ordered = sorted(found, key=lambda g: (g.k, g.entry))
    ax.errorbar(
        [g.k for g in ordered],
        [100 * g.mean for g in ordered],
        yerr=[
            [100 * (g.mean - g.low) for g in ordered],
            [100 * (g.high - g.mean) for g in ordered],
        ],
        fmt="o",
        color=GAIN_COLOUR,
        capsize=4,
        label="mobius entries (95% interval)",
    )
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_xticks(sorted({g.k for g in found}))
    ax.set_xlabel(f"k at {case.split('-')[0]} (the converge run's own preset)", fontsize=LABEL_SIZE)
    ax.set_ylabel("temporal gain, %", fontsize=LABEL_SIZE)
    title = f"what each k learns: converge at {case}"
    ax.set_title(wrap(title, ax.get_figure(), SUBTITLE_SIZE), fontsize=SUBTITLE_SIZE)
    ax.legend(fontsize=LABEL_SIZE - 1, loc="best")


def plot(
    panels: list[Panel],
    found: list[Gain] | None = None,
    reference: tuple[float, float, float] | None = None,
    converge_case: str = "",
) -> Figure:
    """Savings against k, a panel per preset; and the temporal gain per k where `found`
    (with serial's gain, `reference`: mean, low, high)."""
    import matplotlib.pyplot as plt

    rows = len(panels) + (1 if found and reference else 0)
    fig, axes = plt.subplots(
        rows, 1, figsize=(6.8, 3.6 * rows), layout="constrained", squeeze=False
    )
    for ax, panel in zip(axes[:, 0], panels, strict=False):
        _savings(ax, panel)
        ax.tick_params(labelsize=LABEL_SIZE)
    if found and reference:
        _gains(axes[-1, 0], found, reference, converge_case)
        axes[-1, 0].tick_params(labelsize=LABEL_SIZE)
    fig.suptitle(
        wrap("The Mobius design space: what each return bridge costs", fig, TITLE_SIZE),
        fontsize=TITLE_SIZE,
    )
    return fig
