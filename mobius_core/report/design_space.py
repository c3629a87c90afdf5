"""The Mobius design space: for each rejoin depth k of mobius-double, the memory and time
saving against the baseline (serial), predicted by the dry run everywhere and measured where
run, set against the paper's 24% and 12%; and, from `converge`, what each k learns. Imports
no torch.

A sweep file holds one dry run per k (its config's `rejoin_positions` is k). Predicted
memory is the dry run's peak (`DryRecord.predicted_peak`); predicted time is the step's
FLOPs, a proxy that takes no account of kernel efficiency. k = 0 is mobius itself. A k means
a place in one preset's decoder, so points are set side by side only within a preset
(`panels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from mobius_core.measure.results import RecordError, Versioned
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM, verdict_interval, verdict_value
from mobius_core.report.converge_record import ConvergeRecord
from mobius_core.report.markdown import number, table
from mobius_core.report.record import Case, DryRun, Record

REJOINING = "mobius-double"  # the variant whose return bridges `rejoin_positions` places
SINGLE = "mobius"  # mobius-double at k = 0
SWEEP_SCHEMA = "mobius-bench-rejoin/1"
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
    case: str = field(default="")  # the case key the point was measured or predicted at
    shape: str = field(default="")  # preset-bB-fF-rR, whatever k the key carries
    time_low: float | None = None  # the measured saving's 95% interval, where timed paired
    time_high: float | None = None


@dataclass(frozen=True)
class Gain:
    """What a mobius entry of a converge run learns at its k: the temporal gain."""

    k: int
    entry: str
    mean: float
    low: float
    high: float
    verdict: str  # against serial's gain, overall


@dataclass
class Panel:
    """The points that share one preset, so one meaning of k: a sweep's dry run at `shape`,
    and measured points at `measured_shapes` (the same shape, or another of the preset)."""

    shape: str  # the dry run's shape, or the measured one's where no sweep has the preset
    predicted: list[Point] = field(default_factory=list)
    measured: list[Point] = field(default_factory=list)

    @property
    def preset(self) -> str:
        return self.shape.split("-")[0]

    @property
    def measured_shapes(self) -> list[str]:
        return list(dict.fromkeys(p.shape for p in self.measured))


def shape_of(case: Case) -> str:
    return f"{case.preset}-b{case.batch}-f{case.frames}-r{case.resolution}"


def rejoin_of(config: dict[str, Any]) -> int:
    """k from a record's config: `rejoin_positions`, or every up position when None."""
    k = config.get("rejoin_positions")
    if k is not None:
        return int(k)
    return len(config["block_channels"]) * (int(config["layers_per_level"]) + 1)


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
                memory_saving=1 - double.predicted_peak / base.predicted_peak,
                time_saving=1 - double.flops.total / base.flops.total,
                measured=False,
                case=double.case.key,
                shape=shape_of(double.case),
            )
        )
    return points


def measured_memory(r: Record) -> int | None:
    """The record's peak memory as the report gives it (`tables.memory_figure`)."""
    from mobius_core.report.tables import frame, memory_figure  # pandas: for reports only

    peak = memory_figure(frame([r]))[0].iloc[0]
    return None if peak != peak else int(peak)  # NaN: no figure


def _setting(r: Record) -> tuple[Any, ...]:
    """A case's shape and settings, whatever k its key may carry."""
    c = r.case
    return c.preset, c.batch, c.frames, c.resolution, c.dtype, c.device


def _time_saving(r: Record, base: Record) -> tuple[float | None, float | None, float | None]:
    """The saving and its interval from the paired ratio (same case), else from medians."""
    ratio = r.ratio_to_baseline
    if ratio is not None and ratio.ratio is not None and r.case == base.case:
        low = 1 - ratio.high if ratio.high is not None else None
        high = 1 - ratio.low if ratio.low is not None else None
        return 1 - ratio.ratio, low, high
    time, base_time = (x.time.median_ms if x.time else None for x in (r, base))
    return (1 - time / base_time if time and base_time else None), None, None


def measured(records: list[Record]) -> list[Point]:
    """mobius (k = 0) and mobius-double (k from its config) against the baseline measured in
    the same case (else in a case of the same shape): memory by the allocator's peak (or
    the CPU proxy), time by the paired ratio of medians (or the medians). Eager runs on
    one process only: another mode is another cost."""
    ok = [r for r in records if r.status == "ok" and r.case.mode == "eager"]
    ok = [r for r in ok if r.case.world_size == 1]
    by_case = {r.case: r for r in ok if r.variant.baseline}
    by_setting = {_setting(r): r for r in ok if r.variant.baseline and r.case.rejoin is None}
    points = []
    for r in ok:
        base = by_case.get(r.case) or by_setting.get(_setting(r))
        if r.variant.name not in (SINGLE, REJOINING) or base is None:
            continue
        mem, base_mem = measured_memory(r), measured_memory(base)
        time, low, high = _time_saving(r, base)
        if not (mem and base_mem) or time is None:
            continue
        k = 0 if r.variant.name == SINGLE else rejoin_of(r.config)
        points.append(
            Point(k, 1 - mem / base_mem, time, True, r.case.key, shape_of(r.case), low, high)
        )
    return points


def panels(sweeps: list[Sweep], points: list[Point]) -> list[Panel]:
    """A panel per sweep; measured points join the sweep of their shape, else one of their
    preset, else a panel of their own."""
    out = [Panel(p[0].shape, predicted=p) for p in (predicted(s) for s in sweeps) if p]
    for shape in dict.fromkeys(p.shape for p in points):
        group = [p for p in points if p.shape == shape]
        same = [panel for panel in out if panel.shape == shape]
        kin = [panel for panel in out if panel.preset == shape.split("-")[0]]
        home = (same or kin or [None])[0]
        if home is None:
            home = Panel(shape)
            out.append(home)
        home.measured += group
    return out


def gains(record: ConvergeRecord) -> list[Gain]:
    """The temporal gain of each mobius entry of a converge run that carries its k."""
    overall = {v.variant: v.text for v in record.verdicts if v.measure == "overall"}
    found = []
    for name, s in record.variants.items():
        if s.rejoin is None:
            continue
        g = s.temporal_gain
        found.append(Gain(s.rejoin, name, g.mean, g.low, g.high, overall.get(name, "")))
    return found


def _chosen(points: list[Point], k: int) -> Point | None:
    """The measured point at k: from a case run at that depth (beside its own baseline)
    where there is one, else the first."""
    at_k = [p for p in points if p.k == k]
    return next((p for p in at_k if p.case.endswith(f"-k{k}")), at_k[0] if at_k else None)


def k_table(panel: Panel) -> str:
    """A row per k: the dry run's savings and verdicts, then the measured ones."""
    rows = []
    for k in sorted({p.k for p in panel.predicted + panel.measured}):
        guess = next((p for p in panel.predicted if p.k == k), None)
        row: dict[str, Any] = {"k": k}
        if panel.predicted:
            row |= _columns(guess, "dry run", "time (FLOPs)")
        if panel.measured:
            seen = _chosen(panel.measured, k)
            row |= _columns(seen, "measured", "time")
            row["measured in"] = seen.case if seen else ""
        rows.append(row)
    return table(rows)


def _columns(p: Point | None, source: str, time_name: str) -> dict[str, str]:
    names = [f"{source}: {n}" for n in ("memory", "vs 24%", time_name, "vs 12%", "both")]
    if p is None:
        return dict.fromkeys(names, "")
    memory = verdict_value(p.memory_saving, MEMORY_CLAIM)
    time = verdict_value(p.time_saving, TIME_CLAIM)
    if p.time_low is not None and p.time_high is not None:
        time = verdict_interval(p.time_low, p.time_high, TIME_CLAIM)
    values = [
        number(p.memory_saving, "{:+.1%}"),
        memory,
        number(p.time_saving, "{:+.1%}"),
        time,
        "yes" if memory == time == "PASS" else "no",
    ]
    return dict(zip(names, values, strict=True))


def gain_table(record: ConvergeRecord, found: list[Gain]) -> str:
    """A row per mobius entry of a converge run: k, temporal gain, verdict; serial first."""
    reference = record.variants[record.baseline_variant].temporal_gain.text()
    rows: list[dict[str, Any]] = [
        {"k": "", "entry": record.baseline_variant, "temporal gain [95%]": reference,
         "verdict": "(the reference)"}
    ]  # fmt: skip
    for g in sorted(found, key=lambda g: (g.k, g.entry)):
        interval = f"{g.mean:+.1%} [{g.low:+.1%}, {g.high:+.1%}]"
        rows.append({"k": g.k, "entry": g.entry, "temporal gain [95%]": interval,
                     "verdict": g.verdict})  # fmt: skip
    return table(rows)
