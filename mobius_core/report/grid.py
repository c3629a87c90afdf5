"""A dry-run grid: one dry run per shape over batch x frames x resolution at one preset
(`mobius-bench dry-run --grid`), what the claims map is drawn from. Imports no torch.

Each point holds the dry run's records of the baseline (serial) and the candidate (mobius)
at that shape; `prediction` reads from them the two ratios the claims are judged on:
memory as the dry run's peak (`DryRecord.predicted_peak`), and the step's FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import ClassVar

from mobius_core.measure.results import RecordError, Versioned
from mobius_core.report.record import DryRecord, DryRun

GRID_SCHEMA = "mobius-bench-grid/1"
CANDIDATE = "mobius"
Shape = tuple[int, int, int]  # (batch, frames, resolution)


@dataclass
class Grid(Versioned):
    """Dry runs of one preset and dtype at every shape of the axes' product."""

    NAME: ClassVar[str] = "dry-run grid"

    preset: str
    dtype: str
    attention: str  # fused or math, as the dry run modelled attention
    batches: list[int]
    frames: list[int]
    resolutions: list[int]
    runs: list[DryRun]  # one per shape, in the axes' product order
    schema: str = GRID_SCHEMA

    def __post_init__(self) -> None:
        wanted = list(product(self.batches, self.frames, self.resolutions))
        found = [shape_of(run) for run in self.runs]
        if sorted(found) != sorted(wanted):
            raise RecordError(f"runs: their shapes {found} are not the axes' product {wanted}")
        for run in self.runs:
            for record in run.records:
                if (record.case.preset, record.case.dtype) != (self.preset, self.dtype):
                    raise RecordError(
                        f"runs: {record.case.key} is not at {self.preset}, {self.dtype}"
                    )
            _pair(run)  # both variants there

    def at(self, shape: Shape) -> DryRun | None:
        return next((run for run in self.runs if shape_of(run) == shape), None)


@dataclass(frozen=True)
class Prediction:
    """The dry run's figures at one shape: the baseline's and the candidate's."""

    shape: Shape
    memory_ratio: float  # candidate's states + saved over the baseline's
    serial_flops: int
    mobius_flops: int

    @property
    def flop_ratio(self) -> float:
        return self.mobius_flops / self.serial_flops


def shape_of(run: DryRun) -> Shape:
    case = run.records[0].case
    return case.batch, case.frames, case.resolution


def _pair(run: DryRun) -> tuple[DryRecord, DryRecord]:
    base = next((r for r in run.records if r.variant.baseline), None)
    new = next((r for r in run.records if r.variant.name == CANDIDATE), None)
    if base is None or new is None:
        raise RecordError(f"runs: {run.records[0].case.key} lacks the baseline or {CANDIDATE}")
    if not (base.flops.total and new.flops.total and base.predicted_peak):
        raise RecordError(f"runs: {run.records[0].case.key} lacks FLOPs or bytes")
    return base, new


def prediction(run: DryRun) -> Prediction:
    """The two ratios the claims map is drawn from, at `run`'s shape."""
    base, new = _pair(run)
    assert base.flops.total is not None and new.flops.total is not None
    return Prediction(
        shape_of(run),
        new.predicted_peak / base.predicted_peak,
        base.flops.total,
        new.flops.total,
    )
