"""The typed record: one case and variant, every figure, checked when read back.

The runner builds a `Record`; a pytest-benchmark JSON carries its `to_dict()` in
`extra_info`; every reader gets it back with `Record.from_dict()`, which checks the schema
version and every field's type, with a one-line `RecordError` naming the field. A dry
run's row is a `DryRecord`, and a dry-run file a `DryRun`. Imports no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

from mobius_core.measure.results import (
    EXACT,
    CompileResult,
    DistributedResult,
    EfficiencyResult,
    EnergyResult,
    FlopsResult,
    MemoryResult,
    OverheadResult,
    ParamCounts,
    RatioResult,
    RecordError,
    Result,
    SavedResult,
    TimeResult,
    Versioned,
    build,
    figure,
)

SCHEMA = "mobius-bench/2"
DRY_RUN_SCHEMA = "mobius-bench-dryrun/2"
DTYPES = ("fp32", "bf16", "fp16")  # the one spelling of a dtype in every JSON
OK, OOM, ERROR, INTERRUPTED = "ok", "oom", "error", "interrupted"
STATUSES = (OK, OOM, ERROR, INTERRUPTED)
MODES = ("eager", "compile", "ddp", "fsdp")  # how the matched step is executed
T = TypeVar("T", bound="Result")

__all__ = ["Case", "DryRecord", "DryRun", "Record", "RecordError", "VariantInfo", "case_key"]


def case_key(
    preset: str,
    batch: int,
    frames: int,
    resolution: int,
    dtype: str,
    rejoin: int | None = None,
    mode: str = "eager",
    world_size: int = 1,
    compile_mode: str | None = None,
) -> str:
    """The one name of a case, e.g. `sd15-b1-f16-r256-bf16`: the same for a measured case
    and the dry run that predicts it (the device is a column of its own). A set rejoin depth,
    a mode other than eager and a world size over 1 add `-k3`, `-ddp`, `-w2`; a compile mode
    other than torch's default follows the mode (`-compile-max-autotune`)."""
    key = f"{preset}-b{batch}-f{frames}-r{resolution}-{dtype}"
    key += f"-k{rejoin}" if rejoin is not None else ""
    key += f"-{mode}" if mode != "eager" else ""
    key += f"-{compile_mode}" if compile_mode is not None else ""
    return key + (f"-w{world_size}" if world_size > 1 else "")


@dataclass(frozen=True)
class Case:
    """A shape and its run settings; each variant of it gives one record."""

    preset: str
    batch: int
    frames: int
    resolution: int
    dtype: str  # fp32, bf16 or fp16
    device: str  # cpu, cuda, or meta for a dry run
    rounds: int = 0  # timed rounds (0 in a dry run)
    warmup: int = 0
    rejoin: int | None = None  # mobius-double's return bridges (None: the preset's, all)
    mode: str = "eager"  # eager, compile, ddp or fsdp
    world_size: int = 1  # processes of a ddp or fsdp run
    unet: str | None = None  # the user's diffusers UNet (None: random weights)
    motion_adapter: str | None = None  # the user's MotionAdapter, with `unet`
    compile_mode: str | None = None  # torch.compile's mode under `compile` (None: default)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise RecordError(f"dtype: unknown dtype {self.dtype!r}; choose from {list(DTYPES)}")
        if self.mode not in MODES:
            raise RecordError(f"mode: unknown mode {self.mode!r}; choose from {list(MODES)}")
        if self.world_size < 1:
            raise RecordError(f"world_size: must be positive, got {self.world_size}")
        if self.compile_mode is not None and self.mode != "compile":
            raise RecordError(f"compile_mode: {self.compile_mode!r} needs mode 'compile'")

    @property
    def key(self) -> str:
        return case_key(
            self.preset,
            self.batch,
            self.frames,
            self.resolution,
            self.dtype,
            self.rejoin,
            self.mode,
            self.world_size,
            self.compile_mode,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}

    @classmethod
    def from_dict(cls, data: Any, where: str = "case") -> Case:
        return build(cls, data, where)


@dataclass(frozen=True)
class VariantInfo:
    """What a report needs of a variant's spec, carried in its record."""

    name: str
    label: str = ""
    colour: str = "tab:gray"
    baseline: bool = False  # the variant every other is set against

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "variant") -> VariantInfo:
        return build(cls, data, where)


@dataclass
class Record(Versioned):
    """One variant of one measured case: a figure per tracker, each absent with a reason."""

    case: Case
    variant: VariantInfo
    status: str  # ok, oom, error or interrupted
    message: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    params: ParamCounts | None = None
    time: TimeResult | None = None
    memory: MemoryResult | None = None
    saved: SavedResult | None = None
    flops: FlopsResult | None = None
    energy: EnergyResult | None = None
    efficiency: EfficiencyResult | None = None
    overhead: OverheadResult | None = None
    ratio_to_baseline: RatioResult | None = None  # step time, paired interleaved rounds
    compile: CompileResult | None = None  # torch.compile's cost, under `--mode compile`
    distributed: DistributedResult | None = None  # ddp and fsdp: ranks, collectives
    pytest_benchmark_median_ms: float | None = figure("ms", "pytest_benchmark_median_ms")
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordError(f"status: {self.status!r} is not one of {list(STATUSES)}")

    @property
    def key(self) -> tuple[str, str]:
        return self.case.key, self.variant.name

    def row(self) -> dict[str, Any]:
        """A flat table row: the case's columns, then every figure's column."""
        return {
            **_case_columns(self.case, self.variant, self.status, self.message),
            **_values(self),
        }


@dataclass
class StateBytes(Result):
    """Bytes of the states a step holds: weights, gradients, AdamW state (predicted)."""

    parameters: int | None = figure("bytes", "mem_parameters", EXACT)
    gradients: int | None = figure("bytes", "mem_gradients", EXACT)
    optimizer: int | None = figure("bytes", "mem_optimizer", EXACT)


@dataclass
class DryRecord(Result):
    """One variant's predicted step on the meta device."""

    case: Case
    variant: VariantInfo
    attention: str  # fused (what CUDA's flash/efficient kernels save) or math
    params: ParamCounts
    flops: FlopsResult
    saved: SavedResult
    states: StateBytes
    ratio_to_baseline: dict[str, float] = field(default_factory=dict)
    status: str = OK
    per_rank: StateBytes | None = None  # under FSDP sharding over case.world_size ranks
    # the most bytes alive at once over the step, optimizer update included (`measure.live_bytes`)
    peak: int | None = figure("bytes", "peak_predicted", EXACT)

    @property
    def key(self) -> tuple[str, str]:
        return self.case.key, self.variant.name

    @property
    def predicted_peak(self) -> int:
        """The dry run's figure for the peak: the simulated allocator's (`peak`). Files
        written before it was recorded (2026-11-28) hold only its parts: for them, weights,
        AdamW state and the larger of the saved bytes and the gradients."""
        if self.peak is not None:
            return self.peak
        s = self.states
        saved, grads = self.saved.bytes or 0, s.gradients or 0
        return (s.parameters or 0) + (s.optimizer or 0) + max(saved, grads)

    def row(self) -> dict[str, Any]:
        columns = _case_columns(self.case, self.variant, self.status, None)
        return {**columns, **_values(self), "peak_predicted": self.predicted_peak}


@dataclass
class DryRun(Versioned):
    """A dry-run file: the config it predicts for and a record per variant."""

    NAME: ClassVar[str] = "dry run"

    config: dict[str, Any]
    dtype: str
    attention: str
    records: list[DryRecord]
    schema: str = DRY_RUN_SCHEMA


def _case_columns(
    case: Case, variant: VariantInfo, status: str, message: str | None
) -> dict[str, Any]:
    return {
        "case": case.key,
        "preset": case.preset,
        "batch": case.batch,
        "frames": case.frames,
        "resolution": case.resolution,
        "dtype": case.dtype,
        "device": case.device,
        "rejoin": case.rejoin,
        "mode": case.mode,
        "world_size": case.world_size,
        "variant": variant.name,
        "status": status,
        "message": message,
    }


def _values(result: Result) -> dict[str, Any]:
    return {name: value for name, (value, _) in result.columns().items()}


def figure_meta(result: Result) -> dict[str, dict[str, Any]]:
    """Column name -> metadata (unit, compare) of every figure `result` has a column for."""
    return {name: meta for name, (_, meta) in result.columns().items()}
