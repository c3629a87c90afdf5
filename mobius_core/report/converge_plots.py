"""The converge plots: validation loss against step and against time (mean and band over
seeds, controls dashed, the 2D baseline as a line), and the temporal gain per variant."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mobius_core.report.converge_record import ConvergeRecord, Curve
from mobius_core.report.plots import save_figure


def _curves(record: ConvergeRecord, variant: str, coherent: bool) -> list[Curve]:
    return [r.run if coherent else r.control for r in record.records if r.variant == variant]


def _loss(record: ConvergeRecord, path: Path, x_of: str, xlabel: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, summary in record.variants.items():
        for coherent in (True, False):
            curves = _curves(record, name, coherent)
            loss = np.array([c.eval_loss for c in curves])  # (seeds, checks)
            x = np.array([getattr(c, x_of) for c in curves]).mean(axis=0)  # (checks,)
            style = "-" if coherent else "--"
            label = summary.info.name + ("" if coherent else " (control: incoherent clips)")
            colour = summary.info.colour
            ax.plot(x, loss.mean(axis=0), style, color=colour, label=label)
            ax.fill_between(x, loss.min(axis=0), loss.max(axis=0), color=colour, alpha=0.15)
    ax.axhline(record.baseline.overall, color="black", linestyle=":", label="frozen 2D model")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation loss (epsilon MSE)")
    seeds = len({r.seed for r in record.records})
    ax.set_title(f"{record.case.key}: mean and range over {seeds} seeds")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def loss_vs_step(record: ConvergeRecord, path: Path) -> None:
    _loss(record, path, "eval_steps", "fine-tuning step")


def loss_vs_time(record: ConvergeRecord, path: Path) -> None:
    _loss(record, path, "eval_seconds", "timed training (s; evaluation left out)")


def gain(record: ConvergeRecord, path: Path) -> None:
    """The temporal gain (raw gain - control's) per variant, overall and at t >= 500."""
    names = list(record.variants)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names)), 4))
    for offset, field, label, hatch in (
        (-0.2, "temporal_gain", "overall", ""),
        (0.2, "temporal_gain_high", "high noise (t >= 500)", "//"),
    ):
        intervals = [getattr(record.variants[n], field) for n in names]
        means = np.array([100 * i.mean for i in intervals])
        err = np.array([[100 * (i.mean - i.low), 100 * (i.high - i.mean)] for i in intervals]).T
        ax.bar(
            np.arange(len(names)) + offset,
            means,
            0.4,
            yerr=err,
            capsize=4,
            color=[record.variants[n].info.colour for n in names],
            hatch=hatch,
            edgecolor="black",
            label=label,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("temporal gain (%), 95% interval")
    ax.set_title("validation loss fall below the 2D model, net of the control")
    ax.legend(fontsize=8)
    save_figure(fig, path)


PLOTS = {"loss_vs_step.png": loss_vs_step, "loss_vs_time.png": loss_vs_time, "gain.png": gain}
