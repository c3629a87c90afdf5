"""What every report plot shares: a laid-out figure, a title that fits, bars labelled with
their values, tick labels in their variant's colour, and the PNG writer."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from mobius_core.outputs import write_bytes_atomic

DPI = 110
TITLE_SIZE, SUBTITLE_SIZE, LABEL_SIZE = 10, 8, 7
CHAR_WIDTH = 0.62  # a character's average width, in units of the font size


def new_figure(width: float, height: float, columns: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure whose layout keeps titles, labels and outside legends within it."""
    fig, axes = plt.subplots(1, columns, figsize=(width, height), layout="constrained")
    return fig, list(axes) if columns > 1 else [axes]


def wrap(text: str, fig: Figure, size: float) -> str:
    """`text` broken into lines no wider than the figure at font size `size`."""
    width = int(fig.get_figwidth() * 72 / (size * CHAR_WIDTH)) - 2
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def title(ax: Axes, text: str, subtitle: str | None = None) -> None:
    """A title and, smaller beneath it, a subtitle (a case key), each wrapped to fit."""
    fig = ax.get_figure()
    if subtitle:
        ax.set_title(wrap(subtitle, fig, SUBTITLE_SIZE), fontsize=SUBTITLE_SIZE, color="0.3")
        fig.suptitle(wrap(text, fig, TITLE_SIZE), fontsize=TITLE_SIZE)
    else:
        ax.set_title(wrap(text, fig, TITLE_SIZE), fontsize=TITLE_SIZE)


def label_bars(ax: Axes, bars: BarContainer, labels: Sequence[str], inside: bool = False) -> None:
    """Each bar's value written on it (`inside`) or just beyond its end, with headroom kept."""
    ax.bar_label(
        bars,
        labels=list(labels),
        fontsize=LABEL_SIZE,
        padding=2,
        label_type="center" if inside else "edge",
    )
    if not inside:
        ax.margins(y=0.18)


def label_tops(ax: Axes, xs: Sequence[float], tops: Sequence[float], labels: Sequence[str]) -> None:
    """`labels` written just above the points (x, top): the totals of stacked bars."""
    for x, top, text in zip(xs, tops, labels, strict=True):
        ax.annotate(
            text,
            (x, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
        )
    # headroom for the labels (zero-height bars on top would pin the limit to them)
    ax.set_ylim(top=max(ax.get_ylim()[1], 1.12 * max(tops)))


def legend_below(fig: Figure, handles: Sequence[Artist] | None = None, columns: int = 4) -> None:
    """The figure's legend beneath its axes, where it covers nothing."""
    kwargs = {"handles": list(handles)} if handles is not None else {}
    fig.legend(**kwargs, fontsize=LABEL_SIZE, loc="outside lower center", ncols=columns)


def variant_ticks(ax: Axes, names: Sequence[str], colours: dict[str, str]) -> None:
    """The x ticks named by variant, each in its variant's colour."""
    ax.set_xticks(range(len(names)), list(names))
    for tick, name in zip(ax.get_xticklabels(), names, strict=True):
        tick.set_color(colours.get(name, "black"))
        tick.set_fontweight("bold")


def save_figure(fig: Figure, path: Path) -> None:
    """The figure as a PNG at `path`, written atomically, and closed."""
    buffer = io.BytesIO()
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
