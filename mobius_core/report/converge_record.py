"""The converge record: every fine-tune's curves, the gains per seed, intervals and verdicts.

`build_record` turns what `training.converge` returns into a `ConvergeRecord`; the JSON
carries its `to_dict()`, and `ConvergeRecord.from_dict()` checks the schema and every
field's type when it is read back. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from mobius_core.measure.results import Result, Versioned
from mobius_core.report import converge_stats as stats
from mobius_core.report.record import Case, VariantInfo

SCHEMA = "mobius-bench-converge/1"
MEASURES = {"overall": "temporal_gain", "high-noise": "temporal_gain_high"}
T = TypeVar("T", bound="ConvergeRecord")


@dataclass
class Curve(Result):
    """One fine-tune: training loss and time per step, validation loss every few steps."""

    variant: str
    seed: int
    coherent: bool  # False: the control, trained on incoherent clips
    train_loss: list[float]
    step_seconds: list[float]
    eval_steps: list[int]
    eval_seconds: list[float]  # timed training up to each validation
    eval_loss: list[float]
    eval_high: list[float]
    eval_bands: dict[str, list[float]]


@dataclass
class Losses(Result):
    overall: float
    high: float  # the high-noise half, t >= 500
    bands: dict[str, float]


@dataclass
class SeedRecord(Result):
    """One variant and seed: its fine-tune, its control, and their gains over the 2D model."""

    variant: str
    seed: int
    final_loss: float
    raw_gain: float
    control_gain: float
    temporal_gain: float  # raw gain - control gain
    raw_gain_high: float
    control_gain_high: float
    temporal_gain_high: float
    run: Curve
    control: Curve
    steps_to_serial: int | None = None  # first validation at or below serial's final loss
    seconds_to_serial: float | None = None


@dataclass
class Interval(Result):
    """A mean over seeds with its 95% t-interval."""

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Interval:
        mean, low, high, sd = stats.interval(values)
        return cls(mean, low, high, sd, len(values))

    def text(self, percent: bool = True) -> str:
        f = "{:+.1%}" if percent else "{:.4f}"
        return f"{f.format(self.mean)} [{f.format(self.low)}, {f.format(self.high)}]"


@dataclass
class VariantSummary(Result):
    """A variant's figures over seeds."""

    info: VariantInfo
    final_loss: Interval
    raw_gain: Interval
    control_gain: Interval
    temporal_gain: Interval
    temporal_gain_high: Interval
    train_seconds: float  # mean timed training of one fine-tune
    reached: int  # seeds whose fine-tune reached serial's final loss
    steps_to_serial: float | None = None  # mean over the seeds that reached it
    seconds_to_serial: float | None = None
    rejoin: int | None = None  # k of a mobius entry (mobius: 0); None for the others


@dataclass
class Verdict(Result):
    """A variant's temporal gain against the baseline variant's, paired by seed."""

    variant: str
    against: str
    measure: str  # overall or high-noise
    difference: Interval  # variant's gain - baseline's gain
    band: float  # MARGIN x the baseline's mean gain
    outcome: str  # same, less, more or inconclusive
    text: str
    seeds_needed: int | None = None


@dataclass
class ConvergeRecord(Versioned):
    """A converge run: its case and settings, stage 1, the 2D baseline, every fine-tune."""

    NAME: ClassVar[str] = "converge"

    case: Case
    settings: dict[str, Any]
    machine: dict[str, Any]
    pretrain: dict[str, Any]
    baseline: Losses
    records: list[SeedRecord]
    variants: dict[str, VariantSummary]
    verdicts: list[Verdict]
    schema: str = SCHEMA

    @property
    def baseline_variant(self) -> str:
        return next(s.info.name for s in self.variants.values() if s.info.baseline)


def _first_at_or_below(curve: Curve, target: float) -> tuple[int | None, float | None]:
    checks = zip(curve.eval_steps, curve.eval_seconds, curve.eval_loss, strict=True)
    for step, seconds, loss in checks:
        if loss <= target:
            return step, seconds
    return None, None


def seed_record(run: Curve, control: Curve, baseline: Losses, target: float) -> SeedRecord:
    """Gains of a fine-tune and its control over the 2D baseline; steps to `target`."""
    raw = stats.gain(baseline.overall, run.eval_loss[-1])
    ctl = stats.gain(baseline.overall, control.eval_loss[-1])
    raw_high = stats.gain(baseline.high, run.eval_high[-1])
    ctl_high = stats.gain(baseline.high, control.eval_high[-1])
    steps, seconds = _first_at_or_below(run, target)
    return SeedRecord(
        run.variant, run.seed, run.eval_loss[-1], raw, ctl, raw - ctl,
        raw_high, ctl_high, raw_high - ctl_high, run, control, steps, seconds,
    )  # fmt: skip


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summary(
    info: VariantInfo, records: list[SeedRecord], rejoin: int | None = None
) -> VariantSummary:
    reached = [r for r in records if r.steps_to_serial is not None]
    return VariantSummary(
        info,
        Interval.of([r.final_loss for r in records]),
        Interval.of([r.raw_gain for r in records]),
        Interval.of([r.control_gain for r in records]),
        Interval.of([r.temporal_gain for r in records]),
        Interval.of([r.temporal_gain_high for r in records]),
        sum(sum(r.run.step_seconds) for r in records) / len(records),
        len(reached),
        _mean([float(r.steps_to_serial or 0) for r in reached]),
        _mean([r.seconds_to_serial or 0.0 for r in reached]),
        rejoin,
    )


def verdict(
    variant: str, against: str, measure: str, mine: list[float], theirs: list[float]
) -> Verdict:
    """`mine` against `theirs` (gains paired by seed), within +-MARGIN of their mean; no
    verdict when their own gain's interval is not wholly above zero (nothing to match)."""
    difference = Interval.of([a - b for a, b in zip(mine, theirs, strict=True)])
    band = stats.MARGIN * abs(sum(theirs) / len(theirs))
    if Interval.of(theirs).low <= 0:
        text = f"no verdict: {against}'s own {measure} temporal gain is not above zero"
        return Verdict(variant, against, measure, difference, band, stats.NOTHING_TO_MATCH, text)
    result = stats.outcome(difference.low, difference.high, band)
    needed = None
    if result == stats.INCONCLUSIVE:
        needed = stats.seeds_needed(difference.mean, difference.sd, band, difference.n)
    text = stats.sentence(result, variant, against, needed)
    return Verdict(variant, against, measure, difference, band, result, text, needed)


def build_record(
    raw: dict[str, Any],
    case: Case,
    settings: dict[str, Any],
    machine: dict[str, Any],
    infos: list[VariantInfo],
    depths: dict[str, int | None] | None = None,
) -> ConvergeRecord:
    """The record of a converge run (`raw` as `training.converge.converge` returns it);
    `depths` gives the rejoin depth k of each mobius entry."""
    depths = depths or {}
    baseline = Losses.from_dict(raw["baseline"], "baseline")
    curves = [Curve.from_dict(c, f"curves[{i}]") for i, c in enumerate(raw["curves"])]
    by_key = {(c.variant, c.seed, c.coherent): c for c in curves}
    base = next(i.name for i in infos if i.baseline)
    seeds = sorted({c.seed for c in curves})
    records = [
        seed_record(
            by_key[(info.name, seed, True)],
            by_key[(info.name, seed, False)],
            baseline,
            by_key[(base, seed, True)].eval_loss[-1],
        )
        for info in infos
        for seed in seeds
    ]
    variants = {
        i.name: summary(i, [r for r in records if r.variant == i.name], depths.get(i.name))
        for i in infos
    }
    verdicts = [
        verdict(
            info.name,
            base,
            measure,
            [getattr(r, field) for r in records if r.variant == info.name],
            [getattr(r, field) for r in records if r.variant == base],
        )
        for info in infos
        if info.name != base
        for measure, field in MEASURES.items()
    ]
    return ConvergeRecord(
        case, settings, machine, raw["pretrain"], baseline, records, variants, verdicts
    )
