"""The Mobius design space: for each rejoin depth k of mobius-double, the memory and time
saving against the baseline (serial), predicted by the dry run everywhere and measured where
run, set against the paper's 24% and 12%. Imports no torch.

A sweep file holds one dry run per k (its config's `rejoin_positions` is k). Predicted
memory is the states (weights, gradients, AdamW) plus the tensors saved for backward, the
dry run's figure for the peak; predicted time is the step's FLOPs, a proxy that takes no
account of kernel efficiency. k = 0 is mobius itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from matplotlib.figure import Figure

from mobius_core.measure.results import RecordError, Versioned
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM, verdict_value
from mobius_core.report.markdown import number, table
from mobius_core.report.plotstyle import LABEL_SIZE, legend_below, new_figure, title
from mobius_core.report.record import DryRecord, DryRun, Record

REJOINING = "mobius-double"  # the variant whose return bridges `rejoin_positions` places
SINGLE = "mobius"  # mobius-double at k = 0
SWEEP_SCHEMA = "mobius-bench-rejoin/1"
MEMORY_COLOUR, TIME_COLOUR = "tab:purple", "tab:olive"
SOURCES = {False: "dry run (states+saved, FLOPs)", True: "measured (peak, median step)"}
PROXY = {"time": " (FLOPs)"}  # what the dry run's figure stands on, where not itself
T = TypeVar("T", bound="Sweep")


@dataclass
class Sweep(Versioned):
    """A rejoin sweep: a dry run per k, each with the baseline beside mobius-double."""

    NAME: ClassVar[str] = "rejoin sweep"

    runs: list[DryRun]
    schema: str = SWEEP_SCHEMA


@dataclass(frozen=True)
class Point:
    """mobius-double's saving over the baseline at one k: predicted or measured."""

    k: int
    memory_saving: float
    time_saving: float
    measured: bool
    case: str = field(default="")


def rejoin_of(config: dict[str, Any]) -> int:
    """k from a record's config: `rejoin_positions`, or every up position when None."""
    k = config.get("rejoin_positions")
    if k is not None:
        return int(k)
    return len(config["block_channels"]) * (int(config["layers_per_level"]) + 1)


def _predicted_memory(r: DryRecord) -> int:
    s = r.states
    return (s.parameters or 0) + (s.gradients or 0) + (s.optimizer or 0) + (r.saved.bytes or 0)


def predicted(sweep: Sweep) -> list[Point]:
    """The dry run's point for each k, in the sweep's order."""
    points = []
    for run in sweep.runs:
        by_name = {r.variant.name: r for r in run.records}
        base = next((r for r in run.records if r.variant.baseline), None)
        double = by_name.get(REJOINING)
        if base is None or double is None:
            raise RecordError(f"rejoin sweep: a run lacks the baseline or {REJOINING}")
        assert double.flops.total is not None and base.flops.total is not None
        points.append(
            Point(
                k=rejoin_of(run.config),
                memory_saving=1 - _predicted_memory(double) / _predicted_memory(base),
                time_saving=1 - double.flops.total / base.flops.total,
                measured=False,
                case=double.case.key,
            )
        )
    return points


def _measured_memory(r: Record) -> int | None:
    """The allocator's peak where measured (CUDA), else the parts' sum (the CPU proxy)."""
    if r.memory is not None and r.memory.peak_allocated is not None:
        return r.memory.peak_allocated
    parts = (r.memory.breakdown or {}) if r.memory is not None else {}
    keys = ("parameters", "gradients", "optimizer", "saved")
    return sum(parts[p] for p in keys) if all(p in parts for p in keys) else None


def _shape(r: Record) -> tuple[Any, ...]:
    """A case's shape and settings, whatever k its key may carry."""
    c = r.case
    return c.preset, c.batch, c.frames, c.resolution, c.dtype, c.device


def measured(records: list[Record]) -> list[Point]:
    """mobius (k = 0) and mobius-double (k from its config) against the baseline at the same
    shape: memory by the allocator's peak (or the CPU proxy), time by the median step."""
    ok = [r for r in records if r.status == "ok"]
    bases = {_shape(r): r for r in ok if r.variant.baseline}
    points = []
    for r in ok:
        base = bases.get(_shape(r))
        if r.variant.name not in (SINGLE, REJOINING) or base is None:
            continue
        mem, base_mem = _measured_memory(r), _measured_memory(base)
        time, base_time = (x.time.median_ms if x.time else None for x in (r, base))
        if not (mem and base_mem and time and base_time):
            continue
        k = 0 if r.variant.name == SINGLE else rejoin_of(r.config)
        points.append(Point(k, 1 - mem / base_mem, 1 - time / base_time, True, r.case.key))
    return points


def claims_table(points: list[Point]) -> str:
    """For each point: its savings, each against its claim, and whether it reproduces both."""
    rows = []
    for p in sorted(points, key=lambda p: (p.measured, p.case, p.k)):
        memory = verdict_value(p.memory_saving, MEMORY_CLAIM)
        time = verdict_value(p.time_saving, TIME_CLAIM)
        rows.append(
            {
                "k": p.k,
                "source": SOURCES[p.measured],
                "case": p.case,
                "memory saving": number(p.memory_saving, "{:+.1%}"),
                f"vs {MEMORY_CLAIM:.0%}": memory,
                "time saving": number(p.time_saving, "{:+.1%}"),
                f"vs {TIME_CLAIM:.0%}": time,
                "both claims": "yes" if memory == time == "PASS" else "no",
            }
        )
    return table(rows)


def plot(points: list[Point], case: str) -> Figure:
    """Memory and time saving against k: dry-run lines, measured markers, the claims."""
    fig, (ax,) = new_figure(6.4, 4.2)
    for figure, colour, claim in (
        ("memory", MEMORY_COLOUR, MEMORY_CLAIM),
        ("time", TIME_COLOUR, TIME_CLAIM),
    ):
        for is_measured, style in ((False, "-o"), (True, "D")):
            chosen = sorted((p for p in points if p.measured == is_measured), key=lambda p: p.k)
            if not chosen:
                continue
            values = [100 * getattr(p, f"{figure}_saving") for p in chosen]
            source = "measured" if is_measured else f"dry run{PROXY.get(figure, '')}"
            ax.plot([p.k for p in chosen], values, style, color=colour, label=f"{figure}, {source}")
        ax.axhline(
            100 * claim,
            color=colour,
            linestyle="--",
            linewidth=1,
            label=f"paper: {claim:.0%} less {figure}",
        )
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_xlabel("k: return bridges, at the last k up positions (k = 0: mobius)")
    ax.set_ylabel("saving against serial, %")
    ax.tick_params(labelsize=LABEL_SIZE)
    ax.set_xticks(sorted({p.k for p in points}))
    title(ax, "The Mobius design space: what each return bridge costs", case)
    legend_below(fig, columns=2)
    return fig
